"""Tests of notebook 06 (inside a ViT): Figure 7 and attention maps, drawings, widgets and checkers."""

import numpy as np
import pytest
import torch
from helpers import changed, shows_error  # tests/course/helpers.py
from matplotlib.figure import Figure

from vitlib import ViT, ViTConfig, probes
from vitlib.course.exercise import ExerciseError
from vitlib.course.nb06_inside_vit import (
    attention_distance_widget,
    attention_maps_widget,
    check_head_distance,
    check_patch_attention,
    empty_patches,
    filter_pcs_widget,
    minmax_scale,
    plot_attention_distance,
    plot_attention_rollout,
    plot_filter_pcs,
    pos_similarity_widget,
)
from vitlib.finetune import at_resolution
from vitlib.patches import patch_distances

CFG = ViTConfig(image_size=16, patch_size=4, in_channels=1, num_classes=3, dim=16, depth=3, heads=2, mlp_dim=32)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    a, b = ViT(CFG).eval(), ViT(CFG).eval()
    with torch.no_grad():  # give b's position embeddings a smooth 2D structure, so the two models differ visibly
        g = CFG.grid_size
        rows, cols = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        smooth = torch.stack([torch.sin(rows.flatten() * k + cols.flatten()) for k in range(CFG.dim)], dim=1)
        b.pos_embed.pos_embed[0, 1:] = smooth.float()
    return {"a": a, "b": b}


@pytest.fixture(scope="module")
def images():
    return torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def test_minmax_scale_per_component():
    x = np.stack([np.arange(4.0), 10 * np.arange(4.0), np.ones(4)])
    out = minmax_scale(x, axis=1)
    np.testing.assert_allclose(out[0], out[1])  # scale does not matter
    np.testing.assert_allclose(out[0], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(out[2], 0.5)  # a constant component becomes mid-grey, not NaN


def test_plot_filter_pcs_draws_n_tiles_each_scaled():
    pcs = torch.randn(16, 4, 4, 1)
    fig = plot_filter_pcs(pcs, n=10, variance=np.full(16, 1 / 16))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    tiles = [t for t in ax.texts if (t.get_gid() or "").startswith("tile")]
    assert len(tiles) == 10 and tiles[0].get_text() == "PC 1 (6%)"
    canvas = ax.images[0].get_array()
    assert canvas.shape[:2] == (3 * 5, 4 * 5 - 1)  # 10 components: 3 x 4 tiles of 4 px + 1 px gaps, not 4 x 7
    first = np.asarray(canvas[1:5, 0:4])  # grey: a 2D image
    np.testing.assert_allclose(first, minmax_scale(pcs[0]).squeeze(-1), atol=1e-6)  # min-max per component
    assert first.min() == 0 and first.max() == 1
    assert np.all(np.asarray(canvas[11:15, 15:19]) == 1)  # tile 12 of 12 is blank (n = 10)
    assert plot_filter_pcs(pcs).axes[0].images[0].get_array().shape[:2] == (4 * 5, 4 * 5 - 1)  # 16: 4 x 4
    rgb = plot_filter_pcs(torch.randn(28, 8, 8, 3))
    assert len([t for t in rgb.axes[0].texts if t.get_gid()]) == 28
    assert rgb.axes[0].images[0].get_array().shape[:2] == (4 * 10, 7 * 10 - 2)  # the paper's 4 x 7
    with pytest.raises(ValueError, match="1 <= n <= 16"):
        plot_filter_pcs(pcs, n=20)
    with pytest.raises(ValueError, match="P, P, C"):
        plot_filter_pcs(torch.randn(16, 4, 4))


def test_plot_attention_distance_one_dot_per_head_per_layer():
    d = np.arange(12, dtype=float).reshape(3, 4)  # 3 layers, 4 heads
    fig = plot_attention_distance(d, patch_size=4, image_size=16)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if c.get_label().startswith("head")]
    assert len(dots) == 4 and all(len(c.get_offsets()) == 3 for c in dots)  # one dot per layer for each head
    np.testing.assert_allclose(dots[2].get_offsets()[:, 1], d[:, 2])
    assert "pixels" in ax.get_ylabel() and "depth" in ax.get_xlabel().lower()
    assert ax.get_ylim()[1] < 16 * np.sqrt(2)  # the axis spans the data (0..11 px), not up to the image diagonal
    assert any("our convention" in t.get_text() and "Appendix D.7 does not say" in t.get_text() for t in fig.texts)
    near = plot_attention_distance(np.full((3, 4), 16.5) + np.arange(4) * 0.1, 4, 32, uniform=16.5).axes[0]
    low, high = near.get_ylim()
    assert 15 < low < 16.5 < 16.8 < high < 19  # dots 0.3 px apart are spread out, and the uniform line shows
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 16.5 for line in near.lines)
    fig = plot_attention_distance(d, 4, highlight=1, compare=d / 2)
    assert len(fig.axes[0].collections) == 8 and len(fig.axes[0].lines) == 1  # hollow markers + highlighted line
    with pytest.raises(ValueError, match="head 4 does not exist"):
        plot_attention_distance(d, 4, highlight=4)


