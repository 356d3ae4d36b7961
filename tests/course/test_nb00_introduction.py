"""Tests of notebook 00 (introduction): the prediction drawing and widget, the N = HW/P^2 checker."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import pixels  # tests/course/helpers.py

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb00_introduction import check_num_patches, plot_images, plot_prediction, prediction_widget


def test_plot_prediction_and_images():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(10, generator=g), 0)
    fig = plot_prediction(torch.rand(1, 16, 16, generator=g), torch.rand(4, 4, generator=g), probs, label=3)
    assert f"prediction: {int(probs.argmax())}" in fig.axes[2].get_title()
    assert "true class: 3" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"\(G, G\)"):
        plot_prediction(torch.rand(1, 16, 16), torch.rand(16), probs)
    fig = plot_images([torch.rand(3, 8, 8), np.zeros((8, 8))], ["a", "b"], suptitle="s")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]


def test_prediction_widget_steps_through_all_images_or_the_mistakes():
    g = torch.Generator().manual_seed(0)
    n = 12
    labels = torch.arange(n) % 10
    probs = F.one_hot(labels, 10).float() * 0.9 + 0.01
    probs[[2, 7]] = F.one_hot(torch.tensor([5, 5]), 10).float() * 0.9 + 0.01  # two mistakes (labels 2, 7)
    w = prediction_widget(torch.rand(n, 1, 8, 8, generator=g), labels, probs, torch.rand(n, 4, 4, generator=g))
    before = pixels(w.figure)
    w.controls["index"].value = 3
    assert "test image 3" in w.message.value
    assert not np.array_equal(before, pixels(w.figure))
    w.controls["only_mistakes"].value = True
    assert w.controls["index"].max == 1 and "test image 2 (mistake 1 of 2)" in w.message.value
    w.controls["index"].value = 1
    assert "test image 7 (mistake 2 of 2)" in w.message.value
    assert "prediction: 5" in w.figure.axes[2].get_title()


def test_prediction_widget_without_mistakes_and_bad_input():
    labels = torch.tensor([0, 1])
    w = prediction_widget(torch.rand(2, 1, 8, 8), labels, F.one_hot(labels, 3).float(), torch.rand(2, 2, 2))
    w.controls["only_mistakes"].value = True
    assert "no mistakes" in w.message.value
    with pytest.raises(ValueError, match="need as many"):
        prediction_widget(torch.rand(2, 1, 8, 8), labels, torch.rand(3, 3), torch.rand(2, 2, 2))


def test_num_patches_right(capsys):
    assert check_num_patches(lambda size, p: (size // p) ** 2) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda size, p: size // p, "along one side"),
        (lambda size, p: (size // p) ** 2 + 1, "class] token"),
        (lambda size, p: size * size // p, "divided by P once"),
        (lambda size, p: size * size, "not pixels"),
        (lambda size, p: (size / p) ** 2, "integer division"),
        (lambda size, p: "196", "expected a number"),
        (lambda size, p: 100, r"expected N = H\*W / P\^2"),
    ],
)
def test_num_patches_mistakes(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_num_patches(answer)


def test_plot_ink_attention_puts_both_maps_beside_the_digit_and_explains_the_outline():
    from vitlib.course.nb00_introduction import plot_ink_attention

    image = torch.zeros(1, 32, 32)
    image[:, 8:24, 14:18] = 1.0  # a "1": ink in two columns of 4 x 4 patches
    attention = torch.full((8, 8), 1 / 64)
    ink = attention * 0
    ink[2:6, 3:5] = 1 / 8
    fig = plot_ink_attention(image, attention, ink, label=1, share_on_empty=0.88)
    axes = [ax for ax in fig.axes if ax.get_title()]  # the three panels (colour bars have no title)
    assert len(axes) == 3 and "88% on empty patches" in axes[1].get_title()
    assert all("cyan" in ax.get_xlabel() for ax in axes[1:])
    with pytest.raises(ValueError, match="grey image"):
        plot_ink_attention(torch.zeros(3, 32, 32), attention, ink)
