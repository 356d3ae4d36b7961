"""Tests of notebook 08 (hybrid and scale): its models and their training, the compute drawing and widget,
the feature-map-to-tokens checker."""

import re

import numpy as np
import pytest
from einops import rearrange
from helpers import changed  # tests/course/helpers.py

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb08_hybrid_and_scale import (
    build_model,
    check_feature_map_to_tokens,
    compute_budget_widget,
    plot_accuracy_vs_compute,
    train_model,
)


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
    assert ax.get_ylim()[0] == 85 and "axis starts at 85%" in ax.get_ylabel()  # a cut accuracy axis is marked
    low = plot_accuracy_vs_compute({"ViT": [("S", 1e12, 0.3)]}).axes[0]
    assert low.get_ylim()[0] == 0 and low.get_ylabel() == "test accuracy (%)"


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


def right(features, proj):
    return proj(rearrange(features, "b c h w -> b (h w) c"))


def test_check_feature_map_to_tokens_accepts_the_right_answer_and_says_not_attempted(capsys):
    assert check_feature_map_to_tokens(right)
    assert check_feature_map_to_tokens(lambda f, proj: proj(f.flatten(2).transpose(1, 2)))  # the same, without einops
    assert "is correct" in capsys.readouterr().out

    def untouched(features, proj):
        raise NotImplementedError

    assert check_feature_map_to_tokens(untouched) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, words", [
    (lambda f, proj: proj(rearrange(f, "b c h w -> b (w h) c")), "column order: you flattened (w h)"),
    (lambda f, proj: proj(f.reshape(f.shape[0], -1, f.shape[1])), "without moving the channel axis"),
    (lambda f, proj: rearrange(f, "b c h w -> b c (h w)"), "channels-first tokens (B, C', N)"),
    (lambda f, proj: rearrange(f, "b c h w -> b (h w) c"), "not projected: apply proj"),
    (lambda f, proj: rearrange(right(f, proj), "b n d -> b d n"), "the tokens are (B, D, N)"),
    (lambda f, proj: right(f, proj)[:, :1], "shape (2, 1, 8), expected (2, 12, 8)"),
    (lambda f, proj: 2 * right(f, proj), "right shape, wrong values"),
    (lambda f, proj: None, "forget `return`"),
])
def test_check_feature_map_to_tokens_names_the_mistake(wrong, words):
    with pytest.raises(ExerciseError, match=re.escape(words)):
        check_feature_map_to_tokens(wrong)


def test_build_model_builds_each_family_and_names_wrong_sizes():
    from vitlib import ViT
    from vitlib.baselines import SmallCNN
    from vitlib.hybrid import CNNStemEmbedding

    vit = build_model("ViT", dim=32, depth=2, heads=2)
    assert isinstance(vit, ViT) and vit.cfg.dim == 32 and vit.cfg.mlp_dim == 64 and vit.cfg.patch_size == 8
    assert isinstance(build_model("CNN", widths=(8, 16)), SmallCNN)
    hybrid = build_model("hybrid", stem_widths=(8, 16, 32, 32), dim=32, depth=2, heads=2)
    assert isinstance(hybrid.patch_embed, CNNStemEmbedding)
    assert sum(p.numel() for p in hybrid.parameters()) == 58_242  # notebook 08's hybrid S
    with pytest.raises(ValueError, match="a CNN is built from widths; got dim"):
        build_model("CNN", dim=3)
    with pytest.raises(ValueError, match="family must be one of"):
        build_model("ResNet", widths=(8,))


def test_train_model_trains_the_built_model_with_the_recipe():
    history = train_model("CNN", dict(widths=(4, 8)), epochs=1, train_size=0.05)
    assert history.epochs == 1 and len(history.test_acc) == 1 and 0 <= history.test_acc[0] <= 1
    again = train_model("CNN", dict(widths=(4, 8)), epochs=1, train_size=0.05)
    assert again.test_acc == history.test_acc  # seeded: the same run twice gives the same result


def test_compute_figure_has_readable_ticks_and_the_widget_starts_among_the_final_points():
    finals = {"ViT": [("S", 3e10, 0.87), ("M", 2.4e11, 0.94), ("L", 7.7e11, 0.92)],
              "CNN": [("S", 1.5e11, 0.70), ("M", 5.9e11, 0.95), ("L", 2.3e12, 0.99)],
              "hybrid": [("S", 3.6e11, 0.98), ("M", 5.6e11, 0.98), ("L", 1.5e12, 0.99)]}
    ax = plot_accuracy_vs_compute(finals).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels[:3] == ["0.05", "0.1", "0.2"] and "TFLOPs" in ax.get_xlabel()  # 1-2-5 ticks in TFLOPs
    assert not ax.get_xticks(minor=True).size  # no crowded minor ticks
    curves = {fam: {label: (np.array([f / 2, f]), np.array([a - 0.1, a])) for label, f, a in points}
              for fam, points in finals.items()}
    w = compute_budget_widget(curves, finals)
    budget = 10 ** w.values["log10_budget"]
    flops = [f for points in finals.values() for _, f, _ in points]
    assert min(flops) < budget < max(flops)  # the still picture's budget line falls among the points
    note = [t.get_text() for t in w.figure.axes[0].texts if "best reached" in t.get_text()]
    assert note and "ViT:" in note[0]  # the still picture says which family leads, not only the message