def test_plot_attention_rollout_panels_and_shape_check():
    img, roll, head = np.random.rand(16, 16), np.random.rand(4, 4), np.random.rand(4, 4)
    fig = plot_attention_rollout(img, roll, 4, head_map=head, query=(1, 2), title="t")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(" ")[0] for ax in panels] == ["input", "one", "attention", "input"]
    assert len(panels[1].patches) == 1  # the query box
    assert len(plot_attention_rollout(img, roll, 4).axes) == 4  # 3 panels + 1 colour bar
    # input x rollout: the rollout divided by its max, so the image stays visible (not min-max: the min -> black)
    flat = np.full((4, 4), 0.05)
    flat[0, 0] = 0.06
    masked = [ax for ax in plot_attention_rollout(np.ones((16, 16)), flat, 4).axes if "x rollout" in ax.get_title()]
    assert np.asarray(masked[0].images[0].get_array()).min() > 0.8
    hidden = np.zeros((4, 4), dtype=bool)
    hidden[0] = True
    fig = plot_attention_rollout(img, roll, 4, head_map=head, query=(1, 2), hidden=hidden)
    shown = fig.axes[1].images[1].get_array()
    assert np.ma.is_masked(shown) and np.all(np.ma.getmaskarray(shown)[0]) and not np.ma.getmaskarray(shown)[1:].any()
    with pytest.raises(ValueError, match="does not match"):
        plot_attention_rollout(img, roll, 8)


def test_attention_distance_per_image_averages_to_the_probe(models, images):
    with torch.no_grad():
        _, attn = models["a"](images, return_attention=True)
    per = probes.attention_distance_per_image(attn, 4)
    assert per.shape == (CFG.depth, len(images), CFG.heads)
    for renormalise in (True, False):
        per = probes.attention_distance_per_image(attn, 4, renormalise=renormalise)
        torch.testing.assert_close(per.mean(1), probes.mean_attention_distance(attn, 4, renormalise=renormalise))


def test_checkers_accept_the_answer_and_name_mistakes(capsys):
    def patch_attention(a):
        p = a[:, :, 1:, 1:]
        return p / p.sum(-1, keepdim=True)

    def head_distance(a, p):
        w = patch_attention(a[None, None])[0, 0]
        return (w * patch_distances(int(w.shape[0] ** 0.5), p)).sum(-1).mean()

    assert check_patch_attention(patch_attention) and check_head_distance(head_distance)
    with pytest.raises(ExerciseError, match="did not renormalise"):
        check_patch_attention(lambda a: a[:, :, 1:, 1:])
    with pytest.raises(ExerciseError, match="in patches"):
        check_head_distance(lambda a, p: head_distance(a, p) / p)

    def todo(*args):
        raise NotImplementedError

    assert check_patch_attention(todo) is False
    assert "not attempted yet" in capsys.readouterr().out


