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


def test_plot_pos_similarity_on_the_data_range_too():
    sim = pos_embed_similarity(sincos_2d(4, 16), num_prefix_tokens=0)
    fig = plot_pos_similarity(sim, title="t", data_range=True)
    paper, data = fig.axes[0].images[0], fig.axes[1].images[0]  # two panels, then their colour bars
    assert len(fig.axes) == 4 and fig.get_suptitle() == "t"
    assert paper.get_clim() == (-1, 1)
    np.testing.assert_allclose(data.get_clim(), (float(sim.min()), float(sim.max())), atol=1e-6)
    assert "-1 to 1" in fig.axes[0].get_title() and f"{float(sim.min()):.2f}" in fig.axes[1].get_title()


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


def _text_boxes(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes for t in ax.texts if t.get_text()]


@pytest.mark.parametrize("compact", [False, True])
def test_plot_architecture_draws_every_stage_and_labels_do_not_collide(compact):
    from vitlib.course.figures import ARCHITECTURE_STAGES, plot_architecture

    fig = plot_architecture(compact=compact)
    boxes = _text_boxes(fig)
    words = " ".join(text for text, _ in boxes)
    for needle in ["image", "patches", "projection", "position", "[class]", "encoder", "MSA", "MLP head", "class"]:
        assert needle in words
    assert (f"notebook {ARCHITECTURE_STAGES[-1][3]}" in words) is (not compact)  # the road map only in full
    fig_box = fig.bbox
    for i, (text_a, a) in enumerate(boxes):
        assert fig_box.contains(a.x0, a.y0) and fig_box.contains(a.x1, a.y1), f"{text_a!r} is cut off"
        for text_b, b in boxes[i + 1 :]:
            assert not a.overlaps(b), f"labels {text_a!r} and {text_b!r} collide"


def test_plot_architecture_highlights_the_stage_you_are_in():
    from matplotlib.colors import to_hex

    from vitlib.course.figures import plot_architecture

    def fills(fig):
        return [to_hex(p.get_facecolor()) for p in fig.axes[0].patches if p.get_width() > 1.5]  # the stage boxes

    plain = fills(plot_architecture())
    assert len(plain) == 7 and len(set(plain)) == 1  # no highlight: all stages alike
    marked = fills(plot_architecture(highlight="tokens", compact=True))
    assert marked[3] != marked[0] and marked.count(marked[3]) == 1  # only the 4th stage stands out
    inner = plot_architecture(highlight="attention", compact=True).axes[0].patches
    assert sum(to_hex(p.get_facecolor()) == marked[3] for p in inner) == 1  # the MSA row inside the encoder
    assert plot_architecture(highlight=["patches", "projection"]).axes[0].get_title(loc="left") == "you are here"
    with pytest.raises(ValueError, match="unknown stage"):
        plot_architecture(highlight="decoder")


def test_plot_history_with_label_smoothing_says_what_each_loss_measures():
    history = History(train_loss=[1.5, 0.8, 0.6], train_acc=[0.5, 0.8, 0.9], test_loss=[1.0, 0.4, 0.2],
                      test_acc=[0.7, 0.9, 0.95], lr=[1e-3] * 3, seconds=[1.0] * 3, label_smoothing=0.1,
                      num_classes=10)
    assert abs(history.train_loss_floor - 0.500) < 1e-3  # 0.91 and 9 x 0.01: the targets' entropy
    loss_ax, _ = plot_history(history).axes
    names = [line.get_label() for line in loss_ax.get_lines()]
    assert any("label-smoothed" in n for n in names) and any("plain cross-entropy" in n for n in names)
    assert any("lowest possible train loss" in n and "0.50" in n for n in names)
    assert list(loss_ax.get_xticks()) == [1, 2, 3]
    assert History(label_smoothing=0.0, num_classes=10).train_loss_floor == 0.0
