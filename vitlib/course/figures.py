"""Drawings that two or more notebooks share: pure functions that take arrays and return a `Figure`.

Nothing here runs a model: `vitlib.probes` computes, these functions draw, and the widgets of
`vitlib.course.ui` and the notebook modules wire controls to both. A drawing used by one notebook
only lives in that notebook's module (`vitlib.course.nbNN_*`).
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

__all__ = ["Figure", "as_hwc", "show_image", "plot_images", "plot_maps", "plot_pos_similarity", "plot_seed_bars",
           "family_style", "plot_history", "plot_confusion_matrix", "plot_architecture"]


def as_hwc(image) -> np.ndarray:
    """Any one image -> numpy (H, W, C): accepts torch or numpy, (C, H, W), (H, W, C) or (H, W)."""
    a = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    a = a.astype(np.float32)
    if a.ndim == 2:
        return a[:, :, None]
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        return np.moveaxis(a, 0, -1)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] in (1, 3):
        return a
    raise ValueError(f"expected one image as (C, H, W), (H, W, C) or (H, W) with C = 1 or 3, got shape {a.shape}")


def show_image(ax, image_hwc: np.ndarray, **kwargs):
    """imshow for (H, W, 1) grey or (H, W, 3) colour images with values in [0, 1]."""
    if image_hwc.shape[-1] == 1:
        return ax.imshow(image_hwc[:, :, 0], cmap="gray", vmin=0, vmax=1, **kwargs)
    return ax.imshow(np.clip(image_hwc, 0, 1), **kwargs)


def plot_images(images, titles=None, suptitle: str | None = None, size: float = 2.6) -> Figure:
    """A row of images (each (C, H, W), (H, W, C) or (H, W), values in [0, 1]) with titles, axes in pixels."""
    images = [as_hwc(im) for im in images]
    titles = list(titles) if titles is not None else [""] * len(images)
    fig = Figure(figsize=(size * len(images), size + 0.6), layout="constrained")
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for ax, im, title in zip(axes, images, titles):
        show_image(ax, im, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("x (pixels)")
    axes[0].set_ylabel("y (pixels)")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_maps(maps, titles=None, suptitle: str | None = None, vmin: float = -1.0, vmax: float = 1.0,
              cmap: str = "RdBu_r", colorbar_label: str = "value", size: float = 2.2) -> Figure:
    """A row of K maps (K, G, G) over the patch grid, one shared colour scale and colour bar.

    Default: a diverging colour map over the fixed range [-1, 1] (e.g. channels of a position embedding).
    """
    maps = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected maps of shape (K, G, G), got {maps.shape}")
    titles = list(titles) if titles is not None else [""] * len(maps)
    fig = Figure(figsize=(size * len(maps) + 1.0, size + 0.7), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, m, title in zip(axes, maps, titles):
        im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("patch column")
    axes[0].set_ylabel("patch row")
    fig.colorbar(im, ax=list(axes), label=colorbar_label, shrink=0.9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_pos_similarity(sim, title: str | None = None, data_range: bool = False) -> Figure:
    """Figure 7 (centre): sim (G, G, G, G) drawn as a G x G grid of G x G tiles.

    Tile (i, j) shows the cosine similarity of patch (i, j)'s position embedding with every
    patch's; diverging colours, the paper's fixed range [-1, 1], one colour bar. data_range=True adds
    a second panel on the data's own range (min to max, sequential colours): where all similarities
    are high (e.g. 0.66 to 1), the fixed scale paints every tile the same dark red and only this
    panel shows the structure.
    """
    sim = np.asarray(sim.detach().cpu() if hasattr(sim, "detach") else sim, dtype=np.float32)
    if sim.ndim != 4 or len(set(sim.shape)) != 1:
        raise ValueError(f"expected similarities of shape (G, G, G, G), got {sim.shape}; "
                         "use vitlib.probes.pos_embed_similarity")
    g = sim.shape[0]
    step = g + 1  # one blank pixel between tiles
    canvas = np.full((g * step - 1, g * step - 1), np.nan, dtype=np.float32)
    for i in range(g):
        for j in range(g):
            canvas[i * step : i * step + g, j * step : j * step + g] = sim[i, j]
    fig = Figure(figsize=(11.5, 5.4) if data_range else (6.4, 5.6), layout="constrained")
    axes = fig.subplots(1, 2 if data_range else 1, squeeze=False)[0]
    lo, hi = float(np.nanmin(canvas)), float(np.nanmax(canvas))
    panels = [("RdBu_r", -1.0, 1.0, "cosine similarity", "the paper's scale, -1 to 1")]
    if data_range:
        panels.append(("viridis", lo, hi, "cosine similarity", f"this grid's range, {lo:.2f} to {hi:.2f}"))
    for ax, (cmap_name, vmin, vmax, label, subtitle) in zip(axes, panels):
        cmap = matplotlib.colormaps[cmap_name].with_extremes(bad="white")
        im = ax.imshow(canvas, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ticks = [i * step + (g - 1) / 2 for i in range(g)]
        ax.set_xticks(ticks, [str(i + 1) for i in range(g)])
        ax.set_yticks(ticks, [str(i + 1) for i in range(g)])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_xlabel("Input patch column")
        ax.set_ylabel("Input patch row")
        if data_range:
            ax.set_title(subtitle, fontsize=10)
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    heading = title or f"Position embedding similarity ({g} x {g} patches)"
    if data_range:
        fig.suptitle(heading)
    else:
        axes[0].set_title(heading)
    return fig


def plot_seed_bars(labels, accuracies, title: str | None = None, ylabel: str = "test accuracy (%)") -> Figure:
    """One bar per variant: mean over seeds, error bar = std, one dot per seed (notebooks 05 and 07).

    labels: (K,) names; accuracies: (K, S) in [0, 1]. The axis runs from 0 to 100%, so bar heights
    compare honestly; each bar's "mean ± std" is written inside it, at half its height, well clear of
    the error bar and the dots at its top (above a bar too short to hold it).
    """
    acc = np.atleast_2d(np.asarray(accuracies, dtype=float))
    if acc.shape[0] != len(labels):
        raise ValueError(f"{len(labels)} labels for {acc.shape[0]} rows of accuracies; pass one row per label")
    seeds = acc.shape[1]
    mean, std = 100 * acc.mean(axis=1), 100 * acc.std(axis=1)
    fig = Figure(figsize=(1.6 + 1.3 * len(labels), 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(labels))
    ax.bar(x, mean, yerr=std if seeds > 1 else None, capsize=4, color=[f"C{i}" for i in x], alpha=0.7)
    for i in x:
        ax.plot(np.full(seeds, i), 100 * acc[i], "k.", ms=6)
        text = f"{mean[i]:.1f}%" + (f"\n± {std[i]:.1f}" if seeds > 1 else "")
        tall = mean[i] >= 25  # inside a tall bar; above a short one, clear of its error bar and dots
        where = mean[i] / 2 if tall else max(mean[i] + std[i], 100 * acc[i].max()) + 4
        ax.text(i, where, text, ha="center", va="center" if tall else "bottom", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.8))
    ax.set_ylim(0, 105)
    ax.set_yticks(range(0, 101, 20))
    ax.set_xticks(x, labels)
    ax.set(ylabel=ylabel, title=title or f"mean ± std over {seeds} seed(s); dots: single seeds")
    ax.grid(axis="y", alpha=0.3)
    return fig


_FAMILY_STYLE = {"ViT": ("tab:blue", "o"), "CNN": ("tab:orange", "s"), "hybrid": ("tab:green", "^"),
                 "Hybrid": ("tab:green", "^")}


def family_style(name: str, i: int):
    return _FAMILY_STYLE.get(name, (f"C{i}", "o"))


def plot_history(history, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, train and test, of a `vitlib.train.History`: a Figure with two panels.

    With label smoothing (history.label_smoothing > 0) the two losses measure different things: the train
    loss is cross-entropy against the smoothed targets, so it cannot fall below their entropy (drawn as a
    dotted line, `history.train_loss_floor`), and the test loss is plain cross-entropy against the true
    class; the legend says so. The train accuracy is measured on the (augmented) training batches.
    """
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = np.arange(1, history.epochs + 1)
    smoothing = float(getattr(history, "label_smoothing", 0.0) or 0.0)
    floor = float(getattr(history, "train_loss_floor", 0.0) or 0.0)
    train_names = {"loss": f"train (label-smoothed targets, eps = {smoothing:g})" if smoothing else "train",
                   "acc": "train (augmented batches)"}
    test_names = {"loss": "test (plain cross-entropy)" if smoothing else "test", "acc": "test"}
    for ax, key, name in ((ax_loss, "loss", "cross-entropy loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, getattr(history, f"train_{key}"), marker=".", label=train_names[key])
        test = np.asarray(getattr(history, f"test_{key}"), dtype=float)
        if test.size and not np.isnan(test).all():
            ax.plot(epochs, test, marker=".", label=test_names[key])
        ax.set_xlabel("epoch")
        ax.set_ylabel(name + (" (nats)" if key == "loss" else ""))
        ax.set_title(f"{name} per epoch")
        ax.grid(alpha=0.3)
    if floor > 0:
        ax_loss.axhline(floor, color="tab:blue", ls=":", lw=1.2,
                        label=f"lowest possible train loss with smoothing: {floor:.2f}")
        ax_loss.set_ylim(bottom=0)
    if history.epochs <= 12:  # few epochs: whole numbers only (no 2.5th epoch)
        for ax in (ax_loss, ax_acc):
            ax.set_xticks(epochs)
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8, loc="lower right")
    ax_acc.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(
    confusion: np.ndarray, class_names: list[str] | None = None, normalize: bool = False, title: str | None = None
) -> Figure:
    """Draw a (K, K) confusion matrix (rows = true class, columns = predicted): -> Figure.

    normalize=True divides each row by its total, so the diagonal is the per-class recall.
    """
    cm = np.asarray(confusion, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square (K, K), got shape {cm.shape}")
    k = cm.shape[0]
    names = class_names if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for a {k} x {k} confusion matrix; pass {k} names")
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(1.0 + 0.45 * k, 0.6 + 0.45 * k), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, label="fraction of the true class" if normalize else "images")
    slanted = max(map(len, names)) > 2
    ax.set_xticks(range(k), names, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix"))
    if k <= 20:
        threshold = cm.max() / 2
        for i in range(k):
            for j in range(k):
                text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > threshold else "black")
    return fig


# ------------------------------ Figure 1: the architecture, with a "you are here" highlight

# (key, title, detail under the box, the notebook that builds it). Keys name what `highlight` can pick;
# "attention" and "mlp" are rows inside the encoder box.
ARCHITECTURE_STAGES = [
    ("image", "image", "H x W x C", "01"),
    ("patches", "patches $\\mathbf{x}_p$", "N x (P²·C)", "01"),
    ("projection", "linear\nprojection $\\mathbf{E}$", "N x D", "01"),
    ("tokens", "[class] token 0*\n+ position $\\mathbf{E}_{pos}$", "(N+1) x D", "02"),
    ("encoder", "Transformer\nencoder  x L", "(N+1) x D", "03, 04"),
    ("head", "MLP head\non token 0", "K", "04"),
    ("class", "class", "argmax", "00"),
]
_STAGE_KEYS = [key for key, *_ in ARCHITECTURE_STAGES] + ["attention", "mlp"]
_HIGHLIGHT, _PLAIN, _FADED = "#ffcf56", "#dbe8f6", "#eeeeee"


def plot_architecture(highlight=None, compact: bool = False, title: str | None = None) -> Figure:
    """Figure 1 of the paper, drawn left to right: image -> patches -> linear projection -> [class] token
    and position embedding -> Transformer encoder (LN, MSA, +; LN, MLP, +) x L -> MLP head -> class.

    highlight: None, one key or a list of keys out of "image", "patches", "projection", "tokens",
    "encoder", "attention", "mlp", "head", "class": those boxes are drawn in yellow, the others faded
    (a "you are here" marker). compact=True draws a short strip (no shapes, no notebook numbers)
    for the top of a notebook.
    """
    keys = [highlight] if isinstance(highlight, str) else list(highlight or [])
    unknown = [k for k in keys if k not in _STAGE_KEYS]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown} to highlight; choose from {_STAGE_KEYS}")
    from matplotlib.patches import FancyBboxPatch, Rectangle

    n = len(ARCHITECTURE_STAGES)
    box_w, gap = 1.55, 0.55
    box_h = 1.5 if compact else 1.9
    width = n * box_w + (n - 1) * gap
    fig = Figure(figsize=(11.5, 1.6) if compact else (13, 2.9), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.1, width + 0.1)
    ax.set_ylim(-0.05 if compact else -0.75, box_h + 0.05)
    ax.set_axis_off()

    def colour(key):
        if not keys:
            return _PLAIN
        return _HIGHLIGHT if key in keys else _FADED

    font = 8.5 if compact else 10
    for i, (key, name, detail, notebook) in enumerate(ARCHITECTURE_STAGES):
        x0 = i * (box_w + gap)
        cx = x0 + box_w / 2
        box = FancyBboxPatch((x0, 0), box_w, box_h, boxstyle="round,pad=0,rounding_size=0.12",
                             fc=colour(key), ec="#333333", lw=2.2 if key in keys else 1.0)
        ax.add_patch(box)
        if key == "image":  # a 3 x 3 picture: the patches to come
            s = box_h * 0.17
            for r in range(3):
                for c in range(3):
                    ax.add_patch(Rectangle((cx - 1.5 * s + c * s, box_h * 0.1 + (2 - r) * s), s, s,
                                           fc=matplotlib.colormaps["viridis"]((r * 3 + c) / 8), ec="white", lw=1))
            ax.text(cx, box_h * 0.8, name, ha="center", va="center", fontsize=font)
        elif key == "patches":  # the same nine patches in a row: a sequence
            s = box_w / 11
            for j in range(9):
                ax.add_patch(Rectangle((x0 + s + j * s, box_h * 0.3), s * 0.9, s * 0.9,
                                       fc=matplotlib.colormaps["viridis"](j / 8), ec="white", lw=0.5))
            ax.text(cx, box_h * 0.68, name, ha="center", va="center", fontsize=font)
        elif key == "encoder":
            ax.text(cx, box_h * 0.8, name, ha="center", va="center", fontsize=font)
            for row, (sub, label) in enumerate((("attention", "LN → MSA → +"), ("mlp", "LN → MLP → +"))):
                y = box_h * (0.44 - 0.27 * row)
                ax.add_patch(FancyBboxPatch((x0 + 0.08, y - 0.17), box_w - 0.16, 0.34,
                                            boxstyle="round,pad=0,rounding_size=0.06",
                                            fc=_HIGHLIGHT if sub in keys else "white", ec="#555555",
                                            lw=1.6 if sub in keys else 0.6))
                ax.text(cx, y, label, ha="center", va="center", fontsize=font - 1.5)
        else:
            ax.text(cx, box_h / 2, name, ha="center", va="center", fontsize=font)
        if not compact:
            ax.text(cx, -0.2, detail, ha="center", va="center", fontsize=9, color="#333333")
            ax.text(cx, -0.55, f"notebook {notebook}", ha="center", va="center", fontsize=8.5, color="#666666")
        if i < n - 1:
            ax.annotate("", xy=(x0 + box_w + gap - 0.04, box_h / 2), xytext=(x0 + box_w + 0.04, box_h / 2),
                        arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.4, mutation_scale=14))
    default = ("you are here" if keys else "Figure 1: the Vision Transformer")
    ax.set_title(title or default, fontsize=10 if compact else 12, loc="left")
    return fig
