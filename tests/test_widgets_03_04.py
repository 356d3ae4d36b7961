"""Widgets and plots of notebooks 03-04, driven headless: sliders redraw, invalid values give a message."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from figures import changed, pixels  # noqa: F401  (tests/figures.py)
from vitlib import ViT, ViTConfig
from vitlib.cost import count_params
from vitlib.plots import plot_head_attention, plot_softmax_scale, plot_vit_cost
from vitlib.widgets import attention_head_widget, softmax_scale_widget, vit_cost_widget


def texts(fig: Figure) -> str:
    """Every title, suptitle and axis label of a figure, joined."""
    parts = [fig.get_suptitle()]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " | ".join(parts)


# ------------------------------------------------------------------ pure plot functions


def test_plot_softmax_scale_is_labelled():
    scales = np.logspace(-2, 0, 5)
    fig = plot_softmax_scale(np.full(16, 1 / 16), scales, np.linspace(4, 1, 5), np.linspace(0.1, 0.8, 5), 0.125, 64)
    assert isinstance(fig, Figure)
    labels = texts(fig)
    for words in ("key token", "attention weight", "entropy", "scale factor", "d = 64"):
        assert words in labels


def test_plot_head_attention_shows_each_head_and_rejects_bad_shapes():
    maps = np.random.default_rng(0).random((4, 8, 8))
    fig = plot_head_attention(np.zeros((1, 16, 16)), maps, 2, query=(1, 2), cls_weights=np.full(4, 0.1), title="t")
    heads = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(heads) == 4
    np.testing.assert_allclose(heads[2].images[1].get_array(), maps[2])  # the overlay is head 2's map
    assert len(heads[0].patches) == 1  # the query box
    assert "[class] key gets 10%" in heads[0].get_title()
    fig = plot_head_attention(np.zeros((16, 16)), maps, 2, query=None)  # class-token query: no box
    assert all(len(ax.patches) == 0 for ax in fig.axes)
    with pytest.raises(ValueError, match="heads, G, G"):
        plot_head_attention(np.zeros((16, 16)), maps[0], 2)
    with pytest.raises(ValueError, match="does not match"):
        plot_head_attention(np.zeros((16, 16)), maps, 4)


def test_plot_vit_cost_is_labelled():
    fig = plot_vit_cost([5, 17, 65], [1e3, 1e4, 1e5], [1e6, 4e6, 1.6e7], [1e2, 1e3, 1e4], 17,
                        labels=["P=8", "P=4", "P=2"], title="cost")
    labels = texts(fig)
    for words in ("GFLOPs", "MiB", "sequence length", "cost"):
        assert words in labels


# ------------------------------------------------------------------ softmax scale widget (notebook 03)


def test_softmax_scale_widget_redraws_and_reports():
    w = softmax_scale_widget(d=64, tokens=16)
    assert w.figure is not None and w.canvas.value
    first, png = w.figure, w.canvas.value
    assert "0.125" in w.message.value  # s = 64^-0.5
    w.controls["exponent"].value = 0.0  # no scaling: saturated rows
    assert w.figure is not first and changed(first, w.figure) and w.canvas.value != png
    bar_heights = [p.get_height() for p in w.figure.axes[0].patches]
    assert max(bar_heights) > 0.5  # without the scale, one key takes most of the weight
    w.controls["exponent"].value = 1.0  # divide by d: nearly uniform
    assert max(p.get_height() for p in w.figure.axes[0].patches) < 0.2


def test_softmax_scale_widget_invalid_head_size_shows_a_message():
    w = softmax_scale_widget()
    good = w.figure
    for bad in (0, 1, 5000):
        w.controls["d"].value = bad
        assert "out of range" in w.message.value and "Traceback" not in w.message.value
    assert w.figure is good  # the last good figure is kept (and hidden)
    assert w.canvas.layout.display == "none"
    w.controls["d"].value = 16
    assert "out of range" not in w.message.value and w.canvas.layout.display != "none"
    assert changed(good, w.figure)


# ------------------------------------------------------------------ attention head widget (notebook 03)


@pytest.fixture(scope="module")
def tiny_vit():
    torch.manual_seed(0)
    cfg = ViTConfig(image_size=8, patch_size=2, in_channels=1, num_classes=3, dim=16, depth=2, heads=2, mlp_dim=32)
    model = ViT(cfg)
    torch.nn.init.normal_(model.head.weight)  # not all-zero logits, so predictions differ
    images = torch.rand(3, 1, 8, 8)
    return model, images


def test_attention_widget_runs_the_model_once_and_indexes(tiny_vit):
    model, images = tiny_vit
    calls = []
    hook = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        w = attention_head_widget(model, images, labels=torch.tensor([0, 1, 2]))
        first = w.figure
        w.set(image=2, layer=2, row=1, col=3)
        w.controls["cls_query"].value = True
        w.controls["shared_scale"].value = True
    finally:
        hook.remove()
    assert len(calls) == 1  # heavy work once, at build; slider moves only index
    assert changed(first, w.figure)
    with torch.no_grad():
        _, attn = model.eval()(images, return_attention=True)
    # class-token query of image 2, layer 2: each head's panel shows its row over the 16 patch keys
    heads = [ax for ax in w.figure.axes if ax.get_title().startswith("head")]
    for h, ax in enumerate(heads):
        np.testing.assert_allclose(ax.images[1].get_array(), attn[1][2, h, 0, 1:].reshape(4, 4).numpy(), atol=1e-6)
    w.set(cls_query=False, row=1, col=3)
    query = 1 + 1 * 4 + 3
    np.testing.assert_allclose(heads_of(w)[1].images[1].get_array(), attn[1][2, 1, query, 1:].reshape(4, 4).numpy(),
                               atol=1e-6)
    assert "label 2" in w.figure.get_suptitle()


def heads_of(w):
    return [ax for ax in w.figure.axes if ax.get_title().startswith("head")]


def test_attention_widget_each_control_redraws(tiny_vit):
    model, images = tiny_vit
    w = attention_head_widget(model, images)
    for name, value in [("image", 1), ("layer", 2), ("row", 0), ("col", 0), ("cls_query", True)]:
        before = w.figure
        w.controls[name].value = value
        assert w.figure is not before and changed(before, w.figure), name


def test_attention_widget_rejects_images_of_the_wrong_size(tiny_vit):
    model, _ = tiny_vit
    with pytest.raises(ValueError, match="expected 8x8 images"):
        attention_head_widget(model, torch.rand(2, 1, 16, 16))


# ------------------------------------------------------------------ cost widget (notebook 04)


def test_cost_widget_shows_the_numbers_and_redraws():
    w = vit_cost_widget()
    assert "86,567,656" in w.message.value  # ViT-B/16 at 224 px
    assert "197" in w.message.value
    first = w.figure
    w.controls["patch_size"].value = 32
    assert changed(first, w.figure)
    assert f"{count_params(ViTConfig.preset('B/32')):,}" in w.message.value
    before = w.figure
    w.controls["depth"].value = 6
    assert changed(before, w.figure)


def test_cost_widget_presets_fill_the_controls():
    w = vit_cost_widget(image_size=32, patch_size=4, dim=64, depth=2, heads=2)
    w.controls["preset"].value = "L/16"
    assert w.values == {"preset": "L/16", "image_size": 224, "patch_size": 16, "dim": 1024, "depth": 24,
                        "heads": 16, "mlp_ratio": 4.0}
    assert "304,326,632" in w.message.value
    w.controls["heads"].value = 8  # editing a control leaves the preset
    assert w.controls["preset"].value == "custom"


@pytest.mark.parametrize("control, value, message", [
    ("heads", 10, "dim 768 is not divisible by heads 10"),
    ("image_size", 30, "image size 30 is not divisible by patch size 16"),
    ("patch_size", 0, "patch_size must be at least 1, got 0"),
    ("dim", 0, "dim must be at least 1"),
])
def test_cost_widget_invalid_combinations_show_the_message(control, value, message):
    w = vit_cost_widget()
    good = w.figure
    w.controls[control].value = value
    assert message in w.message.value and "Traceback" not in w.message.value
    assert w.figure is good and w.canvas.layout.display == "none"
    w.controls[control].value = {"heads": 12, "image_size": 224, "patch_size": 16, "dim": 768}[control]
    assert "86,567,656" in w.message.value and w.canvas.layout.display != "none"
