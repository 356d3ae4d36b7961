"""Probes on synthetic inputs with known answers."""

import pytest
import torch
import torch.nn.functional as F

from vitlib import ViT, ViTConfig
from vitlib.embeddings import sincos_2d
from vitlib.patches import patch_distances
from vitlib.probes import (attention_maps, attention_rollout, embedding_filter_pcs, mean_attention_distance,
                           pos_embed_similarity)

G, P = 4, 8  # a 4x4 grid of 8-pixel patches
T = 1 + G * G


def identity_attention(b=2, h=3):
    return torch.eye(T).expand(b, h, T, T).clone()


def uniform_attention(b=2, h=3):
    return torch.full((b, h, T, T), 1.0 / T)


def test_patch_distances():
    d = patch_distances(2, 16)
    assert d.shape == (4, 4)
    assert d[0, 1] == 16 and d[0, 2] == 16 and torch.isclose(d[0, 3], torch.tensor(16 * 2**0.5))
    assert torch.all(d.diagonal() == 0)


def test_identity_attention_has_distance_zero():
    assert torch.equal(mean_attention_distance(identity_attention(), P), torch.zeros(3))


def test_uniform_attention_is_the_mean_distance():
    expected = patch_distances(G, P).mean()
    got = mean_attention_distance(uniform_attention(), P)
    assert torch.allclose(got, expected.expand(3))
    # the unrenormalised convention shrinks it by the weight left on the class token
    raw = mean_attention_distance(uniform_attention(), P, renormalise=False)
    assert torch.allclose(raw, expected * (G * G) / T)


def test_renormalising_removes_the_class_token_bias():
    # head 0: 90% on [class], 10% on the right-hand neighbour; head 1: 100% on that neighbour
    attn = torch.zeros(1, 2, T, T)
    for q in range(G * G):
        r, c = divmod(q, G)
        k = 1 + r * G + (c + 1 if c + 1 < G else c - 1)  # a horizontal neighbour, P pixels away
        attn[0, 0, 1 + q, 0], attn[0, 0, 1 + q, k] = 0.9, 0.1
        attn[0, 1, 1 + q, k] = 1.0
    attn[0, :, 0, 0] = 1.0
    assert torch.allclose(mean_attention_distance(attn, P), torch.tensor([8.0, 8.0]))
    assert torch.allclose(mean_attention_distance(attn, P, renormalise=False), torch.tensor([0.8, 8.0]))


def test_list_of_layers_gives_layers_by_heads():
    out = mean_attention_distance([identity_attention(), uniform_attention()], P)
    assert out.shape == (2, 3) and torch.all(out[0] == 0) and torch.all(out[1] > 0)
    with pytest.raises(ValueError, match="do not form a square grid"):
        mean_attention_distance(torch.full((1, 1, 11, 11), 0.1), P)


def test_rollout_known_answers():
    # identity attention everywhere: information never flows from the patches to [class]
    assert torch.equal(attention_rollout([identity_attention()] * 3), torch.zeros(2, G, G))
    # one uniform layer: (U + I) / 2, so [class] gets 1/(2T) from every patch
    out = attention_rollout([uniform_attention()])
    assert torch.allclose(out, torch.full((2, G, G), 1 / (2 * T)))
    # rows multiply in order R = A_2 A_1: [class] attends to patch 0 in layer 2, patch 0 to patch 5 in layer 1
    a1, a2 = identity_attention(1, 1), torch.zeros(1, 1, T, T)
    a1[0, 0, 1] = 0
    a1[0, 0, 1, 1 + 5] = 1
    a2[0, 0] = torch.eye(T)
    a2[0, 0, 0] = 0
    a2[0, 0, 0, 1] = 1
    r = attention_rollout([a1, a2])[0].flatten()
    # layer 2: [class] row = (e_cls + e_p0)/2; layer 1: patch 0 row = (e_p0 + e_p5)/2
    assert torch.isclose(r[0], torch.tensor(0.25)) and torch.isclose(r[5], torch.tensor(0.25))
    with pytest.raises(ValueError, match="at least one layer"):
        attention_rollout([])


