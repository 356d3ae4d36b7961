import pytest
import torch

from vitlib import ViT, ViTConfig
from vitlib.cost import count_params, forward_flops
from vitlib.model import PRESETS, PretrainHead
from vitlib.patches import patchify, unpatchify

# Exact counts with a 1000-class head at 224 px, as timm counts them (timm's vision_transformer.py).
EXACT_PARAMS = {
    "Ti/16": 5_717_416, "S/16": 22_050_664, "S/32": 22_878_952, "B/16": 86_567_656, "B/32": 88_224_232,
    "L/16": 304_326_632, "L/32": 306_535_400, "L/14": 304_203_752, "H/14": 632_045_800,
}


def small(**kw) -> ViTConfig:
    base = dict(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64)
    return ViTConfig(**{**base, **kw})


@pytest.mark.parametrize("name", list(EXACT_PARAMS))
def test_preset_parameter_counts_are_exact(name):
    cfg = ViTConfig.preset(name, num_classes=1000)
    with torch.device("meta"):  # count without allocating 2.5 GB for H/14
        model = ViT(cfg)
    assert sum(p.numel() for p in model.parameters()) == EXACT_PARAMS[name]
    assert count_params(cfg) == EXACT_PARAMS[name]


def test_presets_match_table_1():
    b, l, h = (ViTConfig.preset(n) for n in ("B/16", "L/16", "H/14"))
    assert (b.depth, b.dim, b.mlp_dim, b.heads) == (12, 768, 3072, 12)
    assert (l.depth, l.dim, l.mlp_dim, l.heads) == (24, 1024, 4096, 16)
    assert (h.depth, h.dim, h.mlp_dim, h.heads, h.patch_size) == (32, 1280, 5120, 16, 14)
    assert set(PRESETS) == set(EXACT_PARAMS)
    assert ViTConfig.preset("B/32", num_classes=10, image_size=384).num_patches == 144


def test_vit_b16_intermediate_shapes():
    torch.manual_seed(0)
    model = ViT(ViTConfig.preset("B/16", num_classes=1000)).eval()
    seen = {}
    model.patch_embed.register_forward_hook(lambda m, i, o: seen.update(patches=o.shape))
    model.cls_token.register_forward_hook(lambda m, i, o: seen.update(with_cls=o.shape))
    with torch.no_grad():
        logits, attn = model(torch.randn(1, 3, 224, 224), return_attention=True)
    assert seen["patches"] == (1, 196, 768)
    assert seen["with_cls"] == (1, 197, 768)
    assert logits.shape == (1, 1000)
    assert len(attn) == 12 and attn[0].shape == (1, 12, 197, 197)


def test_fast_path_equals_attention_path():
    torch.manual_seed(0)
    model = ViT(small(num_classes=7)).eval()
    torch.nn.init.normal_(model.head.weight)  # the zero head would hide differences
    x = torch.randn(4, 3, 16, 16)
    fast = model(x)
    slow, attn = model(x, return_attention=True)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert len(attn) == 2 and attn[1].shape == (4, 4, 17, 17)
    assert torch.allclose(attn[0].sum(-1), torch.ones(4, 4, 17), atol=1e-5)


def test_bf16_autocast_is_close_to_fp32():
    torch.manual_seed(0)
    model = ViT(small()).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)
    x = torch.randn(4, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), model(x), atol=0.05)


def test_without_position_embeddings_shuffling_patches_changes_nothing():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    perm = torch.randperm(16)
    shuffled = unpatchify(patchify(x, 4)[:, perm], 4)  # the same patches, in another order
    for kind, invariant in (("none", True), ("learned", False), ("sincos2d", False)):
        torch.manual_seed(0)
        model = ViT(small(pos_embed=kind)).eval()
        torch.nn.init.normal_(model.head.weight)
        same = torch.allclose(model(x), model(shuffled), atol=1e-5)
        assert same == invariant, kind


def test_determinism_with_a_seed():
    x = torch.randn(2, 3, 16, 16)
    torch.manual_seed(123)
    a = ViT(small(dropout=0.1, drop_path=0.1))
    torch.manual_seed(123)
    b = ViT(small(dropout=0.1, drop_path=0.1))
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    torch.nn.init.ones_(a.head.weight), torch.nn.init.ones_(b.head.weight)
    torch.manual_seed(7)
    ya = a.train()(x)
    torch.manual_seed(7)
    yb = b.train()(x)
    assert torch.equal(ya, yb)


