"""Tests of the drawings notebooks share (vitlib.course.figures)."""

import numpy as np
import pytest
import torch

from vitlib.course.figures import Figure, as_hwc
from vitlib.course.nb00_introduction import plot_history
from vitlib.course.nb02_class_token_and_position import plot_maps, plot_pos_similarity
from vitlib.course.nb05_training import plot_confusion_matrix, plot_seed_bars
from vitlib.embeddings import sincos_2d
from vitlib.probes import pos_embed_similarity
from vitlib.train import History


def test_as_hwc():
    assert as_hwc(torch.zeros(3, 5, 7)).shape == (5, 7, 3)
    assert as_hwc(np.zeros((5, 7, 3))).shape == (5, 7, 3)
    assert as_hwc(np.zeros((5, 7))).shape == (5, 7, 1)
    assert as_hwc(torch.zeros(1, 8, 8)).shape == (8, 8, 1)
    with pytest.raises(ValueError, match="expected one image"):
        as_hwc(np.zeros((2, 3, 4, 5)))


def test_plot_pos_similarity():
    fig = plot_pos_similarity(pos_embed_similarity(sincos_2d(4, 16), num_prefix_tokens=0))
    ax = fig.axes[0]
    im = ax.images[0]
    assert im.get_clim() == (-1, 1)
    assert im.get_array().shape == (4 * 5 - 1, 4 * 5 - 1)  # 4 x 4 tiles with one-pixel gaps
    assert ax.get_xlabel() == "Input patch column" and ax.get_ylabel() == "Input patch row"
    assert len(fig.axes) == 2  # one colour bar
    with pytest.raises(ValueError, match=r"\(G, G, G, G\)"):
        plot_pos_similarity(np.zeros((4, 4)))


def test_plot_maps():
    fig = plot_maps(torch.linspace(-1, 1, 2 * 3 * 3).reshape(2, 3, 3), ["a", "b"], suptitle="s")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    assert all(ax.images[0].get_clim() == (-1, 1) for ax in fig.axes[:2])
    assert len(fig.axes) == 3  # two maps, one shared colour bar
    with pytest.raises(ValueError, match=r"\(K, G, G\)"):
        plot_maps(np.zeros((3, 3)))


def test_plot_seed_bars_shows_mean_std_and_each_seed():
    acc = np.array([[0.9, 0.92], [0.97, 0.99], [0.96, 0.98]])
    fig = plot_seed_bars(["none", "1D", "2D"], acc)
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert len(bars) == 3
    np.testing.assert_allclose([b.get_height() for b in bars], [91, 98, 97])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "1D", "2D"]
    assert ax.get_ylim()[0] == 0  # accuracies from 0: bar heights compare honestly
    labels = [t for t in ax.texts]
    assert [t.get_text() for t in labels] == ["91.0%\n± 1.0", "98.0%\n± 1.0", "97.0%\n± 1.0"]
    for text, bar, std in zip(labels, bars, [1, 1, 1]):  # inside the bar, well below the error bar and the dots
        assert text.get_position()[1] == bar.get_height() / 2 < bar.get_height() - std - 20
    one_seed = plot_seed_bars(["a", "b"], np.array([[0.5], [0.7]])).axes[0]
    assert [t.get_text() for t in one_seed.texts] == ["50.0%", "70.0%"]  # no "± 0.0" for one seed
    with pytest.raises(ValueError, match="one row per label"):
        plot_seed_bars(["a"], acc)


def test_plot_confusion_matrix_and_plot_history():
    history = History(train_loss=[2.0, 1.5, 1.0], train_acc=[0.2, 0.5, 0.7], test_loss=[2.1, 1.7, 1.2],
                      test_acc=[0.2, 0.4, 0.6], lr=[1e-3] * 3, seconds=[1.0] * 3)
    cm = np.array([[5, 1], [2, 8]])
    fig = plot_confusion_matrix(cm, ["cat", "dog"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class" and ax.get_title()
    assert [t.get_text() for t in ax.texts] == ["5", "1", "2", "8"]
    normalised = plot_confusion_matrix(cm, normalize=True).axes[0]
    assert [t.get_text() for t in normalised.texts] == ["0.83", "0.17", "0.20", "0.80"]
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))
    fig = plot_history(history, title="tiny ViT")
    loss_ax, acc_ax = fig.axes
    assert "loss" in loss_ax.get_title() and "accuracy" in acc_ax.get_title()
    assert loss_ax.get_xlabel() == "epoch" and acc_ax.get_ylabel() == "accuracy"
    assert len(loss_ax.lines) == 2 and list(loss_ax.lines[0].get_ydata()) == history.train_loss


# ----------------------------------------------------------------------------- checkpoints

def test_plot_history_without_test_data():
    history = History(train_loss=[2.0, 1.0], train_acc=[0.3, 0.6], test_loss=[float("nan")] * 2,
                      test_acc=[float("nan")] * 2, lr=[1e-3] * 2, seconds=[1.0] * 2)
    loss_ax, _ = plot_history(history).axes
    assert len(loss_ax.lines) == 1  # the train curve only
