"""Matplotlib figures: pure functions that take arrays and return a `Figure`.

Nothing here computes a model; probes compute, plots draw, widgets wire sliders to both.
"""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["Figure"]


# --- notebooks 00-02 (patching, class token, position embeddings) -------------------------

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from einops import rearrange  # noqa: E402

__all__ += ["as_hwc", "plot_images", "plot_maps", "plot_patching", "plot_pos_similarity", "plot_prediction"]


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


def _imshow(ax, image_hwc: np.ndarray, **kwargs):
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
        _imshow(ax, im, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("x (pixels)")
    axes[0].set_ylabel("y (pixels)")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_patching(image, patch_size: int, num_sequence: int = 16) -> Figure:
    """An image cut into P x P patches, and the same patches as a sequence (Eq. 1's x_p).

    Top left: the image with the patch grid and patch numbers (raster order).
    Top right: the patch matrix x_p, N rows of P*P*C values, flattened in (p1 p2 c) order.
    Bottom: the first `num_sequence` patches, one after another, as the transformer reads them.
    """
    from .patches import check_patch_size

    img = as_hwc(image)
    h, w, c = img.shape
    p = int(patch_size)
    check_patch_size(h, p)
    check_patch_size(w, p)
    gh, gw = h // p, w // p
    n, k = gh * gw, p * p * c
    patches = rearrange(img, "(h p1) (w p2) c -> (h w) p1 p2 c", p1=p, p2=p)  # (N, P, P, C)

    fig = Figure(figsize=(10, 6.4), layout="constrained")
    axes = fig.subplot_mosaic([["image", "matrix"], ["sequence", "sequence"]], height_ratios=[3.3, 1])

    ax = axes["image"]
    _imshow(ax, img, extent=(0, w, h, 0), interpolation="nearest")
    lw = 1.2 if max(gh, gw) <= 16 else 0.5
    ax.vlines(np.arange(1, gw) * p, 0, h, colors="white", linewidth=lw)
    ax.hlines(np.arange(1, gh) * p, 0, w, colors="white", linewidth=lw)
    numbered = range(n) if n <= 64 else [*range(gw + 1), n - 1]  # all, or the first row + 1 and the last
    for i in numbered:
        r, col = divmod(i, gw)
        ax.text((col + 0.5) * p, (r + 0.5) * p, str(i), ha="center", va="center", color="white",
                fontsize=9 if n <= 64 else 6, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.1", facecolor="black", alpha=0.45, linewidth=0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_title(f"P = {p}: a {gh} x {gw} grid, N = HW/P² = {n} patches")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")

    ax = axes["matrix"]
    matrix = patches.reshape(n, k)  # (N, P*P*C), the (p1 p2 c) order
    ax.imshow(matrix, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_title(f"the sequence x_p: N x P²C = {n} x {k}")
    ax.set_xlabel("value within a patch, (p1 p2 c) order")
    ax.set_ylabel("patch index n (position in the sequence)")

    ax = axes["sequence"]
    shown = min(num_sequence, n)
    gap = max(1, p // 8)
    strip = np.ones((p, shown * (p + gap) - gap, c), dtype=np.float32)
    for i in range(shown):
        strip[:, i * (p + gap) : i * (p + gap) + p] = patches[i]
    _imshow(ax, strip, interpolation="nearest")
    ax.set_xticks([i * (p + gap) + (p - 1) / 2 for i in range(shown)], [str(i) for i in range(shown)])
    ax.set_yticks([])
    ax.set_xlabel("position in the sequence (patch index n)")
    ax.set_title(f"the first {shown} of {n} patches, read row by row: patch {gw} starts the second row"
                 if shown > gw else f"the first {shown} of {n} patches, read row by row")
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


def plot_pos_similarity(sim, title: str | None = None) -> Figure:
    """Figure 7 (centre): sim (G, G, G, G) drawn as a G x G grid of G x G tiles.

    Tile (i, j) shows the cosine similarity of patch (i, j)'s position embedding with every
    patch's; diverging colours, fixed range [-1, 1], one colour bar.
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
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    im = ax.imshow(canvas, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ticks = [i * step + (g - 1) / 2 for i in range(g)]
    ax.set_xticks(ticks, [str(i + 1) for i in range(g)])
    ax.set_yticks(ticks, [str(i + 1) for i in range(g)])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("Input patch column")
    ax.set_ylabel("Input patch row")
    ax.set_title(title or f"Position embedding similarity ({g} x {g} patches)")
    fig.colorbar(im, ax=ax, label="cosine similarity", shrink=0.85)
    return fig


def plot_prediction(image, attention, probs, label: int | None = None, class_names=None,
                    attention_title: str = "class-token attention") -> Figure:
    """One classified image: the input, its attention map over the patch grid, and the class probabilities.

    image (C, H, W) / (H, W); attention (G, G), non-negative (e.g. the [class] token's attention to
    each patch); probs (K,) summing to 1; label: the true class, if known.
    """
    img = as_hwc(image)
    attention = np.asarray(attention.detach().cpu() if hasattr(attention, "detach") else attention, dtype=np.float32)
    probs = np.asarray(probs.detach().cpu() if hasattr(probs, "detach") else probs, dtype=np.float32)
    if attention.ndim != 2:
        raise ValueError(f"expected an attention map of shape (G, G), got {attention.shape}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(probs))]
    h, w, _ = img.shape
    pred = int(probs.argmax())

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax_img, ax_att, ax_bar = fig.subplots(1, 3, width_ratios=[1, 1.25, 1.4])
    _imshow(ax_img, img, extent=(0, w, h, 0), interpolation="nearest")
    ax_img.set_title("input" + (f" (true class: {names[label]})" if label is not None else ""))
    ax_img.set_xlabel("x (pixels)")
    ax_img.set_ylabel("y (pixels)")

    vmax = max(float(attention.max()), 1e-8)
    if img.shape[-1] == 1:  # grey image: the attention as a heat map, the image's outline on top
        im = ax_att.imshow(attention, cmap="inferno", extent=(0, w, h, 0), interpolation="nearest", vmin=0, vmax=vmax)
        lo, hi = float(img.min()), float(img.max())
        if hi > lo:
            ax_att.contour(np.linspace(0.5, w - 0.5, w), np.linspace(0.5, h - 0.5, h), img[:, :, 0],
                           levels=[lo + 0.4 * (hi - lo)], colors="cyan", linewidths=1.5)
        ax_att.set_xlim(0, w)
        ax_att.set_ylim(h, 0)
    else:  # colour image: the attention as a translucent layer over the picture
        _imshow(ax_att, img, extent=(0, w, h, 0), interpolation="nearest")
        im = ax_att.imshow(attention, cmap="inferno", alpha=0.6, extent=(0, w, h, 0), interpolation="nearest",
                           vmin=0, vmax=vmax)
    ax_att.set_title(attention_title)
    ax_att.set_xlabel("x (pixels)")
    fig.colorbar(im, ax=ax_att, label="attention weight", shrink=0.9)

    colours = ["tab:gray"] * len(probs)
    colours[pred] = "tab:green" if label is None or pred == label else "tab:red"
    ax_bar.bar(range(len(probs)), probs, color=colours)
    ax_bar.set_xticks(range(len(probs)), names)
    ax_bar.set_ylim(0, 1)
    ax_bar.set_xlabel("class")
    ax_bar.set_ylabel("probability")
    ax_bar.set_title(f"prediction: {names[pred]} ({probs[pred]:.0%})")
    return fig


# --- notebooks 03-04 (attention, encoder) -------------------------------------------------

from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ += ["plot_softmax_scale", "plot_head_attention", "plot_vit_cost"]


def plot_softmax_scale(row, scales, entropy, max_weight, scale: float, d: int) -> Figure:
    """How the scale of q k^T decides how peaked the softmax is (notebook 03).

    row:        (T,) one query's attention weights over the T keys at the current scale.
    scales:     (S,) scale factors s (scores are s * q.k); 1 = no scaling, 1/sqrt(d) = the paper's.
    entropy:    (S,) mean entropy of the attention rows at each scale, in bits.
    max_weight: (S,) mean largest weight of a row at each scale.
    scale:      the current s (marked); d: the head size D_h.
    """
    row, scales = np.asarray(row, dtype=float), np.asarray(scales, dtype=float)
    entropy, max_weight = np.asarray(entropy, dtype=float), np.asarray(max_weight, dtype=float)
    t = len(row)
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    ax_row, ax_ent, ax_max = fig.subplots(1, 3)

    ax_row.bar(np.arange(t), row, color="tab:blue")
    ax_row.axhline(1 / t, color="gray", ls="--", lw=1, label=f"uniform, 1/T = {1 / t:.3g}")
    ax_row.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_row.set(ylim=(0, 1.02), xlabel="key token j", ylabel="attention weight $a_{0j}$",
               title=f"query 0's weights at s = {scale:.3g}")
    ax_row.legend(loc="upper right", fontsize=8)

    i = int(np.argmin(np.abs(np.log(scales) - np.log(scale))))
    for ax, values, label, top in ((ax_ent, entropy, "mean entropy of a row (bits)", np.log2(t) * 1.05),
                                   (ax_max, max_weight, "mean largest weight in a row", 1.02)):
        ax.plot(scales, values, color="tab:blue")
        ax.plot([scales[i]], [values[i]], "o", color="tab:red", label="current s")
        ax.axvline(1.0, color="tab:orange", ls=":", label="no scaling (s = 1)")
        ax.axvline(d**-0.5, color="tab:green", ls="--", label=f"s = 1/sqrt(d) = 1/{d**0.5:.3g}")
        ax.set(xscale="log", ylim=(0, top), xlabel="scale factor s (log axis)", ylabel=label)
    ax_ent.axhline(np.log2(t), color="gray", ls="--", lw=1, label=f"uniform: log2 T = {np.log2(t):.3g}")
    ax_ent.set_title("spread of attention (high = spread out)")
    ax_max.set_title("saturation (1 = all weight on one key)")
    ax_ent.legend(loc="lower left", fontsize=8)
    fig.suptitle(f"softmax(s * q k^T) for random q, k with d = {d} entries of variance 1 and T = {t} tokens")
    return fig


def plot_head_attention(image, maps, patch_size: int, query=None, cls_weights=None, shared_scale: bool = False,
                        title: str | None = None, size: float = 2.7) -> Figure:
    """Where each head looks: one panel per head, attention over the patches overlaid on the image (notebook 03).

    image:       one image, (C, H, W), (H, W, C) or (H, W), values in [0, 1].
    maps:        (heads, G, G) one query's attention weights over the G x G patch keys.
    query:       (row, col) of the query patch, marked with a box; None if the query is the [class] token.
    cls_weights: (heads,) the weight each head gives the [class] token key (shown in the titles).
    shared_scale: one colour scale for all heads (compares magnitudes); otherwise each head is scaled to
                  its own largest weight (shows where every head looks, even a diffuse one).
    """
    img = as_hwc(image)
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"expected maps of shape (heads, G, G), got {maps.shape}")
    heads, g = maps.shape[0], maps.shape[1]
    h, w = img.shape[:2]
    if (h, w) != (g * patch_size, g * patch_size):
        raise ValueError(f"a {g}x{g} grid of {patch_size}-pixel patches does not match a {h}x{w} image")
    cols = min(heads, 4)
    rows = -(-heads // cols)
    fig = Figure(figsize=(size * cols + 1.0, size * rows + 0.7), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    grey = img.mean(axis=-1)
    for head, ax in enumerate(axes.flat):
        if head >= heads:
            ax.set_axis_off()
            continue
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        vmax = max(float(maps.max() if shared_scale else maps[head].max()), 1e-8)
        shown = ax.imshow(maps[head], cmap="inferno", vmin=0, vmax=vmax, alpha=0.65, extent=extent,
                          interpolation="nearest")
        if query is not None:
            r, c = query
            ax.add_patch(Rectangle((c * patch_size - 0.5, r * patch_size - 0.5), patch_size, patch_size,
                                   fill=False, edgecolor="cyan", lw=2))
        label = f"head {head}: max {maps[head].max():.2f}"
        if cls_weights is not None:
            label += f"\n[class] key gets {float(cls_weights[head]):.0%}"
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel(f"{h} px")
    axes[-1, 0].set_xlabel(f"{w} px, patches of {patch_size} px")
    if shared_scale:
        fig.colorbar(shown, ax=axes, shrink=0.8, label="attention weight on a patch key")
    else:
        bar = fig.colorbar(shown, ax=axes, shrink=0.8, ticks=[0, vmax], label="weight, per head")
        bar.ax.set_yticklabels(["0", "head's max"])
    if title:
        fig.suptitle(title)
    return fig


def plot_vit_cost(tokens, flops_attention, flops_other, memory_bytes, current_tokens: int,
                  labels=None, title: str | None = None) -> Figure:
    """Compute and memory of a ViT against its sequence length T = N + 1 (notebook 04).

    tokens:          (S,) sequence lengths (one per patch size).
    flops_attention: (S,) forward FLOPs per image in the two T x T matmuls, q k^T and A v (grow as T^2).
    flops_other:     (S,) all other forward FLOPs (patch embedding, qkv, U_msa, MLP, head: grow as T).
    memory_bytes:    (S,) memory of the attention matrices of all layers for one image.
    current_tokens:  the T of the current configuration (marked). labels: (S,) e.g. "P=16".
    """
    t = np.asarray(tokens, dtype=float)
    fa, fo = np.asarray(flops_attention, dtype=float), np.asarray(flops_other, dtype=float)
    mem = np.asarray(memory_bytes, dtype=float)
    order = np.argsort(t)
    t, fa, fo, mem = t[order], fa[order], fo[order], mem[order]
    labels = [labels[i] for i in order] if labels is not None else None
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax_f, ax_m = fig.subplots(1, 2)
    ax_f.plot(t, (fa + fo) / 1e9, "o-", color="black", label="total")
    ax_f.plot(t, fo / 1e9, "s--", color="tab:blue", label="linear layers (~ T)")
    ax_f.plot(t, fa / 1e9, "^--", color="tab:red", label="q k^T and A v (~ T^2)")
    ax_m.plot(t, mem / 2**20, "o-", color="tab:purple")
    for ax in (ax_f, ax_m):
        ax.axvline(current_tokens, color="tab:green", ls=":", label=f"current: T = {current_tokens}")
        ax.set(xscale="log", yscale="log", xlabel="sequence length T = N + 1 (log axis)")
        if labels is not None and len(t) <= 12:
            ax2 = ax.secondary_xaxis("top")
            ax2.set_xticks(t, labels, fontsize=7, rotation=90)
            ax2.tick_params(which="minor", top=False)
        ax.grid(True, which="major", alpha=0.3)
    ax_f.set(ylabel="forward GFLOPs per image", title="compute per image")
    ax_m.set(ylabel="MiB (float32, all layers)", title="attention matrices of one image")
    ax_f.legend(fontsize=8)
    ax_m.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# --- notebooks 05 and 08 (training, hybrid and scale) ---

__all__ += ["plot_accuracy_vs_data", "plot_seed_bars", "plot_accuracy_vs_compute", "plot_digit_patches"]

_FAMILY_STYLE = {"ViT": ("tab:blue", "o"), "CNN": ("tab:orange", "s"), "hybrid": ("tab:green", "^"),
                 "Hybrid": ("tab:green", "^")}


def _style(name: str, i: int):
    return _FAMILY_STYLE.get(name, (f"C{i}", "o"))


def plot_accuracy_vs_data(train_sizes, accuracies: dict, title: str | None = None) -> Figure:
    """Test accuracy against training-set size, one line per model, mean ± std over seeds (notebook 05).

    train_sizes: (F,) number of training images at each fraction.
    accuracies:  {model name: (S, F) accuracies in [0, 1], S seeds} (a (F,) array counts as one seed).
    The x axis is logarithmic; error bars are the standard deviation over seeds (none for one seed).
    """
    n = np.asarray(train_sizes, dtype=float)
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, (name, acc) in enumerate(accuracies.items()):
        acc = np.atleast_2d(np.asarray(acc, dtype=float))
        if acc.shape[1] != len(n):
            raise ValueError(f"{name}: {acc.shape[1]} accuracies per seed for {len(n)} training sizes")
        color, marker = _style(name, i)
        std = acc.std(axis=0) if acc.shape[0] > 1 else None
        ax.errorbar(n, 100 * acc.mean(axis=0), yerr=None if std is None else 100 * std, color=color,
                    marker=marker, capsize=3, label=f"{name} (mean ± std of {acc.shape[0]} seeds)"
                    if acc.shape[0] > 1 else name)
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{int(v)}" for v in n])
    ax.minorticks_off()
    ax.set(xlabel="training images (log axis)", ylabel="test accuracy (%)",
           title=title or "accuracy as the training set grows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_seed_bars(labels, accuracies, title: str | None = None, ylabel: str = "test accuracy (%)") -> Figure:
    """One bar per variant: mean over seeds, error bar = std, one dot per seed (notebook 05's ablations).

    labels: (K,) names; accuracies: (K, S) in [0, 1].
    """
    acc = np.atleast_2d(np.asarray(accuracies, dtype=float))
    if acc.shape[0] != len(labels):
        raise ValueError(f"{len(labels)} labels for {acc.shape[0]} rows of accuracies; pass one row per label")
    mean, std = 100 * acc.mean(axis=1), 100 * acc.std(axis=1)
    fig = Figure(figsize=(1.6 + 1.3 * len(labels), 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(labels))
    ax.bar(x, mean, yerr=std if acc.shape[1] > 1 else None, capsize=4, color=[f"C{i}" for i in x], alpha=0.7)
    for i in x:
        ax.plot(np.full(acc.shape[1], i), 100 * acc[i], "k.", ms=6)
        ax.text(i, mean[i], f"{mean[i]:.1f}", ha="center", va="bottom", fontsize=9)
    low = max(0.0, float(100 * acc.min()) - 5)
    ax.set_ylim(low, 100.5)
    ax.set_xticks(x, labels)
    ax.set(ylabel=ylabel, title=title or f"mean ± std over {acc.shape[1]} seed(s); dots: single seeds")
    ax.grid(axis="y", alpha=0.3)
    return fig


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
        color, marker = _style(family, i)
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


def plot_digit_patches(image, patch_size: int, title: str | None = None) -> Figure:
    """One image with its patch grid drawn over it (the training widget's cheap preview)."""
    img = as_hwc(image)
    h, w = img.shape[:2]
    fig = Figure(figsize=(3.2, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.imshow(img[:, :, 0] if img.shape[2] == 1 else img, cmap="gray_r" if img.shape[2] == 1 else None)
    for v in np.arange(patch_size, w, patch_size):
        ax.axvline(v - 0.5, color="tab:red", lw=1)
    for v in np.arange(patch_size, h, patch_size):
        ax.axhline(v - 0.5, color="tab:red", lw=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{patch_size} x {patch_size} patches: {(h // patch_size) * (w // patch_size)} tokens",
                 fontsize=9)
    return fig


# --- notebook 06 (inside a ViT: Figure 7, attention maps) ---------------------------------

__all__ += ["minmax_scale", "plot_filter_pcs", "plot_attention_distance", "plot_attention_rollout"]


def minmax_scale(x, axis=None) -> np.ndarray:
    """Scale to [0, 1] by (x - min) / (max - min) over `axis` (None: all of x); constant parts become 0.5."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), 0.5).astype(np.float32)


def plot_filter_pcs(pcs, n: int | None = None, variance=None, rows: int = 4, cols: int = 7,
                    title: str | None = None, size: float = 1.25) -> Figure:
    """Figure 7 (left): principal components of the patch-embedding filters as a rows x cols grid.

    pcs: (K, P, P, C) from `vitlib.probes.embedding_filter_pcs`, component 0 first. The first `n`
    (default all, at most rows * cols) are drawn; each is min-max scaled on its own for display (a
    component's sign and scale are arbitrary). variance: (K,) explained-variance ratios, shown in the
    titles. Drawn as one image of rows * cols tiles on one axes (cheap to redraw); tiles past `n` stay
    blank, and tile i's label is a text artist with gid "tile i".
    """
    pcs = np.asarray(pcs.detach().cpu() if hasattr(pcs, "detach") else pcs, dtype=np.float32)
    if pcs.ndim != 4 or pcs.shape[1] != pcs.shape[2] or pcs.shape[-1] not in (1, 3):
        raise ValueError(f"expected components of shape (K, P, P, C) with C = 1 or 3, got {pcs.shape}; "
                         "use vitlib.probes.embedding_filter_pcs")
    n = len(pcs) if n is None else int(n)
    if not 1 <= n <= min(len(pcs), rows * cols):
        raise ValueError(f"n = {n} components, but {len(pcs)} are given and the grid has {rows * cols} tiles; "
                         f"use 1 <= n <= {min(len(pcs), rows * cols)}")
    shown = minmax_scale(pcs[:n], axis=(1, 2, 3))  # each component to [0, 1] on its own
    p, c = pcs.shape[1], pcs.shape[-1]
    gap = max(1, p // 4)  # blank pixels above each tile (its label goes there) and between tiles
    step = p + gap
    canvas = np.ones((rows * step, cols * step - gap, c), dtype=np.float32)  # white background
    # one image of all tiles, not rows * cols axes: a widget redraws it on every slider move
    fig = Figure(figsize=(size * cols + 0.3, size * rows + 0.6))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.99 - 0.6 / (size * rows + 0.6)))
    for i in range(n):
        r, q = divmod(i, cols)
        canvas[r * step + gap : (r + 1) * step, q * step : q * step + p] = shown[i]
        label = f"PC {i + 1}" + (f" ({float(variance[i]):.0%})" if variance is not None else "")
        ax.text(q * step + (p - 1) / 2, r * step + gap - 0.6, label, ha="center", va="bottom", fontsize=7,
                gid=f"tile {i}")
    _imshow(ax, canvas, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"each tile {p} x {p} px, min-max scaled on its own", fontsize=8)
    fig.suptitle(title or f"Embedding filters: the first {n} principal components")
    return fig


def plot_attention_distance(distance, patch_size: int, image_size: int | None = None, highlight: int | None = None,
                            compare=None, compare_label: str = "without renormalising", title: str | None = None,
                            num_images: int | None = None, uniform: float | None = None) -> Figure:
    """Figure 7 (right): mean attention distance of every head against layer depth.

    distance: (L, H) pixels, one dot per head (`vitlib.probes.mean_attention_distance`).
    highlight: a head index whose dots are drawn large and joined across layers.
    compare: (L, H) another convention (e.g. renormalise=False), drawn as hollow markers.
    image_size: draws the largest possible distance (the image diagonal) as a reference line.
    uniform: the distance of uniform attention over the patches, drawn as a dashed reference line.
    """
    d = np.asarray(distance.detach().cpu() if hasattr(distance, "detach") else distance, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"expected distances of shape (layers, heads), got {d.shape}")
    layers, heads = d.shape
    if highlight is not None and not 0 <= highlight < heads:
        raise ValueError(f"head {highlight} does not exist: this model has heads 0..{heads - 1}")
    depth = np.arange(1, layers + 1)
    jitter = (np.arange(heads) - (heads - 1) / 2) * min(0.3 / max(heads, 1), 0.05)  # heads side by side
    fig = Figure(figsize=(6.0, 4.4))  # manual layout: a widget redraws this on every move
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.92)
    ax = fig.add_subplot()
    colours = matplotlib.colormaps["tab10" if heads <= 10 else "tab20"]
    for h in range(heads):
        x = depth + jitter[h]
        faded = highlight is not None and h != highlight
        ax.scatter(x, d[:, h], s=22, color=colours(h % colours.N), alpha=0.25 if faded else 0.9,
                   label=f"head {h}", zorder=3)
    if compare is not None:
        c = np.asarray(compare.detach().cpu() if hasattr(compare, "detach") else compare, dtype=np.float32)
        if c.shape != d.shape:
            raise ValueError(f"compare has shape {c.shape}, expected {d.shape}")
        for h in range(heads):
            ax.scatter(depth + jitter[h], c[:, h], s=22, facecolors="none", edgecolors="gray", linewidths=0.8,
                       label=compare_label if h == 0 else None, zorder=2)
    if highlight is not None:
        ax.plot(depth + jitter[highlight], d[:, highlight], "-o", color=colours(highlight % colours.N), ms=9,
                mec="black", lw=1.5, zorder=4, label=f"head {highlight} (highlighted)")
    if image_size is not None:
        ax.axhline(image_size * np.sqrt(2), color="gray", ls=":", lw=1, label="image diagonal")
    if uniform is not None:
        ax.axhline(uniform, color="black", ls="--", lw=1, label=f"uniform attention ({uniform:.1f} px)")
    ax.set_xticks(depth)
    ax.set_xlim(0.5, layers + 0.5)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Network depth (layer)")
    ax.set_ylabel("Mean attention distance (pixels)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if heads <= 8:
        ax.legend(handles, labels, fontsize=7, loc="upper left", ncols=2)
    suffix = f", {num_images} image{'s' if num_images != 1 else ''}" if num_images is not None else ""
    ax.set_title(title or f"Mean attention distance, patch {patch_size} px{suffix}")
    return fig


def plot_attention_rollout(image, rollout, patch_size: int, head_map=None, query=None, head_title: str = "",
                           title: str | None = None, size: float = 3.0) -> Figure:
    """Attention maps and attention rollout over one image (Figure 6 style).

    image: one image; rollout (G, G): the [class] token's rolled-out attention (`probes.attention_rollout`).
    head_map (G, G): optional, one head's attention from one query (`probes.attention_maps`), drawn in its
    own panel with the query patch boxed (query = (row, col), or None for the [class] token).
    Panels: input | head_map (if given) | rollout over the image | image x rollout (the paper's Figure 6).
    """
    img = as_hwc(image)
    h, w = img.shape[:2]
    rollout = np.asarray(rollout.detach().cpu() if hasattr(rollout, "detach") else rollout, dtype=np.float32)
    if rollout.ndim != 2 or rollout.shape[0] * patch_size != h or rollout.shape[1] * patch_size != w:
        raise ValueError(f"a rollout of shape {rollout.shape} with {patch_size}-pixel patches does not match "
                         f"a {h}x{w} image")
    panels = ["input"] + (["head"] if head_map is not None else []) + ["rollout", "masked"]
    fig = Figure(figsize=(size * len(panels) + 0.8, size + 0.9))  # manual layout: cheaper to redraw
    fig.subplots_adjust(left=0.05, right=0.96, bottom=0.13, top=0.76 if title else 0.84, wspace=0.5)
    axes = dict(zip(panels, fig.subplots(1, len(panels), squeeze=False)[0]))
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    grey = img.mean(axis=-1)
    _imshow(axes["input"], img, interpolation="nearest")
    axes["input"].set_title("input")
    if head_map is not None:
        m = np.asarray(head_map.detach().cpu() if hasattr(head_map, "detach") else head_map, dtype=np.float32)
        ax = axes["head"]
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        shown = ax.imshow(m, cmap="inferno", vmin=0, vmax=max(float(m.max()), 1e-8), alpha=0.65, extent=extent,
                          interpolation="nearest")
        if query is not None:
            r, c = query
            ax.add_patch(Rectangle((c * patch_size - 0.5, r * patch_size - 0.5), patch_size, patch_size,
                                   fill=False, edgecolor="cyan", lw=2))
        ax.set_title(head_title or "one head, one query", fontsize=10)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="attention weight").locator = MaxNLocator(3)
    ax = axes["rollout"]
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = ax.imshow(rollout, cmap="inferno", vmin=0, vmax=max(float(rollout.max()), 1e-8), alpha=0.65,
                      extent=extent, interpolation="bilinear")
    ax.set_title("attention rollout ([class] token)", fontsize=10)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="rolled-out weight").locator = MaxNLocator(3)
    mask = np.kron(minmax_scale(rollout), np.ones((patch_size, patch_size), dtype=np.float32))  # (H, W)
    _imshow(axes["masked"], img * mask[:, :, None], interpolation="nearest")
    axes["masked"].set_title("input x rollout (Figure 6)", fontsize=10)
    for name, ax in axes.items():
        if name != "input":  # pixel ticks on the input only: tick labels are most of the drawing time
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{w} px, patches of {patch_size} px")
    axes["input"].set_xlabel("x (pixels)")
    axes["input"].set_ylabel("y (pixels)")
    if title:
        fig.suptitle(title)
    return fig


# --- notebook 07 (fine-tuning) ---

__all__ += ["plot_finetune_results"]

_INIT_STYLE = {"pretrained": ("tab:blue", "o", "pretrained"), "scratch": ("tab:orange", "s", "from scratch")}


def _budget_label(labels_per_class) -> str:
    return "all" if labels_per_class is None else str(labels_per_class)


def _finetune_inits(results: dict) -> list:
    """The inits in `results` (keys (init, image_size, labels_per_class)): pretrained, scratch, then any others."""
    if not results:
        raise ValueError("results is empty; pass what vitlib.finetune.sweep returns: "
                         "{(init, image_size, labels_per_class): [test accuracy per seed]}")
    for key in results:
        if not (isinstance(key, tuple) and len(key) == 3):
            raise ValueError(f"results key {key!r} is not (init, image_size, labels_per_class); "
                             "pass what vitlib.finetune.sweep returns")
    found = list(dict.fromkeys(init for init, _, _ in results))
    return [i for i in _INIT_STYLE if i in found] + [i for i in found if i not in _INIT_STYLE]


def _finetune_cell(results: dict, image_size: int, labels_per_class) -> dict:
    """{init: (mean %, std %, accuracies % (S,))} of one (image size, budget) cell, for every init in results.

    Raises ValueError naming the inits that have no result there and what was run instead.
    """
    inits = _finetune_inits(results)
    sizes = sorted({s for _, s, _ in results})
    if image_size not in sizes:
        raise ValueError(f"no results at {image_size} px; the results have image sizes "
                         f"{', '.join(f'{s} px' for s in sizes)}: pick one of those, or add {image_size} to "
                         "the sweep's image_sizes")
    cell, missing = {}, []
    for init in inits:
        acc = np.asarray(results.get((init, image_size, labels_per_class), []), dtype=float).ravel()
        if acc.size == 0:
            missing.append(init)
        else:
            cell[init] = (100 * acc.mean(), 100 * acc.std(), 100 * acc)
    if missing:
        what = "all labels" if labels_per_class is None else f"{labels_per_class} labels per class"
        done = []
        for init in missing:
            budgets = sorted((b for i, s, b in results if i == init and s == image_size), key=_budget_order)
            done.append(f"{_INIT_STYLE.get(init, (0, 0, init))[2]} at {image_size} px has "
                        + (", ".join(map(_budget_label, budgets)) if budgets else "no runs"))
        raise ValueError(f"no results for {' and '.join(_INIT_STYLE.get(i, (0, 0, i))[2] for i in missing)} with "
                         f"{what} at {image_size} px ({'; '.join(done)}); pick another cell, or add "
                         f"labels_per_class={labels_per_class} and image_size={image_size} to the sweep")
    return cell


def _budget_order(labels_per_class):
    """Sort key: label budgets in increasing order, None ("all") last."""
    return (labels_per_class is None, labels_per_class or 0)


def plot_finetune_results(results: dict, image_size: int, labels_per_class, title: str | None = None) -> Figure:
    """Pretrained vs from scratch on a label budget (notebook 07).

    results: {(init, image_size, labels_per_class): [final test accuracy per seed, in [0, 1]]}, what
             `vitlib.finetune.sweep` returns; labels_per_class None means all labels.
    Left: test accuracy (%) against labels per class at `image_size` (log axis, "all" drawn at twice the
    largest budget), one line per init, mean ± std over seeds (no error bar for one seed), the chosen
    budget marked by a dashed line. Right: the chosen cell, one bar per init (mean, std, one dot per seed).
    Raises ValueError if the chosen cell is missing for an init.
    """
    cell = _finetune_cell(results, image_size, labels_per_class)
    inits = _finetune_inits(results)
    budgets = sorted({b for _, s, b in results if s == image_size}, key=_budget_order)
    numbers = [b for b in budgets if b is not None]
    all_at = 2.0 * max(numbers) if numbers else 1.0

    def x_of(b):
        return all_at if b is None else float(b)

    fig = Figure(figsize=(9, 3.6))  # manual layout: a widget redraws this on every move
    fig.subplots_adjust(left=0.075, right=0.98, bottom=0.15, top=0.8 if title else 0.88, wspace=0.3)
    ax, ax_bar = fig.subplots(1, 2, width_ratios=[1.75, 1])
    low = 100.0
    for k, init in enumerate(inits):
        color, marker, name = _INIT_STYLE.get(init, (f"C{k + 2}", "o", init))
        points = []
        for b in budgets:
            acc = np.asarray(results.get((init, image_size, b), []), dtype=float).ravel()
            if acc.size:
                points.append((x_of(b), 100 * acc.mean(), 100 * acc.std(), acc.size))
        if not points:
            continue
        x, mean, std, n = (np.array(v) for v in zip(*points))
        ax.plot(x, mean, marker=marker, color=color, label=name)
        several = n > 1
        if several.any():
            ax.errorbar(x[several], mean[several], yerr=std[several], fmt="none", ecolor=color, capsize=3)
        low = min(low, float((mean - std).min()))
    chosen = x_of(labels_per_class)
    ax.axvline(chosen, color="black", ls="--", lw=1, label=f"chosen: {_budget_label(labels_per_class)}")
    ax.set_xscale("log")
    ax.set_xticks([x_of(b) for b in budgets], [_budget_label(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlim(min(x_of(b) for b in budgets) / 1.4, max(x_of(b) for b in budgets) * 1.4)
    ax.set_ylim(max(0.0, low - 5), 101)
    ax.set(xlabel="labelled training images per class (log axis)", ylabel="test accuracy (%)")
    ax.set_title(f"{image_size} px digits: test accuracy against the label budget", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")

    seeds = max(len(v[2]) for v in cell.values())
    bottom = max(0.0, min(min(float(v[2].min()) for v in cell.values()), low) - 5)
    for i, init in enumerate(cell):
        color, _, name = _INIT_STYLE.get(init, (f"C{inits.index(init) + 2}", "o", init))
        mean, std, acc = cell[init]
        ax_bar.bar(i, mean, yerr=std if len(acc) > 1 else None, capsize=4, color=color, alpha=0.7, width=0.6)
        ax_bar.plot(np.full(len(acc), i), acc, "k.", ms=6)
        ax_bar.text(i, (bottom + mean) / 2, f"{mean:.1f}%", ha="center", va="center", fontsize=10,
                    fontweight="bold")
    ax_bar.set_ylim(bottom, 101)
    ax_bar.set_xticks(range(len(cell)), [_INIT_STYLE.get(i, (0, 0, i))[2] for i in cell])
    what = "all labels" if labels_per_class is None else f"{labels_per_class} labels per class"
    ax_bar.set_ylabel("test accuracy (%)")
    ax_bar.set_title(f"{what}, " + (f"mean ± std of {seeds} seeds" if seeds > 1 else "1 seed"), fontsize=10)
    ax_bar.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig
