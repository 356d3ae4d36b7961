"""Notebook 08 (hybrid and scale): the drawing, widget and exercise checker the notebook uses.

    plot_accuracy_vs_compute   test accuracy against training compute, one line per family (Figure 5)
    compute_budget_widget      which family is best within a compute budget
    check_total_train_flops    exercise: 3 x forward FLOPs x images seen
"""

from __future__ import annotations

import numpy as np
from ipywidgets import widgets
from matplotlib.figure import Figure

from ..cost import forward_flops
from ..model import ViTConfig
from . import figures
from .exercise import ExerciseError, passed, run_answer
from .ui import SliderFigure

__all__ = ["plot_accuracy_vs_compute", "compute_budget_widget", "check_total_train_flops"]


# ------------------------------ drawings


def plot_accuracy_vs_compute(results: dict, budget: float | None = None, title: str | None = None) -> Figure:
    """Test accuracy against total training compute, one series per model family (Figure 5 in miniature).

    results: {family: [(label, flops, accuracy), ...]}: one point per model (total training FLOPs,
             accuracy in [0, 1]); a family's points are joined in order of compute, each labelled.
    budget:  a compute budget in FLOPs to mark with a vertical line (the widget of notebook 08), or None.
    The x axis is logarithmic.
    """
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (family, points) in enumerate(results.items()):
        if not points:
            continue
        points = sorted(points, key=lambda p: p[1])
        flops = np.array([p[1] for p in points], dtype=float)
        acc = 100 * np.array([p[2] for p in points], dtype=float)
        color, marker = figures.family_style(family, i)
        ax.plot(flops, acc, marker=marker, color=color, label=family)
        for (label, f, a) in points:
            ax.annotate(label, (f, 100 * a), textcoords="offset points", xytext=(4, -10), fontsize=7, color=color)
    if budget is not None:
        ax.axvline(budget, color="black", ls=":", label=f"budget {budget:.2g} FLOPs")
    ax.set_xscale("log")
    ax.set(xlabel="total training compute (FLOPs, log axis)", ylabel="test accuracy (%)",
           title=title or "accuracy against training compute")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ------------------------------ widgets


def compute_budget_widget(curves: dict, finals: dict | None = None) -> SliderFigure:
    """Notebook 08: which model family is best for a given training-compute budget?

    curves: {family: {label: (cumulative training FLOPs per epoch (E,), test accuracy per epoch (E,))}}.
    finals: {family: [(label, flops, accuracy), ...]} to plot (default: each curve's last point).
    The slider sets the budget (log10 FLOPs); the figure marks it, and the message lists, per family,
    the best test accuracy any of its models had reached within the budget (from the per-epoch curves).
    """
    if finals is None:
        finals = {fam: [(label, float(f[-1]), float(a[-1])) for label, (f, a) in runs.items()]
                  for fam, runs in curves.items()}
    all_flops = np.concatenate([np.asarray(f, dtype=float) for runs in curves.values() for f, _ in runs.values()])
    lo, hi = np.floor(np.log10(all_flops.min()) * 4) / 4, np.ceil(np.log10(all_flops.max()) * 4) / 4

    def draw(values):
        budget = 10 ** values["log10_budget"]
        fig = plot_accuracy_vs_compute(finals, budget=budget,
                                              title=f"best accuracy within {budget:.2g} training FLOPs")
        rows = []
        for fam, runs in curves.items():
            best, which = None, None
            for label, (f, a) in runs.items():
                reached = [acc for fl, acc in zip(f, a) if fl <= budget]
                if reached and (best is None or max(reached) > best):
                    best, which = max(reached), label
            rows.append(f"<b>{fam}</b>: " + (f"{best:.1%} ({which})" if best is not None else "no epoch fits"))
        return fig, "within budget: " + "; ".join(rows)

    controls = {"log10_budget": widgets.FloatSlider(value=float((lo + hi) / 2), min=float(lo), max=float(hi), step=0.25,
                                               description="log10 FLOPs", continuous_update=False)}
    return SliderFigure(controls, draw)


# ------------------------------ exercise checkers


def check_total_train_flops(total_train_flops) -> bool:
    """Notebook 08: total_train_flops(cfg, images_seen) = 3 x forward FLOPs per image x images seen."""
    configs = [ViTConfig(image_size=32, patch_size=8, in_channels=1, num_classes=10, dim=64, depth=4, heads=4, mlp_dim=128),
               ViTConfig(image_size=32, patch_size=4, in_channels=1, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=64)]
    for cfg, seen in zip(configs, (1347 * 30, 500)):
        attempted, got = run_answer(total_train_flops, cfg, seen, name="total_train_flops")
        if not attempted:
            return False
        f = forward_flops(cfg)
        expected = 3 * f * seen
        if got == expected:
            continue
        hints = {f * seen: "that is the forward pass only; backward costs about twice the forward, so x 3",
                 2 * f * seen: "x 2 counts forward + one backward matmul; backward needs two (gradients for inputs and weights): x 3",
                 3 * f: "that is one image; multiply by the number of images seen (training images x epochs)",
                 f: "that is one forward pass of one image"}
        raise ExerciseError(f"total_train_flops: {got:,} for P={cfg.patch_size}, D={cfg.dim}, {seen} images; expected "
                            f"{expected:,}. " + hints.get(got, "Use vitlib.cost.forward_flops(cfg) x 3 x images_seen."))
    return passed("total_train_flops", "3 x forward FLOPs x images seen, as vitlib.cost.train_flops(cfg) x images")
