"""Tests of notebook 03 (attention): its drawings, widgets and checkers."""

import math

import numpy as np
import pytest
import torch
from einops import rearrange
from helpers import changed, texts  # tests/course/helpers.py
from matplotlib.figure import Figure

from vitlib import ViT, ViTConfig
from vitlib.course.exercise import ExerciseError
from vitlib.course.nb03_attention import (
    attention_head_widget,
    check_attention,
    check_split_heads,
    plot_head_attention,
    plot_softmax_scale,
    softmax_scale_widget,
)


def test_plot_softmax_scale_is_labelled():
    scales = np.logspace(-2, 0, 5)
    fig = plot_softmax_scale(np.full(16, 1 / 16), scales, np.linspace(4, 1, 5), np.linspace(0.1, 0.8, 5), 0.125, 64)
    assert isinstance(fig, Figure)
    labels = texts(fig)
    for words in ("key token", "attention weight", "entropy", "scale factor", "D_h = 64"):
        assert words in labels


def test_plot_head_attention_shows_each_head_and_rejects_bad_shapes():
    maps = np.random.default_rng(0).random((4, 8, 8))
    fig = plot_head_attention(np.zeros((1, 16, 16)), maps, 2, query=(1, 2), cls_weights=np.full(4, 0.1), title="t")
    heads = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(heads) == 4
    np.testing.assert_allclose(heads[2].images[0].get_array(), maps[2])  # opaque: head 2's map is the only image
    digit = np.zeros((1, 16, 16))
    digit[0, 4:12, 7:9] = 1.0  # a stroke: drawn as an outline over the weights
    outlined = plot_head_attention(digit, maps, 2, query=(1, 2))
    assert all(len(ax.images) == 1 and ax.collections for ax in outlined.axes if ax.get_title().startswith("head"))
    assert len(heads[0].patches) == 1  # the query box
    assert "[class] key gets 10%" in heads[0].get_title()
    fig = plot_head_attention(np.zeros((16, 16)), maps, 2, query=None)  # class-token query: no box
    assert all(len(ax.patches) == 0 for ax in fig.axes)
    with pytest.raises(ValueError, match="heads, G, G"):
        plot_head_attention(np.zeros((16, 16)), maps[0], 2)
    with pytest.raises(ValueError, match="does not match"):
        plot_head_attention(np.zeros((16, 16)), maps, 4)


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
        np.testing.assert_allclose(ax.images[0].get_array(), attn[1][2, h, 0, 1:].reshape(4, 4).numpy(), atol=1e-6)
    w.set(cls_query=False, row=1, col=3)
    query = 1 + 1 * 4 + 3
    np.testing.assert_allclose(heads_of(w)[1].images[0].get_array(), attn[1][2, 1, query, 1:].reshape(4, 4).numpy(),
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


def attention_ok(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return weights @ v, weights


def test_attention_correct_and_vitlib_pass(capsys):
    from vitlib.attention import scaled_dot_product_attention

    assert check_attention(attention_ok) is True
    assert check_attention(scaled_dot_product_attention) is True
    assert "is correct" in capsys.readouterr().out


def _scores(q, k):
    return q @ k.transpose(-2, -1)


@pytest.mark.parametrize("weights_fn, message", [
    (lambda q, k: _scores(q, k).softmax(-1), "1/sqrt(D_h) scale is missing"),
    (lambda q, k: (_scores(q, k) / q.shape[-1]).softmax(-1), "divided the scores by D_h"),
    (lambda q, k: (_scores(q, k) * q.shape[-1] ** 0.5).softmax(-1), "multiplied the scores by sqrt(D_h)"),
    (lambda q, k: (_scores(q, k) / q.shape[-1] ** 0.5).softmax(-2), "softmax over the wrong axis: your columns"),
    (lambda q, k: _scores(q, k).softmax(-2), "wrong axis (columns sum to 1; use dim=-1) and the 1/sqrt(D_h)"),
    (lambda q, k: (_scores(k, q) / q.shape[-1] ** 0.5).softmax(-2), "weights are transposed"),
    (lambda q, k: _scores(q, k) / q.shape[-1] ** 0.5, "the softmax is missing"),
    (lambda q, k: _scores(q, k), "scale and the softmax are both missing"),
])
def test_attention_mistakes_are_named(weights_fn, message):
    def attention(q, k, v):
        weights = weights_fn(q, k)
        return weights @ v, weights

    with pytest.raises(ExerciseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_attention(attention)


def test_attention_shape_and_order_mistakes():
    with pytest.raises(ExerciseError, match="q\\^T k instead of q k\\^T"):
        check_attention(lambda q, k, v: (v, (q.transpose(-2, -1) @ k).softmax(-1)))
    with pytest.raises(ExerciseError, match="you returned \\(weights, out\\)"):
        check_attention(lambda q, k, v: attention_ok(q, k, v)[::-1])
    with pytest.raises(ExerciseError, match="return a tuple"):
        check_attention(lambda q, k, v: attention_ok(q, k, v)[0])
    with pytest.raises(ExerciseError, match="transposed weights: out = weights @ v"):
        check_attention(lambda q, k, v: (attention_ok(q, k, v)[1].transpose(-2, -1) @ v, attention_ok(q, k, v)[1]))
    with pytest.raises(ExerciseError, match="wrong values"):  # an unrecognised mistake still says what differs
        check_attention(lambda q, k, v: (attention_ok(q, k, v)[0] * 2, attention_ok(q, k, v)[1]))


def test_split_heads_correct(capsys):
    assert check_split_heads(lambda x, h: rearrange(x, "b t (h d) -> b h t d", h=h)) is True
    assert check_split_heads(lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).transpose(1, 2)) is True
    assert "is correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda x, h: rearrange(x, "b t (d h) -> b h t d", h=h), "heads split in the wrong order"),
    (lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), "without moving an axis"),
    (lambda x, h: rearrange(x, "b t (h d) -> b t h d", h=h), "heads must come before tokens"),
    (lambda x, h: rearrange(x, "b t (h d) -> b h d t", h=h), "last two axes are swapped"),
    (lambda x, h: rearrange(x, "b t (h d) -> b h t d", d=h), "pass h=heads"),
    (lambda x, h: rearrange(x, "b t (h d) -> (b h) t d", h=h), "keep the batch and head axes separate"),
])
def test_split_heads_mistakes_are_named(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_split_heads(fn)


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_attention(attention_ok)
    check_split_heads(lambda x, h: rearrange(x, "b t (h d) -> b h t d", h=h))
    assert torch.equal(torch.rand(3), expected)