def test_reference_initialisation():
    torch.manual_seed(0)
    model = ViT(small())
    assert torch.equal(model.cls_token.token, torch.zeros_like(model.cls_token.token))
    assert torch.equal(model.head.weight, torch.zeros_like(model.head.weight))  # zero-initialised head
    assert torch.equal(model.head.bias, torch.zeros_like(model.head.bias))
    assert model.encoder.blocks[0].attn.qkv.weight.abs().sum() > 0
    assert torch.equal(model(torch.randn(1, 3, 16, 16)), torch.zeros(1, 5))  # zero head, zero logits


def test_pretraining_head_and_reset_for_fine_tuning():
    torch.manual_seed(0)
    model = ViT(small(head="mlp", head_hidden_dim=24, num_classes=100))
    assert isinstance(model.head, PretrainHead)
    assert model.head.pre_logits.weight.shape == (24, 32) and isinstance(model.head.act, torch.nn.Tanh)
    y, _ = model.forward_features(torch.randn(2, 3, 16, 16))
    assert torch.allclose(model.head(y), model.head.fc(torch.tanh(model.head.pre_logits(y))))
    model.reset_head(7)
    assert isinstance(model.head, torch.nn.Linear) and model.head.weight.shape == (7, 32)
    assert model.head.weight.abs().sum() == 0 and model.cfg.num_classes == 7 and model.cfg.head == "linear"
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    assert sum(p.numel() for p in model.parameters()) == count_params(model.cfg)


def test_mean_pool_and_feature_extractor():
    torch.manual_seed(0)
    model = ViT(small(pool="mean", num_classes=0)).eval()
    x = torch.randn(2, 3, 16, 16)
    y = model(x)
    assert y.shape == (2, 32)
    tokens = model.norm(model.encoder(model.pos_embed(model.cls_token(model.patch_embed(x))))[0])
    assert torch.allclose(y, tokens[:, 1:].mean(1), atol=1e-6)


def test_seed_code_variant_and_knobs_build_and_count():
    for kw in ({"patch_embed_norm": True}, {"qkv_bias": False}, {"gelu": "tanh"}, {"pos_embed": "none"},
               {"head": "mlp"}, {"norm_eps": 1e-12}):
        cfg = small(**kw)
        model = ViT(cfg)
        assert sum(p.numel() for p in model.parameters()) == count_params(cfg), kw
        assert model(torch.randn(1, 3, 16, 16)).shape == (1, 5)
    assert ViT(small(norm_eps=1e-12)).norm.eps == 1e-12
    assert ViT(small(patch_embed_norm=True)).patch_embed.norm_in is not None


def test_flops_of_b16():
    # ViT-B/16 at 224: 17.6 G multiply-adds (the "17.6 GFLOPs" usually quoted), i.e. 35.1 G FLOPs
    assert abs(forward_flops(ViTConfig.preset("B/16")) / 2e9 - 17.56) < 0.05


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(image_size=30, patch_size=4), "image size 30 is not divisible by patch size 4; use an image size of 28 "
                                            "or 32"),
        (dict(dim=100, heads=3), "dim 100 is not divisible by heads 3; use heads in"),
        (dict(pool="max"), "unknown pool 'max'"),
        (dict(pos_embed="1d"), "unknown pos_embed '1d'"),
        (dict(gelu="relu"), "unknown gelu 'relu'"),
        (dict(depth=0), "depth must be at least 1"),
    ],
)
def test_bad_config_names_problem_and_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small(**kwargs)


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"unknown preset 'B/8'; use one of Ti/16, S/16, S/32, B/16"):
        ViTConfig.preset("B/8")


@pytest.mark.parametrize(
    "shape,message",
    [((1, 1, 16, 16), "expected 3 input channels, got 1"), ((1, 3, 32, 32), "expected 16x16 images, got 32x32")],
)
def test_forward_rejects_wrong_input(shape, message):
    with pytest.raises(ValueError, match=message):
        ViT(small())(torch.randn(*shape))