def test_filter_pcs_widget_slider_and_dropdown_redraw(models):
    w = filter_pcs_widget(models, components=4)
    before = w.figure
    w.controls["components"].value = 9
    assert changed(before, w.figure)
    assert len([t for t in w.figure.axes[0].texts if t.get_gid()]) == 9
    before = w.figure
    w.controls["model"].value = "b"
    assert changed(before, w.figure)
    assert "9 components explain" in w.message.value


def test_filter_pcs_widget_takes_a_weight_tensor(models):
    delta = models["b"].patch_embed.proj.weight - models["a"].patch_embed.proj.weight  # (D, C, P, P)
    w = filter_pcs_widget({"model": models["a"], "difference": delta.detach()}, components=5)
    before = w.figure
    w.controls["model"].value = "difference"
    assert changed(before, w.figure) and "of its 16 embedding filters" in w.figure.get_suptitle()
    with pytest.raises(ValueError, match="patch-embedding weight"):
        filter_pcs_widget({"bad": torch.zeros(16, 16)})


def test_filter_pcs_widget_offers_the_components_that_exist(models):
    w = filter_pcs_widget(models)
    assert w.controls["components"].max == 16  # 4 x 4 x 1 filters: 16 components, not the paper's 28
    assert w.controls["components"].value == 16 and "at most 16 principal components" in w.message.value
    wide = ViT(CFG.replace(patch_size=8, dim=32)).eval()  # 8 x 8 x 1 filters: 64 values, 28 components shown
    w = filter_pcs_widget({"wide": wide, "small": models["a"]})
    assert w.controls["components"].max == 28
    w.controls["components"].value = 20
    w.controls["model"].value = "small"
    assert shows_error(w, "at most 16 principal components")
    w.controls["components"].value = 16
    assert w.canvas.layout.display != "none" and "explain" in w.message.value


def test_pos_similarity_widget_states(models):
    bigger = at_resolution(models["b"], 24)
    none = ViT(CFG.replace(pos_embed="none"))
    w = pos_similarity_widget({"init": models["a"], "trained": models["b"], "resized": bigger, "none": none})
    before = w.figure
    w.controls["model"].value = "trained"
    assert changed(before, w.figure)
    w.controls["model"].value = "resized"
    assert "6 x 6 grid" in w.message.value
    canvas = w.figure.axes[0].images[0].get_array()
    assert canvas.shape == (6 * 7 - 1, 6 * 7 - 1)  # G x G tiles of G x G
    assert w.figure.axes[0].images[0].get_clim() == (-1, 1)
    w.controls["model"].value = "none"
    assert shows_error(w, "no position embeddings")


def test_attention_distance_widget_controls(models, images):
    w = attention_distance_widget(models, images)
    ax = w.figure.axes[0]
    heads = [c for c in ax.collections if c.get_label().startswith("head")]
    assert len(heads) == CFG.heads and len(heads[0].get_offsets()) == CFG.depth
    with torch.no_grad():
        _, attn = models["a"](images[:2], return_attention=True)
    expected = probes.mean_attention_distance(attn, 4)
    before = w.figure
    w.controls["images"].value = 2
    assert changed(before, w.figure)
    got = np.stack([c.get_offsets()[:, 1] for c in w.figure.axes[0].collections[:CFG.heads]], axis=1)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5)  # the first 2 images, averaged
    for name, value in (("head", 1), ("compare", True), ("model", "b")):
        before = w.figure
        w.controls[name].value = value
        assert changed(before, w.figure), name
    assert "Head 1:" in w.message.value


