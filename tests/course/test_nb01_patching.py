"""Tests of notebook 01 (patching): the patching drawing, the patch-size widget, the patchify and E checkers."""

import numpy as np
import pytest
import torch
from einops import rearrange
from helpers import pixels  # tests/course/helpers.py

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb01_patching import check_conv_weight_to_E, check_patchify, patch_size_widget, plot_patching
from vitlib.patches import PatchEmbed, patchify


@pytest.fixture(scope="module")
def photo():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 48, 48, generator=g)  # a small stand-in for the flower: 48 = 2^4 * 3


def test_plot_patching(photo):
    fig = plot_patching(photo, 16)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("N = HW/P² = 9 patches" in t for t in titles)
    assert any("9 x 768" in t for t in titles)
    matrix_ax = [ax for ax in fig.axes if "x_p" in ax.get_title()][0]
    matrix = matrix_ax.images[0].get_array()
    assert "rows 3-5 of x_p" in matrix_ax.get_title()  # the middle grid row (row 1 of 3), not the first
    assert matrix.shape == (3, 256, 3)  # 3 rows of x_p, each P*P pixels of C values
    from vitlib.patches import patchify
    rows = patchify(photo[None], 16)[0, 3:6].numpy()  # (3, P*P*C) in (p1 p2 c) order
    assert np.allclose(matrix.reshape(3, 768), rows, atol=1e-6)  # the same numbers, in vitlib's order
    assert [t.get_text() for t in matrix_ax.get_yticklabels()] == ["3", "4", "5"]
    strip = [ax for ax in fig.axes if "in the order" in ax.get_title()][0]
    assert [t.get_text() for t in strip.get_xticklabels()] == ["3", "4", "5"]
    texts_on_image = [t.get_text() for t in fig.axes[0].texts]
    assert texts_on_image == [str(i) for i in range(9)]
    with pytest.raises(ValueError, match="not divisible"):
        plot_patching(photo, 5)


def test_patch_size_widget_slider_redraws(photo):
    w = patch_size_widget(photo, patch_size=16, max_size=24)
    assert w.ui.children and w.figure is not None
    assert "N = HW/P² = 48·48/16² = 9 patches" in w.message.value
    before, png_before = pixels(w.figure), w.canvas.value
    w.controls["patch_size"].value = 8
    assert "36 patches" in w.message.value
    assert w.canvas.value != png_before
    after = pixels(w.figure)
    assert before.shape != after.shape or not np.array_equal(before, after)
    assert any("6 x 6 grid" in ax.get_title() for ax in w.figure.axes)


def test_patch_size_widget_offers_only_the_sizes_that_tile_the_image(photo):
    w = patch_size_widget(photo, patch_size=16, max_size=24)
    assert list(w.controls["patch_size"].options) == [2, 3, 4, 6, 8, 12, 16, 24]  # the divisors of 48 up to 24
    assert "2, 3, 4, 6, 8, 12, 16, 24" in w.message.value  # the rule, stated beside the slider
    for size in (2, 24):  # every step draws a picture
        w.controls["patch_size"].value = size
        assert w.canvas.layout.display is None and f"{(48 // size) ** 2} patches" in w.message.value
    with pytest.raises(ValueError, match="does not tile a 48 x 48 image; use one of 2, 3, 4"):
        patch_size_widget(photo, patch_size=5)


def test_patchify_right(capsys):
    assert check_patchify(patchify) is True
    assert check_patchify(
        lambda x, p: rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
    ) is True
    # the same thing with reshape and permute
    def by_hand(x, p):
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # b h w p1 p2 c
        return x.reshape(b, (h // p) * (w // p), p * p * c)

    assert check_patchify(by_hand) is True


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("b c (h p1) (w p2) -> b (h w) (c p1 p2)", r"flattened in the order \(c p1 p2\).*\(p1 p2 c\)"),
        ("b c (h p1) (w p2) -> b (h w) (p2 p1 c)", r"flattened in the order \(p2 p1 c\)"),
        ("b c (h p1) (w p2) -> b (w h) (p1 p2 c)", r"column order \(w h\)"),
        ("b c (h p1) (w p2) -> b (w h) (c p1 p2)", r"column order.*and each patch is flattened in the order \(c p1 "
                                                   r"p2\)"),
        ("b c (h p1) (w p2) -> b (p1 p2 c) (h w)", r"axes are swapped"),
    ],
)
def test_patchify_mistakes(pattern, message):
    with pytest.raises(ExerciseError, match=message):
        check_patchify(lambda x, p: rearrange(x, pattern, p1=p, p2=p))


def test_patchify_wrong_shape_scale_and_hardcoding():
    with pytest.raises(ExerciseError, match=r"expected \(B, N, P\*P\*C\) = \(2, 6, 48\)"):
        check_patchify(lambda x, p: patchify(x, p)[:, :-1])
    with pytest.raises(ExerciseError, match=r"multiplied by 255"):
        check_patchify(lambda x, p: patchify(x, p) * 255)
    with pytest.raises(ExerciseError, match="hard-code"):
        check_patchify(lambda x, p: patchify(x, 4) if p == 4
                       else torch.zeros(1, (x.shape[-1] // p) ** 2, p * p * x.shape[1]))
    with pytest.raises(ExerciseError, match="expected a torch.Tensor"):
        check_patchify(lambda x, p: patchify(x, p).numpy())
    with pytest.raises(ExerciseError, match="different arrangement"):
        check_patchify(lambda x, p: patchify(x, p).flip(-1))
    with pytest.raises(ExerciseError, match="not the image's pixels"):
        check_patchify(lambda x, p: patchify(x, p) + 1)


def test_conv_weight_to_E_right():
    assert check_conv_weight_to_E(lambda w: rearrange(w, "d c p1 p2 -> (p1 p2 c) d")) is True
    assert check_conv_weight_to_E(lambda w: w.permute(2, 3, 1, 0).reshape(-1, w.shape[0])) is True


def test_conv_weight_to_E_agrees_with_patch_embed():
    embed = PatchEmbed(image_size=8, patch_size=2, in_channels=3, dim=5)
    assert torch.equal(rearrange(embed.proj.weight, "d c p1 p2 -> (p1 p2 c) d"), embed.E)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda w: w.reshape(w.shape[0], -1), r"transpose it"),
        (lambda w: w.reshape(w.shape[0], -1).T, r"rows are in \(c p1 p2\) order \(what weight.reshape"),
        (lambda w: rearrange(w, "d c p1 p2 -> (p2 p1 c) d"), r"rows are in \(p2 p1 c\) order"),
        (lambda w: w.flatten(), r"expected E of shape \(P\*P\*C, D\) = \(12, 5\)"),
        (lambda w: rearrange(w, "d c p1 p2 -> (p1 p2 c) d") * 2, r"not the conv weights rearranged"),
    ],
)
def test_conv_weight_to_E_mistakes(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_conv_weight_to_E(answer)
