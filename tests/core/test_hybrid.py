"""Tests for vitlib.hybrid: the hybrid is a ViT whose token embedding is a CNN stem."""

import pytest
import torch
from einops import rearrange
from torch import nn

from vitlib import checkpoints
from vitlib.baselines import SmallResNet
from vitlib.data import load_digits
from vitlib.embeddings import ClassToken, PositionEmbedding
from vitlib.encoder import Encoder
from vitlib.finetune import freeze
from vitlib.hybrid import CNNStemEmbedding, hybrid_vit, stem_stride
from vitlib.model import ViT, ViTConfig
from vitlib.patches import PatchEmbed
from vitlib.probes import attention_rollout, run_with_attention
from vitlib.train import evaluate, fit

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small_cfg(**changes) -> ViTConfig:
    base = dict(image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=16, depth=2, heads=4, mlp_dim=32)
    return ViTConfig(**{**base, **changes})


@pytest.mark.parametrize("size", [8, 16, 32])
def test_shapes_and_stride(size):
    x = torch.rand(2, 3, size, size)
    model = hybrid_vit(small_cfg(image_size=size, in_channels=3, num_classes=7), stem_widths=(8, 16))
    assert isinstance(model, ViT) and isinstance(model.patch_embed, CNNStemEmbedding)
    assert model(x).shape == (2, 7)
    assert model.patch_embed(x).shape == (2, (size // 2) ** 2, 16) and model.cfg.num_patches == (size // 2) ** 2
    assert stem_stride((8, 16)) == 2 and stem_stride((8, 16, 32, 32)) == 8 and stem_stride([4]) == 1


def test_the_hybrid_is_vits_forward_path_with_another_embedding():
    model = hybrid_vit(small_cfg(), stem_widths=(8, 16))
    assert isinstance(model.encoder, Encoder) and isinstance(model.cls_token, ClassToken)
    assert isinstance(model.pos_embed, PositionEmbedding) and model.pos_embed.pos_embed.shape == (1, 1 + 16, 16)
    assert isinstance(model.patch_embed.stem, SmallResNet)
    logits, attn = model(torch.rand(3, 1, 8, 8), return_attention=True)
    assert logits.shape == (3, 10) and len(attn) == 2 and attn[0].shape == (3, 4, 17, 17)
    assert torch.allclose(attn[0].sum(-1), torch.ones(3, 4, 17))
    assert torch.equal(logits, torch.zeros(3, 10))  # ViT's zero-initialised head
    # the same weights with the ViT's own patch projection put back give a plain ViT: nothing else differs
    plain = ViT(small_cfg())
    hybrid_state = {k: v for k, v in model.state_dict().items() if not k.startswith("patch_embed.")}
    plain_state = {k: v for k, v in plain.state_dict().items() if not k.startswith("patch_embed.")}
    assert hybrid_state.keys() == plain_state.keys()


def test_tokens_are_the_projected_feature_map_pixels_in_raster_order():
    embed = CNNStemEmbedding(image_size=8, in_channels=1, dim=8, stem_widths=(4, 8)).eval()
    x = torch.rand(2, 1, 8, 8)
    features = embed.stem.features(x)  # (2, 8, 4, 4)
    tokens = embed(x)  # (2, 16, 8)
    row, col = 1, 3  # token index in raster order is row * W' + col
    assert torch.allclose(tokens[:, row * 4 + col], embed.proj(features[:, :, row, col]), atol=1e-6)
    assert torch.allclose(tokens, embed.proj(rearrange(features, "b c h w -> b (h w) c")))
    non_square = torch.rand(2, 8, 3, 5)  # tokens_from_features takes any feature map
    assert torch.allclose(embed.tokens_from_features(non_square)[:, 7], embed.proj(non_square[:, :, 1, 2]), atol=1e-6)


def test_what_a_vit_can_do_works_for_the_hybrid():
    model = hybrid_vit(small_cfg(num_classes=3), stem_widths=(4, 8))
    nn.init.normal_(model.head.weight)
    images = torch.rand(5, 1, 8, 8)
    logits, attn = run_with_attention(model, images, batch_size=2)
    assert logits.shape == (5, 3) and attn.shape == (2, 5, 4, 17, 17)
    assert attention_rollout(list(attn)).shape == (5, 4, 4)  # the [class] token over the 4 x 4 feature map
    model.reset_head(4)
    assert model(images).shape == (5, 4)
    freeze(model, "head")
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    gap = hybrid_vit(small_cfg(class_token=False, pool="mean", pos_embed="sincos2d", head="mlp"), stem_widths=(4, 8))
    logits, attn = gap(images, return_attention=True)
    assert logits.shape == (5, 10) and attn[0].shape == (5, 4, 16, 16)
    with pytest.raises(ValueError, match="expected 8x8 images"):
        run_with_attention(model, torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="in_channels=3"):
        model(torch.rand(1, 3, 8, 8))


def test_a_given_embedding_keeps_its_initialisation():
    torch.manual_seed(0)
    embed = CNNStemEmbedding(8, 1, 16, stem_widths=(4, 8))
    before = {k: v.clone() for k, v in embed.state_dict().items()}
    model = ViT(small_cfg(), patch_embed=embed)
    assert all(torch.equal(before[k], v) for k, v in model.patch_embed.state_dict().items())
    # and a plain ViT is initialised exactly as before the patch_embed argument existed
    torch.manual_seed(0)
    a = ViT(small_cfg())
    torch.manual_seed(0)
    b = ViT(small_cfg(), patch_embed=None)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_bad_input_names_the_fix():
    with pytest.raises(ValueError, match=r"patch_size is 4, but the stem's stride is 8 .*set patch_size=8.*use 3 stem"):
        hybrid_vit(small_cfg(image_size=32, patch_size=4), stem_widths=(8, 16, 32, 32))
    with pytest.raises(ValueError, match="always a power of 2"):
        hybrid_vit(small_cfg(image_size=12, patch_size=3), stem_widths=(8, 16))
    with pytest.raises(ValueError, match="widths"):
        hybrid_vit(small_cfg(), stem_widths=())
    with pytest.raises(ValueError, match="not divisible by the stem's stride 4"):
        CNNStemEmbedding(image_size=10, in_channels=1, dim=8, stem_widths=(4, 8, 16))
    with pytest.raises(ValueError, match=r"tokens of 2 x 2 px \(16 per image\), but cfg has patch_size 4"):
        ViT(small_cfg(patch_size=4), patch_embed=CNNStemEmbedding(8, 1, 16, stem_widths=(4, 8)))
    with pytest.raises(ValueError, match="patch_embed_norm=False"):
        ViT(small_cfg(patch_embed_norm=True), patch_embed=PatchEmbed(8, 2, 1, 16))
    with pytest.raises(ValueError, match="heads"):
        hybrid_vit(small_cfg(dim=30, heads=4), stem_widths=(4, 8))


def test_the_hybrid_learns_digits():
    x_train, y_train, x_test, y_test = load_digits()
    torch.manual_seed(0)
    model = hybrid_vit(small_cfg(dim=32, depth=1, mlp_dim=64), stem_widths=(16, 32))
    history = fit(model, (x_train, y_train), (x_test, y_test), epochs=3, lr=3e-3, batch_size=64, progress=False)
    assert history.test_acc[-1] > 0.85, history.test_acc  # chance is 0.1
    assert evaluate(model, (x_test, y_test)) == pytest.approx(history.test_acc[-1])


def test_a_hybrid_round_trips_through_fits_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = hybrid_vit(small_cfg(num_classes=3, depth=1), stem_widths=(4, 8))
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    fit(model, (x, y), (x, y), epochs=1, batch_size=6, checkpoint_dir=tmp_path, progress=False)
    payload = checkpoints.read_checkpoint(tmp_path / "last.pt")
    assert payload["model_class"] == "hybrid_vit" and payload["stem"] == {"stem_widths": [4, 8], "stem_blocks": 1}
    for name in ("best.pt", "last.pt"):
        restored = checkpoints.load(tmp_path / name)  # the ViTConfig alone does not hold the stem
        assert isinstance(restored.patch_embed, CNNStemEmbedding) and restored.cfg == model.cfg
        assert torch.equal(restored.eval()(x), model.eval()(x))
