"""Tests of notebook 05 (training): its drawings, the training widget and the lr-schedule checker."""

import math

import numpy as np
import pytest
import torch
from helpers import changed  # tests/course/helpers.py

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb05_training import check_lr_schedule, plot_accuracy_vs_data, plot_digit_patches, training_widget
from vitlib.train import lr_at


def test_plot_accuracy_vs_data_draws_mean_and_error_bars_on_a_log_axis():
    acc = {"ViT": np.array([[0.5, 0.8, 0.95], [0.6, 0.82, 0.97]]), "CNN": np.array([0.7, 0.9, 0.98])}
    fig = plot_accuracy_vs_data([67, 135, 1347], acc)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "training images" in ax.get_xlabel() and "accuracy" in ax.get_ylabel()
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [55, 81, 96])  # ViT: mean over seeds, in percent
    assert len(ax.containers) == 2  # one errorbar container per model
    assert ax.containers[0].has_yerr and not ax.containers[1].has_yerr  # std only with several seeds
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "2 seeds" in labels[0] and labels[1] == "CNN"
    with pytest.raises(ValueError, match="3 training sizes"):
        plot_accuracy_vs_data([1, 2, 3], {"ViT": np.zeros((1, 2))})


def test_plot_accuracy_vs_data_starts_at_0_and_its_labels_cover_nothing():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    mean = {"ViT": [0.65, 0.84, 0.92, 0.98], "CNN": [0.63, 0.81, 0.95, 0.99]}  # notebook 05, full mode
    acc = {name: np.stack([np.array(m) - 0.02, np.minimum(np.array(m) + 0.02, 1)]) for name, m in mean.items()}
    fig = plot_accuracy_vs_data([67, 135, 337, 1347], acc)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert low == 0 and high >= 100  # course standard: an accuracy axis starts at 0
    assert max(ax.get_yticks()) <= 100  # no tick above 100%
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    points = np.concatenate([ax.transData.transform(line.get_xydata()) for line in ax.get_lines()])
    assert not any(legend.contains(x, y) for x, y in points), "the legend covers a data point"
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        boxes = [t.get_window_extent(renderer) for t in ticks if t.get_text()]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "tick labels collide"


def test_plot_digit_patches_draws_the_grid():
    fig = plot_digit_patches(torch.zeros(1, 32, 32), 8)
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 6  # 3 vertical + 3 horizontal lines
    assert "16 tokens" in ax.get_title()


def test_training_widget_preview_train_and_errors():
    torch.set_num_threads(1)
    w = training_widget(patch_size=8, dim=16, depth=1, heads=2, epochs=1, train_fraction=0.1)
    first = w.figure
    assert "parameters" in w.message.value and "Train" in w.message.value
    w.set(patch_size=16)  # the first slider redraws the cheap preview
    assert changed(first, w.figure) and "4 patches" in w.figure.axes[0].get_title()
    preview = w.figure
    w.button.click()  # what a user does; runs fit for 1 epoch on 10% of the data
    assert w.history is not None and w.history.epochs == 1
    assert changed(preview, w.figure)
    assert len(w.figure.axes) == 2 and "epoch" in w.figure.axes[0].get_xlabel()
    assert "done" in w.message.value and "test accuracy" in w.message.value
    # the patch-size slider offers only sizes that tile the 32-px image, and says so beside it
    assert list(w.controls["patch_size"].options) == [2, 4, 8, 16]
    assert all(32 % p == 0 for p in w.controls["patch_size"].options)
    assert "divides 32" in w.controls["patch_rule"].value
    with pytest.raises(ValueError, match="does not tile a 32-px image"):
        training_widget(patch_size=5)
    w.set(patch_size=8, dim=24, heads=5)  # heads that do not divide D: still possible, still explained
    assert "not divisible by heads 5" in w.message.value and w.canvas.layout.display == "none"
    assert w.train() is None  # Train with an invalid config: the message, no traceback
    w.set(dim=16, heads=2)
    assert w.canvas.layout.display is None and "error" not in w.message.value


def test_check_lr_schedule_accepts_lr_at_and_names_mistakes():
    assert check_lr_schedule(lr_at)
    with pytest.raises(ExerciseError, match="decays to 0"):
        check_lr_schedule(lambda s, t, lr, w, f: lr_at(s, t, lr, w, 0.0))
    with pytest.raises(ExerciseError, match="warmup starts at 0"):
        check_lr_schedule(lambda s, t, lr, w, f: lr * s / w if s < w else lr_at(s, t, lr, w, f))
    with pytest.raises(ExerciseError, match="over all total_steps"):
        check_lr_schedule(lambda s, t, lr, w, f: lr * (f + (1 - f) * (1 + math.cos(math.pi * min(s / (t - 1), 1))) / 2)
                          if s >= w else lr * (s + 1) / w)

    # the natural decay t = (step - w) / (total - w) is named, not just "wrong"
    with pytest.raises(ExerciseError, match=r"divides by \(total_steps - warmup_steps\); the formula divides by "
                                            r"\(total_steps - warmup_steps - 1\)"):
        check_lr_schedule(lambda s, t, lr, w, f: lr * (s + 1) / w if s < w else
                          lr * (f + (1 - f) * (1 + math.cos(math.pi * min((s - w) / (t - w), 1))) / 2))

    # an unknown mistake: the first step that differs, both values with enough digits, and the part
    def off_at_the_end(s, t, lr, w, f):
        return lr_at(s, t, lr, w, f) * (1.001 if s == t - 1 else 1)

    with pytest.raises(ExerciseError) as error:
        check_lr_schedule(off_at_the_end)
    message = str(error.value)
    assert "at step 99 of total_steps = 100" in message and "cosine decay" in message and "t = " in message
    got, expected = lr_at(99, 100, 1e-3, 10, 0.01) * 1.001, lr_at(99, 100, 1e-3, 10, 0.01)
    assert f"you return {got:.6g}, expected {expected:.6g}" in message and f"{got:.6g}" != f"{expected:.6g}"
    with pytest.raises(ExerciseError, match="in the warmup"):
        check_lr_schedule(lambda s, t, lr, w, f: lr_at(s, t, lr, w, f) * (1.01 if s == 1 and w else 1))

    def untouched(*args):
        raise NotImplementedError

    assert check_lr_schedule(untouched) is False