def test_attention_distance_widget_missing_head_is_a_message(models, images):
    other = ViT(CFG.replace(heads=4)).eval()
    w = attention_distance_widget({"two heads": models["a"], "four heads": other}, images[:3])
    w.controls["model"].value = "four heads"
    w.controls["head"].value = 3
    assert w.canvas.layout.display != "none"
    w.controls["model"].value = "two heads"
    assert shows_error(w, "has 2 heads")


def test_attention_maps_widget_sliders(models, images):
    w = attention_maps_widget(models["a"], images[:3], labels=torch.tensor([0, 1, 2]))
    for name, value in (("image", 2), ("layer", 3), ("head", 1), ("query", 0), ("query", -1)):
        before = w.canvas.value  # the PNG shown (the head panel is updated in place)
        w.controls[name].value = value
        assert w.canvas.value != before, name
    assert "[class]" in w.message.value
    head_panel = w.figure.axes[1]
    with torch.no_grad():
        _, attn = models["a"](images[2:3], return_attention=True)
    np.testing.assert_allclose(head_panel.images[1].get_array(), attn[2][0, 1, 0, 1:].reshape(4, 4), rtol=1e-5)
    assert not head_panel.patches[0].get_visible()  # no query box for the [class] token
    w.controls["query"].value = 5  # row 1, col 1
    assert head_panel.patches[0].get_visible() and head_panel.patches[0].get_xy() == (3.5, 3.5)
    w.controls["query"].max = 99
    w.controls["query"].value = 99
    assert shows_error(w, "query in -1..15")
    w.controls["query"].value = 3
    assert w.canvas.layout.display != "none"


def test_empty_patches_and_hiding_them(models):
    digit = torch.zeros(2, 1, 16, 16)
    digit[0, 0, 5:11, 6:9] = 1.0  # a stroke over patches (1, 1), (1, 2), (2, 1), (2, 2)
    digit[1] = 0.5 + 0.1 * torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0))  # noise: no empty patch
    empty = empty_patches(digit, 4)
    assert empty.shape == (2, 4, 4) and empty[0].sum() == 12 and not empty[0, 1:3, 1:3].any()
    assert not empty[1].any()
    w = attention_maps_widget(models["a"], digit)
    before = w.canvas.value
    w.controls["hide_empty"].value = True
    assert w.canvas.value != before and "on the 12 empty patches (75% of the patches)" in w.message.value
    rollout_panel = [ax for ax in w.figure.axes if ax.get_title().startswith("attention rollout")][0]
    assert np.ma.getmaskarray(rollout_panel.images[1].get_array()).sum() == 12


def test_widgets_reject_mismatched_images_at_build(models):
    with pytest.raises(ValueError):
        attention_maps_widget(models["a"], torch.rand(2, 1, 15, 15))


def test_plot_distance_panels_one_panel_per_model_from_zero():
    from vitlib.course.nb06_inside_vit import plot_distance_panels

    fig = plot_distance_panels({"a": torch.full((4, 3), 16.0), "b": torch.full((4, 3), 5.0)}, uniform=16.5)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert all(ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > 16.5 for ax in axes)
    assert axes[0].get_legend() is not None  # the uniform line is named once
    with pytest.raises(ValueError, match="distances is empty"):
        plot_distance_panels({}, uniform=16.5)
    with pytest.raises(ValueError, match="layers, heads"):
        plot_distance_panels({"a": torch.zeros(4)}, uniform=16.5)


def test_subspace_overlap_same_random_and_orthogonal():
    from vitlib.course.nb06_inside_vit import subspace_overlap

    eye = torch.eye(16)
    assert subspace_overlap(eye[:3], eye[:3]) == pytest.approx(1.0)
    assert subspace_overlap(eye[:3], eye[3:6]) == pytest.approx(0.0)
    rotated = torch.stack([eye[0], (eye[1] + eye[5]) / 2**0.5, eye[2]])
    assert subspace_overlap(eye[:3], rotated) == pytest.approx(2.5 / 3)
    with pytest.raises(ValueError, match="same number of components"):
        subspace_overlap(eye[:3], eye[:2])
