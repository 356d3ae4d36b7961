"""The paper's global-average-pooling variant (Appendix D.3): no class token, the patch tokens averaged,
and the final LayerNorm before or after the mean (ViTConfig.class_token / pool / final_norm)."""

import pytest
import torch
import torch.nn.functional as F

from vitlib import ViT, ViTConfig
from vitlib.cost import count_params, forward_flops
from vitlib.finetune import at_resolution


def small(**kw) -> ViTConfig:
    base = dict(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64)
    return ViTConfig(**{**base, **kw})


def randomised(cfg, seed=0) -> ViT:
    torch.manual_seed(seed)
    model = ViT(cfg).eval()
    with torch.no_grad():  # random everything, LayerNorms and head included, so nothing hides
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


def encoder_output(model, images):
    """z_L written out from the parts: (B, T, D)."""
    x = model.patch_embed(images)
    if model.cls_token is not None:
        x = model.cls_token(x)
    return model.encoder(model.pos_embed(x))[0]


def layer_norm(x, norm):
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


def test_gap_model_has_no_class_token_and_n_tokens():
    cfg = small(class_token=False, pool="mean")
    model = randomised(cfg)
    assert model.cls_token is None and cfg.num_tokens == cfg.num_patches == 16
    assert model.pos_embed.pos_embed.shape == (1, 16, 32)  # one row per patch, none for a class token
    assert not any("cls_token" in name for name in model.state_dict())
    logits, attn = model(torch.randn(2, 3, 16, 16), return_attention=True)
    assert logits.shape == (2, 5) and attn[0].shape == (2, 4, 16, 16)
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)
    assert count_params(small()) - count_params(cfg) == 32 + 32  # the class token and its E_pos row
    assert forward_flops(cfg) < forward_flops(small())


@pytest.mark.parametrize("class_token", [False, True])
def test_final_norm_before_or_after_the_mean(class_token):
    x = torch.randn(3, 3, 16, 16)
    before = randomised(small(class_token=class_token, pool="mean"), seed=1)
    after = randomised(small(class_token=class_token, pool="mean", final_norm="after_pool"), seed=1)
    z = encoder_output(before, x)
    patches = z[:, 1:] if class_token else z  # a class token, if any, is not averaged
    with torch.no_grad():
        y_before, _ = before.forward_features(x)
        y_after, _ = after.forward_features(x)
        assert torch.allclose(y_before, layer_norm(patches, before.norm).mean(1), atol=1e-5)
        assert torch.allclose(y_after, layer_norm(patches.mean(1), after.norm), atol=1e-5)
        assert (y_before - y_after).abs().max() > 0.1  # the two places are different models


def test_final_norm_place_does_not_matter_for_the_class_token():
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        a = randomised(small(), seed=2)(x)
        b = randomised(small(final_norm="after_pool"), seed=2)(x)
    assert torch.allclose(a, b, atol=1e-6)


def test_bad_combinations_are_named():
    with pytest.raises(ValueError, match="pool='cls' reads the class token, but class_token=False; use pool='mean'"):
        small(class_token=False)
    with pytest.raises(ValueError, match="unknown final_norm 'end'"):
        small(final_norm="end")


def test_gap_model_at_a_new_resolution():
    model = randomised(small(class_token=False, pool="mean", num_classes=0))
    bigger = at_resolution(model, 24)
    assert bigger.pos_embed.pos_embed.shape == (1, 36, 32)
    same = at_resolution(model, 16)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(same(x), model(x))
        assert bigger(torch.randn(1, 3, 24, 24)).shape == (1, 32)
    fixed = small(class_token=False, pool="mean", pos_embed="sincos2d")
    assert ViT(fixed).pos_embed.pos_embed.shape == (1, 16, 32)
