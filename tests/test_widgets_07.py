"""The plot and widget of notebook 07 (pretrained vs from scratch on a label budget), driven headless
with small synthetic sweep results (no training)."""

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from figures import changed, pixels  # noqa: F401  (tests/figures.py)
from vitlib.plots import plot_finetune_results
from vitlib.widgets import finetune_results_widget

BUDGETS = (2, 5, 10, 20, None)


def make_results(sizes=(32, 48), seeds=3):
    """{(init, size, budget): [accuracy per seed]} shaped like vitlib.finetune.sweep's; pretrained wins."""
    rng = np.random.default_rng(0)
    results = {}
    for size in sizes:
        for b in BUDGETS:
            base = {2: 0.5, 5: 0.7, 10: 0.8, 20: 0.88, None: 0.95}[b] - (0.03 if size == 48 else 0.0)
            for init, shift in (("pretrained", 0.04), ("scratch", -0.15)):
                results[init, size, b] = [float(np.clip(base + shift + rng.normal(0, 0.03), 0, 1))
                                          for _ in range(seeds)]
    return results


def shows_error(w, words: str) -> bool:
    return words in w.message.value and "Traceback" not in w.message.value and w.canvas.layout.display == "none"


def numbers(message: str) -> list:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d", message)]


# ------------------------------------------------------------------ plot


def test_plot_draws_both_inits_against_the_budget_and_the_chosen_cell():
    results = make_results()
    fig = plot_finetune_results(results, 32, 10)
    assert isinstance(fig, Figure) and not fig.get_constrained_layout()
    ax, ax_bar = fig.axes
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "5", "10", "20", "all"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    pretrained, scratch = lines["pretrained"], lines["from scratch"]
    np.testing.assert_allclose(pretrained.get_xdata(), [2, 5, 10, 20, 40])  # "all" at twice the largest budget
    np.testing.assert_allclose(pretrained.get_ydata(), [100 * np.mean(results["pretrained", 32, b]) for b in BUDGETS])
    np.testing.assert_allclose(scratch.get_ydata(), [100 * np.mean(results["scratch", 32, b]) for b in BUDGETS])
    marker = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(marker) == 1 and list(marker[0].get_xdata()) == [10, 10]
    assert len(ax.containers) == 2 and all(c.has_yerr for c in ax.containers)  # mean ± std, 3 seeds
    bars = [p for p in ax_bar.patches]
    np.testing.assert_allclose([b.get_height() for b in bars],
                               [100 * np.mean(results[i, 32, 10]) for i in ("pretrained", "scratch")])
    assert [t.get_text() for t in ax_bar.get_xticklabels()] == ["pretrained", "from scratch"]
    assert [t.get_text() for t in ax_bar.texts] == [f"{100 * np.mean(results[i, 32, 10]):.1f}%"
                                                    for i in ("pretrained", "scratch")]
    assert "10 labels per class" in ax_bar.get_title()


def test_plot_changes_with_the_chosen_budget_and_size():
    results = make_results()
    first = plot_finetune_results(results, 32, 10)
    assert changed(first, plot_finetune_results(results, 32, 20))
    assert changed(first, plot_finetune_results(results, 32, None))
    assert changed(first, plot_finetune_results(results, 48, 10))
    assert "all labels" in plot_finetune_results(results, 32, None).axes[1].get_title()


def test_plot_one_seed_has_no_error_bars():
    fig = plot_finetune_results(make_results(seeds=1), 32, 5, title="one seed")
    ax, ax_bar = fig.axes
    assert len(ax.containers) == 0  # no errorbar container on the left
    assert all(not getattr(c, "has_yerr", False) for c in ax_bar.containers)
    assert fig._suptitle.get_text() == "one seed"


def test_plot_missing_cell_raises_a_value_error_that_says_what_to_do():
    results = make_results()
    del results["scratch", 32, 10]
    with pytest.raises(ValueError, match="no results for from scratch with 10 labels per class at 32 px.*sweep"):
        plot_finetune_results(results, 32, 10)
    with pytest.raises(ValueError, match="no results at 40 px; the results have image sizes 32 px, 48 px"):
        plot_finetune_results(results, 40, 10)
    with pytest.raises(ValueError, match="results is empty"):
        plot_finetune_results({}, 32, 10)


# ------------------------------------------------------------------ widget


def test_widget_controls_order_and_defaults():
    w = finetune_results_widget(make_results())
    assert list(w.controls) == ["labels_per_class", "image_size"]  # the budget slider first
    budget, size = w.controls["labels_per_class"], w.controls["image_size"]
    assert budget.description == "labels/class" and not budget.continuous_update
    assert list(budget.options) == [("2", 2), ("5", 5), ("10", 10), ("20", 20), ("all", "all")]
    assert [label for label, _ in size.options] == ["32 px", "48 px"]
    assert w.values == {"labels_per_class": 10, "image_size": 32}
    assert w.ui.children[0].children[0] is budget  # first on screen too
    # without a budget of 10 the smallest is the default
    no_ten = {k: v for k, v in make_results().items() if k[2] != 10}
    assert finetune_results_widget(no_ten).values["labels_per_class"] == 2


def test_widget_message_gives_the_means_and_the_difference():
    results = make_results()
    w = finetune_results_widget(results)
    p, s = (100 * np.mean(results[i, 32, 10]) for i in ("pretrained", "scratch"))
    ps, ss = (100 * np.std(results[i, 32, 10]) for i in ("pretrained", "scratch"))
    expected = (f"10 labels per class at 32 px: pretrained {p:.1f} ± {ps:.1f}%, from scratch {s:.1f} ± {ss:.1f}% "
                f"(3 seeds): {p - s:+.1f} points")
    assert w.message.value == expected
    assert numbers(w.message.value) == pytest.approx([p, ps, s, ss, p - s], abs=0.051)  # the means over seeds


def test_moving_the_budget_slider_changes_the_image_and_the_message():
    results = make_results()
    w = finetune_results_widget(results)
    png, message = w.canvas.value, w.message.value
    w.controls["labels_per_class"].value = 20  # what the browser test does to the first slider
    assert w.canvas.value != png and w.message.value != message
    assert w.message.value.startswith("20 labels per class at 32 px")
    w.controls["labels_per_class"].value = "all"
    assert w.message.value.startswith("all labels at 32 px: pretrained")
    png = w.canvas.value
    w.controls["image_size"].value = 48
    assert w.canvas.value != png and "at 48 px" in w.message.value


def test_widget_one_seed_has_no_plus_minus():
    results = make_results(seeds=1)
    w = finetune_results_widget(results)
    p, s = (100 * results[i, 32, 10][0] for i in ("pretrained", "scratch"))
    assert w.message.value == (f"10 labels per class at 32 px: pretrained {p:.1f}%, from scratch {s:.1f}% "
                               f"(1 seed): {p - s:+.1f} points")
    assert "±" not in w.message.value


def test_widget_missing_cell_shows_a_message_not_an_exception():
    results = make_results()
    del results["scratch", 48, 20]
    w = finetune_results_widget(results)
    w.set(labels_per_class=20, image_size=48)  # no exception
    assert shows_error(w, "no results for from scratch with 20 labels per class at 48 px")
    w.controls["labels_per_class"].value = 10
    assert w.canvas.layout.display is None and "points" in w.message.value
