"""Tests of notebook 05 (training): its experiment runners, drawings, the training widget and the lr-schedule
checker."""

import math

import numpy as np
import pytest
import torch
from helpers import changed  # tests/course/helpers.py

from vitlib.baselines import SmallCNN
from vitlib.course import nb05_training as nb05
from vitlib.course.exercise import ExerciseError
from vitlib.course.nb05_training import (check_lr_schedule, plot_data_scale, plot_digit_patches, plot_fractal_classes,
                                         training_widget)
from vitlib.fractals import FractalDataset
from vitlib.parallel import JobError, run_in_processes
from vitlib.train import lr_at


def test_plot_data_scale_draws_accuracy_on_a_marked_zoomed_axis_and_errors_on_a_log_axis():
    acc = {"ViT": np.array([[0.94, 0.99, 0.995], [0.96, 0.99, 0.997]]),
           "CNN": np.array([[0.99, 1.0, 1.0], [0.99, 1.0, 1.0]])}
    fig = plot_data_scale([4, 16, 256], acc, test_images=1000)
    ax_acc, ax_err = fig.axes
    # lowest mean - std is 94%: the axis starts at 90% and says so, so the curves near 100% come apart
    assert ax_acc.get_ylim()[0] == 90 and "axis starts at 90%" in ax_acc.get_ylabel()
    assert ax_acc.get_xscale() == "log" and ax_err.get_xscale() == "log"
    assert "per class" in ax_acc.get_xlabel() and "accuracy" in ax_acc.get_ylabel()
    np.testing.assert_allclose(ax_acc.get_lines()[0].get_ydata(), [95, 99, 99.6])  # ViT: mean over seeds, in %
    assert ax_acc.containers[0].has_yerr  # std over seeds
    assert ax_err.get_yscale() == "log" and "error" in ax_err.get_ylabel()
    means = {line.get_label().split()[0]: line.get_ydata() for line in ax_err.get_lines() if "mean" in line.get_label()}
    np.testing.assert_allclose(means["ViT"], [5, 1, 0.4], atol=1e-9)  # 100 - accuracy, %
    np.testing.assert_allclose(means["CNN"], [1, 0.05, 0.05], atol=1e-9)  # no errors: half an image of 1,000
    with pytest.raises(ValueError, match="2 accuracies per seed for 3 sizes"):
        plot_data_scale([1, 2, 3], {"ViT": np.zeros((1, 2)), "CNN": np.zeros((1, 3))})
    low = plot_data_scale([4, 16], {"ViT": np.array([[0.3, 0.6]]), "CNN": np.array([[0.5, 0.9]])}).axes[0]
    assert low.get_ylim()[0] == 0 and "axis starts" not in low.get_ylabel()  # far from 100%: from 0


def test_plot_fractal_classes_one_column_per_class():
    x, y = FractalDataset(num_classes=4, images_per_class=2, image_size=8).tensors()
    fig = plot_fractal_classes(x, y, classes=4, per_class=2)
    assert len(fig.axes) == 8 and fig.axes[0].get_title() == "class 0" and fig.axes[3].get_title() == "class 3"
    assert fig.axes[4].get_ylabel() == "instance 1"
    with pytest.raises(ValueError, match="at least 12"):
        plot_fractal_classes(x, y, classes=4, per_class=3)


def test_sweep_epochs_and_models():
    assert nb05.sweep_epochs(40) == 200 and nb05.sweep_epochs(160) == 67  # 1 and 3 steps per epoch: 200 steps
    assert nb05.sweep_epochs(2560) == 10  # 40 steps per epoch: 10 epochs, 400 steps
    assert nb05.sweep_epochs(40, min_steps=10, min_epochs=2) == 10
    assert nb05.sweep_model("ViT", 10, 16).cfg.num_patches == 16  # the recipe's 16 tokens at 16 px
    assert isinstance(nb05.sweep_model("CNN", 10, 16), SmallCNN)
    with pytest.raises(ValueError, match="use 'ViT' or 'CNN'"):
        nb05.sweep_model("ResNet")


