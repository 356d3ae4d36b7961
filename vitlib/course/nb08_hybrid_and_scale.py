"""Notebook 08 (hybrid and scale): the models it compares, their training, the drawing, widget and checker.

    build_model                one model of a family (ViT, CNN, hybrid) from its sizes
    train_model                build and train one on the digits (run several side by side with vitlib.parallel)
    plot_accuracy_vs_compute   test accuracy against training compute, one line per family (Figure 5)
    compute_budget_widget      which family is best within a compute budget
    check_feature_map_to_tokens  exercise: the hybrid's tokens from a CNN feature map
"""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure

from ..baselines import SmallCNN
from ..data import load_digits
from ..hybrid import CNNStemEmbedding, hybrid_vit
from ..model import ViT
from ..train import History, digits_vit_recipe, fit
from . import figures
from .controls import permute_patches
from .exercise import checker, distinct_images, name_the_mistake, passed, require_tensor, run_answer
from .ui import SliderFigure

__all__ = ["FAMILIES", "build_model", "train_model", "plot_accuracy_vs_compute", "compute_budget_widget",
           "check_feature_map_to_tokens"]


# ------------------------------ the models and their training

FAMILIES = {"ViT": ("dim", "depth", "heads"), "CNN": ("widths",), "hybrid": ("stem_widths", "dim", "depth", "heads")}


def build_model(family: str, **sizes) -> torch.nn.Module:
    """One model of notebook 08's comparison, for the digits (32 x 32 grey images, 10 classes).

    "ViT":    build_model("ViT", dim=64, depth=4, heads=4): notebook 05's recipe ViT (8 x 8 patches)
              with these sizes and an MLP of 2 * dim.
    "CNN":    build_model("CNN", widths=(16, 32)): SmallCNN with these stage widths.
    "hybrid": build_model("hybrid", stem_widths=(8, 16, 32, 32), dim=64, depth=4, heads=4): the same ViT,
              its tokens from a CNN stem (4 stem widths: stride 8, one token per 8 x 8 pixels, as the ViT).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}, got {family!r}")
    if set(sizes) != set(FAMILIES[family]):
        raise ValueError(f"a {family} is built from {', '.join(FAMILIES[family])}; got "
                         f"{', '.join(sorted(sizes)) or 'none'}")
    if family == "CNN":
        return SmallCNN(in_channels=1, num_classes=10, widths=tuple(sizes["widths"]))
    cfg = digits_vit_recipe()[1].replace(dim=sizes["dim"], depth=sizes["depth"], heads=sizes["heads"],
                                         mlp_dim=2 * sizes["dim"])
    return ViT(cfg) if family == "ViT" else hybrid_vit(cfg, stem_widths=tuple(sizes["stem_widths"]))


def train_model(family: str, sizes: dict, epochs: int, train_size: float | None = None, seed: int = 0,
                precision: str = "auto", permute_seed: int | None = None) -> History:
    """torch.manual_seed(seed), build_model(family, **sizes), and fit it on the digits with notebook 05's
    recipe for `epochs` epochs (warm-up min(2, epochs)) -> its History (test accuracy after every epoch).

    train_size: a fraction of the training images (quick mode) or None for all 1,347; the test images are
    the same 450 for every seed. permute_seed: the control task, every image's 8 x 8 patches shuffled by
    one fixed permutation (`vitlib.course.controls.permute_patches`). A top-level function, so that
    vitlib.parallel.run_in_processes can train several models side by side.
    """
    data_kwargs, cfg, fit_kwargs = digits_vit_recipe()
    x_train, y_train, x_test, y_test = load_digits(**data_kwargs, train_size=train_size)
    if permute_seed is not None:
        x_train, x_test = (permute_patches(x, cfg.patch_size, seed=permute_seed) for x in (x_train, x_test))
    torch.manual_seed(seed)
    model = build_model(family, **sizes)
    fit_kwargs.update(epochs=epochs, warmup_epochs=min(2, epochs), seed=seed, precision=precision)
    return fit(model, (x_train, y_train), (x_test, y_test), **fit_kwargs, progress=False)


# ------------------------------ drawings

# per family, where its size labels go: ViT below its points, CNN to the right, hybrid above, so that labels of
# points that lie close together (the medium CNN and hybrid, say) do not overprint each other or the lines
_LABEL_OFFSETS = [((0, -12), "center"), ((9, -3), "left"), ((0, 12), "center")]


def _compute_ticks(ax, flops) -> None:
    """Ticks at 1, 2 and 5 x 10^k FLOPs inside the data's range, labelled in TFLOPs (0.05, 0.1, 0.2, ...):
    a few readable numbers instead of powers of ten far apart or crowded minor ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = np.log10(min(flops)), np.log10(max(flops))
    ticks = [m * 10.0**k for k in range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if 10 ** (lo - 0.15) <= t <= 10 ** (hi + 0.15)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e12:g}"))


