"""vitlib.locality: the uniform reference distance, attention from position alone, the locality-seeded start."""

import pytest
import torch

from vitlib import ViT, ViTConfig, probes
from vitlib.locality import position_only_attention, seed_locality, uniform_attention_distance

CFG = ViTConfig(image_size=32, patch_size=4, in_channels=1, num_classes=5, dim=64, depth=2, heads=4, mlp_dim=64)


def fresh(seed=0):
    torch.manual_seed(seed)
    return ViT(CFG).eval()


def distances(model, images):
    _, attn = probes.run_with_attention(model, images)
    return probes.mean_attention_distance(attn, CFG.patch_size)  # (L, H)


def test_uniform_attention_distance_is_what_uniform_weights_give():
    n = 16
    uniform = torch.full((1, 2, 1 + n, 1 + n), 1 / (1 + n))
    assert uniform_attention_distance(4, 8) == pytest.approx(float(probes.mean_attention_distance(uniform, 8)[0]))
    assert uniform_attention_distance(2, 10) == pytest.approx((0 + 10 + 10 + 200 ** 0.5) / 4)


def test_seeded_start_attends_locally_and_a_standard_start_does_not():
    images = (torch.rand(8, 1, 32, 32) > 0.9).float()  # sparse strokes on black, like the fractals
    uniform = uniform_attention_distance(8, 4)
    standard = distances(fresh(), images)
    assert (standard - uniform).abs().max() < 1.5  # small random q, k: nearly uniform
    seeded = distances(seed_locality(fresh()), images)
    assert seeded.max() < uniform - 6  # every head of every layer looks near its own patch


def test_seed_locality_is_deterministic_and_keeps_everything_trainable():
    a, b = seed_locality(fresh()), seed_locality(fresh())
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
        assert p.requires_grad, name
    qkv = a.encoder.blocks[0].attn.qkv.weight
    assert torch.equal(qkv[: CFG.dim], qkv[CFG.dim : 2 * CFG.dim])  # W_q = W_k
    assert not torch.equal(qkv[: CFG.dim], seed_locality(fresh(), seed=1).encoder.blocks[0].attn.qkv.weight[: CFG.dim])


def test_position_only_attention_follows_the_position_embeddings():
    seeded = seed_locality(fresh())
    weights = position_only_attention(seeded)
    assert weights.shape == (1, CFG.heads, 64, 64)
    assert torch.allclose(weights.sum(-1), torch.ones(1, CFG.heads, 64))
    local = probes.mean_attention_distance(weights, CFG.patch_size, num_prefix_tokens=0)
    assert local.max() < uniform_attention_distance(8, 4) / 2
    standard = probes.mean_attention_distance(position_only_attention(fresh()), CFG.patch_size, num_prefix_tokens=0)
    assert (standard - uniform_attention_distance(8, 4)).abs().max() < 1


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        position_only_attention(fresh(), layer=5)
    with pytest.raises(ValueError, match="pos_embed='none'"):
        seed_locality(ViT(CFG.replace(pos_embed="none")))
    with pytest.raises(ValueError, match="temperature must be > 1"):
        seed_locality(fresh(), temperature=0.5)
