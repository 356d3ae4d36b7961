import pytest
import torch
import torch.nn.functional as F

from vitlib.embeddings import ClassToken, PositionEmbedding, resize_pos_embed, sincos_2d


def test_class_token_prepends_one_token():
    tok = ClassToken(768)
    x = torch.randn(2, 196, 768)
    z = tok(x)
    assert z.shape == (2, 197, 768)
    assert torch.equal(z[:, 1:], x)
    assert torch.equal(z[:, 0], torch.zeros(2, 768))  # zeros at init, as in the reference
    assert tok.token.requires_grad


def test_learned_position_embedding_init_and_add():
    torch.manual_seed(0)
    pe = PositionEmbedding(196, 768, kind="learned")
    assert pe.pos_embed.shape == (1, 197, 768)
    assert isinstance(pe.pos_embed, torch.nn.Parameter)
    assert abs(pe.pos_embed.std().item() - 0.02) < 0.001
    x = torch.randn(2, 197, 768)
    assert torch.equal(pe(x), x + pe.pos_embed)


def test_sincos_is_fixed_and_2d():
    pe = PositionEmbedding(16, 32, kind="sincos2d")
    assert not any(True for _ in pe.parameters())  # nothing to learn
    assert "pos_embed" not in pe.state_dict()  # regenerated, not stored
    table = pe.pos_embed[0]
    assert torch.equal(table[0], torch.zeros(32))  # class token row
    grid = table[1:].reshape(4, 4, 32)
    # the first half of the channels depends only on the row, the second half only on the column
    assert torch.allclose(grid[0, 0, :16], grid[0, 3, :16]) and not torch.allclose(grid[0, 0, :16], grid[3, 0, :16])
    assert torch.allclose(grid[0, 0, 16:], grid[3, 0, 16:]) and not torch.allclose(grid[0, 0, 16:], grid[0, 3, 16:])
    # row 0 column 0 is sin(0)=0, cos(0)=1
    assert torch.allclose(sincos_2d(4, 32)[0], torch.tensor([0.0] * 8 + [1.0] * 8 + [0.0] * 8 + [1.0] * 8))


def test_sincos_needs_dim_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(4, 30)


def test_none_adds_nothing_and_unknown_kind():
    x = torch.randn(1, 5, 8)
    assert PositionEmbedding(4, 8, kind="none")(x) is x
    with pytest.raises(ValueError, match="unknown position embedding 'relative'"):
        PositionEmbedding(4, 8, kind="relative")


def test_wrong_sequence_length_names_resize():
    with pytest.raises(ValueError, match="resize_pos_embed"):
        PositionEmbedding(4, 8)(torch.randn(1, 10, 8))


def test_resize_same_grid_is_exact_noop():
    pe = torch.randn(1, 1 + 49, 16)
    for mode in ("bilinear", "bicubic"):
        assert resize_pos_embed(pe, 7, mode=mode) is pe


def test_resize_keeps_class_token_and_interpolates_grid():
    torch.manual_seed(0)
    pe = torch.randn(1, 1 + 16, 8)
    out = resize_pos_embed(pe, 8)
    assert out.shape == (1, 1 + 64, 8)
    assert torch.equal(out[:, 0], pe[:, 0])
    # align_corners=True keeps the four corner patches exactly (bilinear, as scipy.ndimage.zoom(order=1))
    old, new = pe[0, 1:].reshape(4, 4, 8), out[0, 1:].reshape(8, 8, 8)
    for (i, j), (a, b) in {(0, 0): (0, 0), (0, 3): (0, 7), (3, 0): (7, 0), (3, 3): (7, 7)}.items():
        assert torch.allclose(new[a, b], old[i, j], atol=1e-6)


def test_resize_matches_hugging_face_convention():
    # Hugging Face: bicubic, align_corners=False, no antialias, on a (1, D, G, G) grid
    torch.manual_seed(0)
    pe = torch.randn(1, 1 + 9, 4)
    grid = pe[0, 1:].reshape(3, 3, 4).permute(2, 0, 1)[None]
    ref = F.interpolate(grid, size=(5, 5), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).reshape(25, 4)
    out = resize_pos_embed(pe, 5, mode="bicubic", align_corners=False)
    assert torch.allclose(out[0, 1:], ref, atol=1e-6)


def test_resize_linear_ramp_stays_linear():
    # a position embedding that is a linear function of (row, col) stays one after bilinear resizing
    g = torch.linspace(0, 1, 4)
    ramp = (g[:, None] + 2 * g[None, :]).reshape(1, 16, 1)
    pe = torch.cat([torch.zeros(1, 1, 1), ramp], dim=1)
    out = resize_pos_embed(pe, 7)[0, 1:, 0].reshape(7, 7)
    g7 = torch.linspace(0, 1, 7)
    assert torch.allclose(out, g7[:, None] + 2 * g7[None, :], atol=1e-6)


def test_resize_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"shape \(1, T, D\)"):
        resize_pos_embed(torch.randn(17, 8), 8)
    with pytest.raises(ValueError, match="square grid"):
        resize_pos_embed(torch.randn(1, 1 + 15, 8), 8)