def plot_accuracy_vs_compute(results: dict, budget: float | None = None, title: str | None = None,
                             note: str | None = None) -> Figure:
    """Test accuracy against total training compute, one series per model family (Figure 5 in miniature).

    results: {family: [(label, flops, accuracy), ...]}: one point per model (total training FLOPs,
             accuracy in [0, 1]); a family's points are joined in order of compute, each labelled.
    budget:  a compute budget in FLOPs to mark with a vertical line (the widget of notebook 08), or None.
    note:    text for a box in the lower right corner (the widget writes the best accuracy per family there).
    The x axis is logarithmic, ticked at 1, 2, 5 x 10^k FLOPs and labelled in TFLOPs. The accuracy axis starts
    at 0, or, when every accuracy is above 50%, at the multiple of 5 below the lowest, and says so in its label.
    """
    fig = Figure(figsize=(7.4, 4.4), layout="constrained")
    ax = fig.subplots()
    all_flops = []
    for i, (family, points) in enumerate(results.items()):
        if not points:
            continue
        points = sorted(points, key=lambda p: p[1])
        flops = np.array([p[1] for p in points], dtype=float)
        acc = 100 * np.array([p[2] for p in points], dtype=float)
        all_flops += list(flops)
        color, marker = figures.family_style(family, i)
        ax.plot(flops, acc, marker=marker, color=color, label=family)
        offset, align = _LABEL_OFFSETS[i % 3]
        for (label, f, a) in points:
            ax.annotate(label, (f, 100 * a), textcoords="offset points", xytext=offset, fontsize=9,
                        color=color, ha=align, va="center", weight="bold")
    if budget is not None:
        ax.axvline(budget, color="black", ls=":", label=f"budget {budget / 1e12:.2g} TFLOPs")
        all_flops.append(budget)
    ax.set_xscale("log")
    if all_flops:
        _compute_ticks(ax, all_flops)
    lowest = min((100 * p[2] for points in results.values() for p in points), default=0.0)
    bottom = 5 * np.floor((lowest - 1) / 5) if lowest > 50 else 0.0
    ax.set_ylim(bottom, 103)  # room above 100% for the labels above the points ...
    ax.set_yticks(np.arange(bottom, 100.1, 5 if 100 - bottom <= 50 else 20))  # ... and no tick beyond it
    ylabel = "test accuracy (%)" if bottom == 0 else f"test accuracy (%; axis starts at {bottom:.0f}%)"
    ax.set(xlabel="total training compute (TFLOPs = 10^12 FLOPs, log axis)", ylabel=ylabel)
    ax.set_title(title or "accuracy against training compute", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if note:
        ax.text(0.98, 0.04, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", facecolor="white", edgecolor="0.6", alpha=0.95))
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
        rows, lines = [], []
        for fam, runs in curves.items():
            best, which = None, None
            for label, (f, a) in runs.items():
                reached = [acc for fl, acc in zip(f, a) if fl <= budget]
                if reached and (best is None or max(reached) > best):
                    best, which = max(reached), label
            rows.append(f"<b>{fam}</b>: " + (f"{best:.1%} ({which})" if best is not None else "no epoch fits"))
            lines.append(f"{fam}: " + (f"{best:.1%} ({which.split()[0]})" if best is not None else "no epoch fits"))
        note = "best reached within the budget\n(after any epoch)\n" + "\n".join(lines)
        fig = plot_accuracy_vs_compute(finals, budget=budget, note=note,
                                       title=f"best accuracy within {budget / 1e12:.2g} TFLOPs of training")
        return fig, "within budget: " + "; ".join(rows)

    # start among the models' final points (not at the middle of every epoch's compute, which lies left of them
    # all), so that the still picture shows a budget that some models fit and others do not: the slider step
    # within the middle half of the final points that keeps the line farthest from any point and its label
    final = np.log10([f for points in finals.values() for _, f, _ in points])
    steps = np.arange(lo, hi + 0.125, 0.25)
    middle = steps[(steps >= np.percentile(final, 25)) & (steps <= np.percentile(final, 75))]
    middle = middle if len(middle) else steps
    start = float(max(middle, key=lambda step: np.abs(final - step).min()))
    controls = {"log10_budget": widgets.FloatSlider(value=start, min=float(lo), max=float(hi), step=0.25,
                                                    description="log10 FLOPs", continuous_update=False)}
    return SliderFigure(controls, draw)


# ------------------------------ exercise checkers


@checker
def check_feature_map_to_tokens(feature_map_to_tokens) -> bool:
    """Notebook 08: feature_map_to_tokens(features, proj): the hybrid's tokens from the CNN stem's output.

    features (B, C', H', W') -> 1 x 1 patches in raster order (B, H'W', C') -> proj (a Linear C' -> D)
    -> tokens (B, H'W', D), as vitlib.hybrid.CNNStemEmbedding does. Checked on a non-square map with
    all-different values (every wrong order shows), then on a real stem's output.
    """
    torch.manual_seed(0)
    b, c, h, w, d = 2, 5, 3, 4, 8  # all different, so every axis mix-up shows in the shape or the values
    embedding = CNNStemEmbedding(image_size=8, in_channels=1, dim=d, stem_widths=(4, c)).eval()
    proj = embedding.proj
    features = distinct_images(b, c, h, w)  # (B, C', H', W')
    attempted, got = run_answer(feature_map_to_tokens, features, proj, name="feature_map_to_tokens")
    if not attempted:
        return False
    require_tensor(got, "feature_map_to_tokens")
    with torch.no_grad():
        expected = embedding.tokens_from_features(features)  # (B, H'W', D)
        mistakes = [
            (proj(rearrange(features, "b c h w -> b (w h) c")),
             "the tokens are in column order: you flattened (w h), so token 1 is the pixel below token 0. "
             "Flatten row by row, (h w), as patchify orders the patches: 'b c h w -> b (h w) c'"),
            (proj(features.reshape(b, h * w, c)),
             "you reshaped (B, C', H', W') to (B, H'W', C') without moving the channel axis, which mixes "
             "channels and positions. Move the channels last: 'b c h w -> b (h w) c' (or .flatten(2).transpose(1, 2))"),
            (rearrange(features, "b c h w -> b c (h w)"),
             "these are channels-first tokens (B, C', N): each token must be one pixel's C' channels, "
             "(B, N, C'), before the projection: 'b c h w -> b (h w) c'"),
            (rearrange(features, "b c h w -> b (h w) c"),
             "right tokens, but not projected: apply proj (the Linear C' -> D, the E of 1 x 1 patches) "
             "to get (B, N, D)"),
            (rearrange(expected, "b n d -> b d n"),
             "the tokens are (B, D, N): the encoder wants one row per token, (B, N, D)"),
        ]
    name_the_mistake(f"feature_map_to_tokens(features {(b, c, h, w)})", got, expected, mistakes)
    images = torch.rand(b, 1, 8, 8)
    with torch.no_grad():
        stem_features = embedding.stem.features(images)  # (B, 5, 4, 4) from a real stem
        _, got = run_answer(feature_map_to_tokens, stem_features, proj, name="feature_map_to_tokens")
        name_the_mistake("feature_map_to_tokens on a stem's feature map", got, embedding(images), [])
    return passed("feature_map_to_tokens", "(B, C', H', W') -> 1 x 1 patches (B, H'W', C') in raster order -> "
                  "projected to (B, H'W', D), as vitlib.hybrid.CNNStemEmbedding")