def test_attention_maps_for_a_query():
    attn = torch.rand(2, 3, T, T).softmax(-1)
    maps = attention_maps(attn, query=5)
    assert maps.shape == (2, 3, G, G)
    assert torch.equal(maps[1, 2].flatten(), attn[1, 2, 1 + 5, 1:])
    assert torch.equal(attention_maps(attn, query=-1)[0, 0].flatten(), attn[0, 0, 0, 1:])
    with pytest.raises(ValueError, match="outside the 4x4 grid"):
        attention_maps(attn, query=16)


def test_filter_pcs_recover_a_known_ramp():
    torch.manual_seed(0)
    p, c, d = 4, 3, 64
    ramp = torch.arange(p * p * c, dtype=torch.float32)
    ramp = (ramp - ramp.mean()) / (ramp - ramp.mean()).norm()  # a unit "ramp" filter
    other = torch.randn(p * p * c)
    other = other - (other @ ramp) * ramp
    other = other / other.norm()
    filters = 5 * torch.randn(d, 1) * ramp + 1 * torch.randn(d, 1) * other + 3.0  # (D, P*P*C), offset removed by PCA
    # filters are stored in patchify's (p1 p2 c) order; the conv weight is (D, C, P, P)
    weight = filters.reshape(d, p, p, c).permute(0, 3, 1, 2)
    pcs, ratio = embedding_filter_pcs(weight, n=2, return_variance=True)
    assert pcs.shape == (2, p, p, c)
    assert abs(abs(pcs[0].flatten() @ ramp) - 1) < 1e-3  # the first component is the ramp (up to sign)
    assert abs(abs(pcs[1].flatten() @ other) - 1) < 1e-3
    assert ratio[0] > 0.9 and ratio[0] > ratio[1]


def test_filter_pcs_of_a_model_and_bad_n():
    model = ViT(ViTConfig(image_size=16, patch_size=4, num_classes=2, dim=64, depth=1, heads=2, mlp_dim=8))
    assert embedding_filter_pcs(model, n=28).shape == (28, 4, 4, 3)
    with pytest.raises(ValueError, match="at most 48"):
        embedding_filter_pcs(model, n=60)


def test_pos_embed_similarity_layout_and_range():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(1, 1 + 12, 5, generator=g)[:, :10]  # class token + a 3 x 3 grid
    sim = pos_embed_similarity(pos)
    assert sim.shape == (3, 3, 3, 3)
    e = F.normalize(pos[0, 1:], dim=-1)
    for i, j, k, l in [(0, 0, 0, 0), (0, 1, 2, 0), (2, 2, 1, 0), (1, 0, 0, 1)]:
        assert torch.isclose(sim[i, j, k, l], e[3 * i + j] @ e[3 * k + l], atol=1e-6)
    assert torch.allclose(sim[range(3), :, range(3)][:, range(3), range(3)], torch.ones(3, 3), atol=1e-6)
    assert sim.min() >= -1 - 1e-6 and sim.max() <= 1 + 1e-6
    assert torch.allclose(sim, sim.permute(2, 3, 0, 1))  # symmetric


def test_pos_embed_similarity_shapes_and_models():
    table = sincos_2d(4, 16)  # (16, 16), no prefix
    assert torch.allclose(pos_embed_similarity(table, num_prefix_tokens=0),
                          pos_embed_similarity(torch.cat([torch.zeros(1, 16), table])[None]))
    cfg = ViTConfig(image_size=16, patch_size=4, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32)
    model = ViT(cfg)
    assert torch.allclose(pos_embed_similarity(model), pos_embed_similarity(model.pos_embed.pos_embed))
    with pytest.raises(ValueError, match="no position embeddings"):
        pos_embed_similarity(ViT(cfg.replace(pos_embed="none")))
    with pytest.raises(ValueError, match="square grid"):
        pos_embed_similarity(torch.randn(1, 11, 4))
    with pytest.raises(ValueError, match=r"\(1, T, D\) or \(T, D\)"):
        pos_embed_similarity(torch.randn(2, 10, 4))


def test_sincos_similarity_falls_off_with_distance():
    sim = pos_embed_similarity(sincos_2d(6, 64), num_prefix_tokens=0)
    row = sim[2, 2, 2]  # patch (2, 2) against the patches of its row
    assert row[2] == pytest.approx(1.0) and row[2] > row[3] > row[4] > row[5]


