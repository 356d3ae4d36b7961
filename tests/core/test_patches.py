import pytest
import torch
from einops import rearrange

from vitlib.patches import PatchEmbed, patchify, unpatchify


def test_patchify_shape_and_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)  # (B, C, H, W)
    p = patchify(x, 2)
    assert p.shape == (2, 6, 12)  # N = (4/2) * (6/2), P*P*C = 12
    # patch 1 is row 0, column 1 (raster order); within it, values are ordered (p1 p2 c)
    expected = torch.stack([x[0, c, r, 2 + s] for r in range(2) for s in range(2) for c in range(3)])
    assert torch.equal(p[0, 1], expected)
    # patch 3 is the first patch of the second row
    assert torch.equal(p[0, 3, ::3], x[0, 0, 2:4, 0:2].flatten())


def test_unpatchify_inverts_patchify():
    x = torch.randn(2, 3, 8, 12)
    assert torch.equal(unpatchify(patchify(x, 4), 4, grid_size=(2, 3)), x)
    y = torch.randn(1, 1, 8, 8)
    assert torch.equal(unpatchify(patchify(y, 2), 2), y)


def test_vit_b16_patch_shape():
    x = torch.randn(1, 3, 224, 224)
    assert patchify(x, 16).shape == (1, 196, 768)


@pytest.mark.parametrize("size,patch", [(30, 4), (224, 15)])
def test_patchify_rejects_indivisible_size(size, patch):
    with pytest.raises(ValueError, match=rf"image size {size} is not divisible by patch size {patch}; use"):
        patchify(torch.randn(1, 3, size, size), patch)


def test_patch_size_error_names_the_fix():
    with pytest.raises(ValueError, match="use an image size of 28 or 32"):
        PatchEmbed(image_size=30, patch_size=4)


def test_linear_form_equals_conv_form():
    torch.manual_seed(0)
    conv = PatchEmbed(32, 4, 3, 48, form="conv")
    lin = PatchEmbed(32, 4, 3, 48, form="linear")
    lin.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(conv(x), lin(x), atol=1e-5)


def test_conv_equals_patchify_then_nn_linear():
    torch.manual_seed(0)
    embed = PatchEmbed(16, 4, 3, 10)
    linear = torch.nn.Linear(4 * 4 * 3, 10)
    with torch.no_grad():
        linear.weight.copy_(rearrange(embed.proj.weight, "d c p1 p2 -> d (p1 p2 c)"))
        linear.bias.copy_(embed.proj.bias)
    x = torch.randn(3, 3, 16, 16)
    assert torch.allclose(embed(x), linear(patchify(x, 4)), atol=1e-5)
    assert embed.E.shape == (48, 10)


def test_seed_code_variant_normalises_patches():
    torch.manual_seed(0)
    embed = PatchEmbed(16, 4, 3, 10, norm=True)
    assert embed.form == "linear"
    out = embed(torch.randn(2, 3, 16, 16) * 100 + 5)
    # the output LayerNorm (weight 1, bias 0 at init) gives mean 0, variance 1 per token
    assert torch.allclose(out.mean(-1), torch.zeros(2, 16), atol=1e-4)
    assert torch.allclose(out.var(-1, unbiased=False), torch.ones(2, 16), atol=1e-3)


@pytest.mark.parametrize(
    "shape,message",
    [((2, 1, 32, 32), "expected 3 input channels, got 1"), ((2, 3, 64, 64), "expected 32x32 images, got 64x64"),
     ((3, 32, 32), r"expected images of shape \(B, C, H, W\)")],
)
def test_forward_rejects_wrong_input(shape, message):
    embed = PatchEmbed(32, 4, 3, 8)
    with pytest.raises(ValueError, match=message):
        embed(torch.randn(*shape))


def test_unknown_form():
    with pytest.raises(ValueError, match="unknown patch embedding form"):
        PatchEmbed(32, 4, form="dense")
