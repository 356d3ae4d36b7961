"""Tests of notebook 08 (hybrid and scale): the compute drawing and widget, the FLOPs checker."""

import numpy as np
import pytest
from helpers import changed  # tests/course/helpers.py

from vitlib.cost import forward_flops, train_flops
from vitlib.course.exercise import ExerciseError
from vitlib.course.nb08_hybrid_and_scale import check_total_train_flops, compute_budget_widget, plot_accuracy_vs_compute


def test_plot_accuracy_vs_compute_log_x_one_series_per_family_and_budget_line():
    results = {"ViT": [("S", 1e12, 0.9), ("M", 4e12, 0.97)], "CNN": [("S", 2e11, 0.95)], "hybrid": []}
    fig = plot_accuracy_vs_compute(results, budget=1e12)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "FLOPs" in ax.get_xlabel()
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_xdata(), [1e12, 4e12])
    np.testing.assert_allclose(lines[0].get_ydata(), [90, 97])
    assert len(lines) == 3  # ViT, CNN, the budget line (the empty hybrid series is skipped)
    assert [t.get_text() for t in ax.texts] == ["S", "M", "S"]


def test_compute_budget_widget_moves_the_budget_and_names_the_best():
    curves = {"ViT": {"S": (np.array([1e9, 2e9]), np.array([0.5, 0.7]))},
              "CNN": {"S": (np.array([3e9, 6e9]), np.array([0.6, 0.9]))}}
    w = compute_budget_widget(curves)
    before = w.figure
    w.set(log10_budget=9.25)  # 1.8e9 FLOPs: only the ViT's first epoch fits
    assert changed(before, w.figure)
    assert "ViT</b>: 50.0%" in w.message.value and "CNN</b>: no epoch fits" in w.message.value
    w.set(log10_budget=10.0)
    assert "ViT</b>: 70.0%" in w.message.value and "CNN</b>: 90.0%" in w.message.value


def test_check_total_train_flops_names_the_forward_only_slip():
    assert check_total_train_flops(lambda cfg, n: train_flops(cfg) * n)
    with pytest.raises(ExerciseError, match="forward pass only"):
        check_total_train_flops(lambda cfg, n: forward_flops(cfg) * n)
    with pytest.raises(ExerciseError, match="one image"):
        check_total_train_flops(lambda cfg, n: train_flops(cfg))