def test_pos_similarity_structure_sorts_pairs_by_how_they_relate():
    from vitlib.probes import POSITION_RELATIONS, pos_similarity_structure

    g = 4
    r, c, r2, c2 = torch.meshgrid(*[torch.arange(g)] * 4, indexing="ij")
    mirror_model = ((r == r2) & ((c == c2) | (c2 == g - 1 - c))).float()  # 1 for itself and its left-right mirror
    found = pos_similarity_structure(mirror_model)
    assert list(found) == list(POSITION_RELATIONS)
    assert found["left-right mirror"] == 1.0 and found["top-bottom mirror"] == 0.0 and found["other"] == 0.0
    # a 2D-local table: similarity falls with the grid distance
    local = torch.exp(-((r - r2).abs() + (c - c2).abs()).float())
    found = pos_similarity_structure(local)
    assert found["neighbour"] > found["same row"] > found["other"] and found["same row"] == found["same column"]
    assert found["left-right mirror"] == pytest.approx(found["top-bottom mirror"])
    with pytest.raises(ValueError, match="pos_embed_similarity"):
        pos_similarity_structure(torch.ones(2, 2, 2, 2))


def test_patch_pcs_finds_the_direction_the_patches_vary_along():
    from vitlib.probes import patch_pcs

    torch.manual_seed(0)
    ramp = torch.linspace(-1, 1, 4).expand(4, 4)  # a left-right ramp, one 4 x 4 patch
    amplitude = torch.randn(32, 1, 1, 1, 1, 1)
    images = (amplitude * ramp).expand(32, 1, 2, 2, 4, 4)  # 32 images of 2 x 2 patches, each a scaled ramp
    images = images.permute(0, 1, 2, 4, 3, 5).reshape(32, 1, 8, 8) + 0.01 * torch.randn(32, 1, 8, 8)
    pcs, ratio = patch_pcs(images, 4, n=3, return_variance=True)
    assert pcs.shape == (3, 4, 4, 1) and ratio[0] > 0.95
    assert abs(float(torch.nn.functional.cosine_similarity(pcs[0].flatten(), ramp.flatten(), dim=0))) > 0.99
    with pytest.raises(ValueError, match="multiples of patch_size"):
        patch_pcs(torch.rand(2, 1, 10, 10), 4)


def test_attention_entropy_is_one_for_uniform_and_zero_for_one_hot_attention():
    from vitlib.probes import attention_entropy

    t = 1 + 16  # [class] + a 4 x 4 grid
    uniform = torch.full((2, 3, t, t), 1.0 / t)
    assert torch.allclose(attention_entropy(uniform), torch.ones(3), atol=1e-5)
    one_hot = torch.zeros(2, 3, t, t)
    one_hot[..., 0] = 0.5  # half on [class]: dropped and renormalised away
    one_hot[..., 5] = 0.5
    assert torch.allclose(attention_entropy(one_hot), torch.zeros(3), atol=1e-5)
    two_layers = attention_entropy([uniform, one_hot])  # (L, H)
    assert two_layers.shape == (2, 3) and torch.allclose(two_layers[:, 0], torch.tensor([1.0, 0.0]), atol=1e-5)
    with pytest.raises(ValueError, match="square grid"):
        attention_entropy(torch.full((1, 1, 6, 6), 1 / 6))


def test_frozen_features_read_the_class_token_or_the_mean_patch_token():
    from vitlib.model import ViT, ViTConfig
    from vitlib.probes import frozen_features

    torch.manual_seed(0)
    model = ViT(ViTConfig(image_size=16, patch_size=4, in_channels=1, num_classes=3, dim=8, depth=1, heads=2,
                          mlp_dim=16)).eval()
    images = torch.rand(5, 1, 16, 16)
    with torch.no_grad():
        tokens, _ = model.encode(model.patch_embed(images))  # [5, 17, 8]
    assert torch.allclose(frozen_features(model, images, batch_size=2), tokens[:, 0])
    assert torch.allclose(frozen_features(model, images, batch_size=2, pool="mean"), tokens[:, 1:].mean(dim=1))
    with pytest.raises(ValueError, match="pool must be"):
        frozen_features(model, images, pool="max")