def test_fractal_task_holds_out_the_first_instances_and_pools_the_rest():
    (x, y), (x_test, y_test) = nb05.fractal_task(pool_per_class=3, classes=4, image_size=8, test_per_class=2)
    assert x.shape == (12, 1, 8, 8) and x_test.shape == (8, 1, 8, 8)
    assert y.tolist() == [0, 1, 2, 3] * 3 and y_test.tolist() == [0, 1, 2, 3] * 2  # balanced
    pooled = FractalDataset(num_classes=4, images_per_class=5, image_size=8)[8]  # class 0, instance 2
    assert torch.equal(x[0], pooled[0])
    assert nb05.fractal_task(pool_per_class=3, classes=4, image_size=8, test_per_class=2)[0][0] is x  # rendered once


def test_seeds_draw_their_own_training_instances():
    labels = torch.tensor([0, 1, 2] * 10)
    a, b = nb05.draw_per_class(labels, 4, seed=0), nb05.draw_per_class(labels, 4, seed=1)
    assert torch.equal(torch.bincount(labels[a]), torch.tensor([4, 4, 4])) and not torch.equal(a, b)
    assert torch.equal(a, nb05.draw_per_class(labels, 4, seed=0))


def test_data_scale_sweep_runs_every_cell_and_the_plateau_check(one_thread):
    task = dict(classes=3, image_size=8, test_per_class=2, pool_per_class=3)
    sweep = nb05.data_scale_sweep([1, 2], [0, 1], twice_as_long=[(1, 0)], min_steps=2, min_epochs=1, processes=1,
                                  **task)
    assert set(sweep.accuracy) == {"ViT", "CNN"} and sweep.accuracy["ViT"].shape == (2, 2)  # (seeds, sizes)
    assert set(sweep.longer) == {("ViT", 1, 0), ("CNN", 1, 0)} and len(sweep.runs) == 10
    first = sweep.runs[0]
    assert (first["model"], first["per_class"], first["seed"], first["steps"]) == ("ViT", 1, 0, 2)
    assert sweep.runs[-1]["min_steps"] == 4 and sweep.runs[-1]["steps"] == 4  # twice as long
    assert sweep.accuracy["CNN"][1, 0] == sweep.runs[5]["accuracy"]  # CNN, 1 per class, seed 1
    assert all(0 <= r["accuracy"] <= 1 for r in sweep.runs)
    with pytest.raises(ValueError, match="sizes must be positive integers"):
        nb05.data_scale_sweep([0, 2], [0], processes=1, **task)
    with pytest.raises(JobError, match=r"per_class must be between 1 and pool_per_class \(2\)"):
        run_in_processes(nb05.fractal_run, [dict(model="CNN", per_class=3, seed=0, pool_per_class=2)], processes=1)


def test_the_sweep_and_the_digits_runs_work_in_worker_processes():
    task = dict(classes=2, image_size=8, test_per_class=1, pool_per_class=2)
    sweep = nb05.data_scale_sweep([1], [0, 1], models=("CNN",), min_steps=1, min_epochs=1, processes=2, **task)
    assert sweep.accuracy["CNN"].shape == (2, 1)
    (history, model), = run_in_processes(nb05.train_digits, [dict(model="CNN", epochs=1)], processes=1)
    assert history.epochs == 1 and isinstance(model, SmallCNN)
    with pytest.raises(JobError, match="model must be 'ViT' or 'CNN'"):
        run_in_processes(nb05.train_digits, [dict(model="MLP")], processes=1)


def test_plot_data_scale_labels_cover_nothing():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    mean = {"ViT": [0.945, 0.989, 0.993, 0.997], "CNN": [0.993, 0.998, 0.999, 1.0]}  # notebook 05, full mode
    acc = {name: np.stack([np.array(m) - 0.01, np.minimum(np.array(m) + 0.01, 1)]) for name, m in mean.items()}
    fig = plot_data_scale([4, 16, 64, 256], acc)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        points = np.concatenate([ax.transData.transform(line.get_xydata()) for line in ax.get_lines()
                                 if len(line.get_xydata())])
        covered = any(legend.contains(x, y) for x, y in points)
        assert not covered, f"the legend covers a data point in {ax.get_title()!r}"
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
    details = " ".join(t.get_text() for ax in first.axes for t in ax.texts)
    assert "parameters" in details and "GFLOPs" in details  # the still picture shows the numbers, not only the grid
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
