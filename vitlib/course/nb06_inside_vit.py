"""Notebook 06 (inside a ViT): Figure 7's three panels, attention maps and rollout, and the exercise checkers.

    plot_filter_pcs            Figure 7 (left): principal components of the patch-embedding filters
    plot_attention_distance    Figure 7 (right): mean attention distance per head against depth
    plot_distance_panels       the same for several models side by side (standard, locality-seeded, ...)
    plot_attention_rollout     attention of one head and attention rollout over an image (Figure 6)
    filter_pcs_widget, attention_distance_widget, attention_maps_widget: the same, with controls
    (Figure 7, centre, is `vitlib.course.ui.pos_similarity_widget`, which notebook 07 uses too)
    check_patch_attention      exercise: drop the [class] token, renormalise over the patch keys
    check_head_distance        exercise: one head's mean attention distance in pixels
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import matplotlib
import numpy as np
import torch
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..probes import (
    attention_distance_per_image,
    attention_maps,
    attention_rollout,
    embedding_filter_pcs,
    mean_attention_distance,
    run_with_attention,
)
from ..patches import patch_distances
from . import figures
from .exercise import ExerciseError, checker, name_the_mistake, passed, require_tensor, run_answer
from .ui import SliderFigure, as_model_dict, image_layer_sliders, int_slider, pos_similarity_widget

__all__ = ["minmax_scale", "plot_filter_pcs", "plot_attention_distance", "plot_distance_panels", "subspace_overlap",
           "HeadPanel", "plot_attention_rollout", "filter_pcs_widget", "pos_similarity_widget",
           "attention_distance_widget", "attention_maps_widget", "empty_patches", "check_patch_attention",
           "check_head_distance"]


# ------------------------------ drawings

CONVENTION = ("class token excluded, weights renormalised over the patch keys \N{EM DASH}\n"
              "our convention; the paper's Appendix D.7 does not say")


def minmax_scale(x, axis=None) -> np.ndarray:
    """Scale to [0, 1] by (x - min) / (max - min) over `axis` (None: all of x); constant parts become 0.5."""
    x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), 0.5).astype(np.float32)


def subspace_overlap(components_a, components_b) -> float:
    """How much two sets of k principal components (k, ...) span the same directions: in [0, 1].

    Both are orthonormal rows once flattened (k, d); the overlap is ||A B^T||^2 / k, the mean squared
    cosine of the principal angles: 1 for the same subspace, about k / d for two random ones.
    """
    a = torch.as_tensor(components_a).flatten(1).float()  # (k, d)
    b = torch.as_tensor(components_b).flatten(1).float()
    if a.shape != b.shape:
        raise ValueError(f"both sets need the same number of components of the same size, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    return float((a @ b.T).square().sum() / len(a))


def plot_filter_pcs(pcs, n: int | None = None, variance=None, title: str | None = None, size: float = 1.25) -> Figure:
    """Figure 7 (left): principal components of the patch-embedding filters as a grid sized to fit them.

    pcs: (K, P, P, C) from `vitlib.probes.embedding_filter_pcs`, component 0 first. The first `n`
    (default all) are drawn; each is min-max scaled on its own for display (a component's sign and
    scale are arbitrary). variance: (K,) explained-variance ratios, shown in the titles. The grid is
    7 wide for more than 16 components (the paper's 28 make its 4 x 7) and about square otherwise
    (16 make 4 x 4). Drawn as one image on one axes (cheap to redraw); tile i's label is a text
    artist with gid "tile i".
    """
    pcs = np.asarray(pcs.detach().cpu() if hasattr(pcs, "detach") else pcs, dtype=np.float32)
    if pcs.ndim != 4 or pcs.shape[1] != pcs.shape[2] or pcs.shape[-1] not in (1, 3):
        raise ValueError(f"expected components of shape (K, P, P, C) with C = 1 or 3, got {pcs.shape}; "
                         "use vitlib.probes.embedding_filter_pcs")
    n = len(pcs) if n is None else int(n)
    if not 1 <= n <= len(pcs):
        raise ValueError(f"n = {n} components, but {len(pcs)} are given; use 1 <= n <= {len(pcs)}")
    cols = 7 if n > 16 else int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    shown = minmax_scale(pcs[:n], axis=(1, 2, 3))  # each component to [0, 1] on its own
    p, c = pcs.shape[1], pcs.shape[-1]
    gap = max(1, p // 4)  # blank pixels above each tile (its label goes there) and between tiles
    step = p + gap
    canvas = np.ones((rows * step, cols * step - gap, c), dtype=np.float32)  # white background
    # one image of all tiles, not rows * cols axes: a widget redraws it on every slider move
    title = title or f"Embedding filters: the first {n} principal components"
    head = 0.45 + 0.25 * (title.count("\n") + 1)  # inches above the tiles: the title's lines, the subtitle
    fig = Figure(figsize=(max(size * cols + 0.3, 6.4), size * rows + head))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.99 - head / (size * rows + head)))
    for i in range(n):
        r, q = divmod(i, cols)
        canvas[r * step + gap : (r + 1) * step, q * step : q * step + p] = shown[i]
        share = float(variance[i]) if variance is not None else None
        label = f"PC {i + 1}" + ("" if share is None else f" ({share:.0%})" if share >= 0.01 else f" ({share:.1%})")
        ax.text(q * step + (p - 1) / 2, r * step + gap - 0.6, label, ha="center", va="bottom", fontsize=7,
                gid=f"tile {i}")
    figures.show_image(ax, canvas, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"each tile {p} x {p} px, min-max scaled on its own", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def plot_attention_distance(distance, patch_size: int, image_size: int | None = None, highlight: int | None = None,
                            compare=None, compare_label: str = "without renormalising", title: str | None = None,
                            num_images: int | None = None, uniform: float | None = None,
                            convention: str | None = CONVENTION) -> Figure:
    """Figure 7 (right): mean attention distance of every head against layer depth.

    distance: (L, H) pixels, one dot per head (`vitlib.probes.mean_attention_distance`).
    highlight: a head index whose dots are drawn large and joined across layers.
    compare: (L, H) another convention (e.g. renormalise=False), drawn as hollow markers.
    image_size: the image diagonal (the largest possible distance) is drawn if the data come near it.
    uniform: the distance of uniform attention over the patches, drawn as a dashed reference line.
    The y axis spans the data and the reference line (not from 0: the spread between heads is the point).
    convention: a note under the plot on how the distances were computed.
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
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.19 if convention else 0.11, top=0.92)
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
    shown = [d] + ([c] if compare is not None else []) + ([np.array([uniform])] if uniform is not None else [])
    lo, hi = min(float(v.min()) for v in shown), max(float(v.max()) for v in shown)
    pad = max(0.5, 0.15 * (hi - lo))
    lo, hi = max(0.0, lo - pad), hi + 3 * pad  # room above for the legend
    if image_size is not None and image_size * np.sqrt(2) <= hi + pad:
        ax.axhline(image_size * np.sqrt(2), color="gray", ls=":", lw=1, label="image diagonal")
        hi = image_size * np.sqrt(2) + pad
    if uniform is not None:
        ax.axhline(uniform, color="black", ls="--", lw=1, label=f"uniform attention ({uniform:.1f} px)")
    ax.set_xticks(depth)
    ax.set_xlim(0.5, layers + 0.5)
    ax.set_ylim(lo, hi)
    if convention:
        fig.text(0.5, 0.01, convention, ha="center", va="bottom", fontsize=7.5, color="dimgray")
    ax.set_xlabel("Network depth (layer)")
    ax.set_ylabel("Mean attention distance (pixels)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if heads <= 8:
        ax.legend(handles, labels, fontsize=7, loc="upper left", ncols=2)
    suffix = f", {num_images} image{'s' if num_images != 1 else ''}" if num_images is not None else ""
    ax.set_title(title or f"Mean attention distance, patch {patch_size} px{suffix}")
    return fig


def plot_distance_panels(distances: dict, uniform: float, title: str | None = None) -> Figure:
    """Figure 7 (right) for several models side by side: one panel per model, one dot per head.

    distances: {panel title: (L, H) mean attention distances in pixels}; uniform: the distance of uniform
    attention, drawn dashed in every panel. The y axes are shared and start at 0, so a local head
    (a few pixels) and a uniform one (about half the image) are told apart at a glance.
    """
    if not distances:
        raise ValueError("distances is empty: pass {panel title: (layers, heads) distances}")
    arrays = {name: np.asarray(d.detach().cpu() if hasattr(d, "detach") else d, dtype=np.float32)
              for name, d in distances.items()}
    if any(a.ndim != 2 for a in arrays.values()):
        raise ValueError("each entry must be (layers, heads) distances, got shapes "
                         f"{[a.shape for a in arrays.values()]}")
    top = 1.25 * max(uniform, *(float(a.max()) for a in arrays.values()))
    fig = Figure(figsize=(2.6 * len(arrays) + 0.6, 3.4), layout="constrained")
    axes = fig.subplots(1, len(arrays), sharey=True, squeeze=False)[0]
    for ax, (name, d) in zip(axes, arrays.items()):
        layers, heads = d.shape
        for h in range(heads):
            ax.scatter(np.arange(1, layers + 1) + (h - (heads - 1) / 2) * 0.06, d[:, h], s=16, zorder=3)
        ax.axhline(uniform, color="black", ls="--", lw=1, label=f"uniform attention ({uniform:.1f} px)")
        ax.set(xticks=np.arange(1, layers + 1), xlim=(0.5, layers + 0.5), ylim=(0, top), xlabel="layer")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean attention distance (px)")
    axes[0].legend(loc="lower right", fontsize=7.5)  # below the dots of a uniform model, above the axis
    fig.suptitle(title or "Mean attention distance per head (one dot per head)", fontsize=11)
    return fig


@dataclass
class HeadPanel:
    """The artists of the one-head panel of `plot_attention_rollout`, so a widget can redraw just them."""

    axes: object
    overlay: object  # the attention map drawn over the image (an AxesImage)
    box: Rectangle  # the query patch's outline; hidden when the query is the [class] token
    patch_size: int

    def update(self, head_map, query, title: str) -> None:
        """Show `head_map` (G, G) from `query` ((row, col), or None for the [class] token) under `title`."""
        m = np.asarray(head_map, dtype=np.float32)  # NaN where a patch is hidden
        self.overlay.set_data(m)
        self.overlay.set_clim(0, max(float(np.nanmax(m)), 1e-8))
        self.box.set_visible(query is not None)
        if query is not None:
            r, c = query
            self.box.set_xy((c * self.patch_size - 0.5, r * self.patch_size - 0.5))
        self.axes.set_title(title, fontsize=10)


def plot_attention_rollout(image, rollout, patch_size: int, head_map=None, query=None, head_title: str = "",
                           title: str | None = None, size: float = 3.0, return_head_panel: bool = False,
                           hidden=None):
    """Attention maps and attention rollout over one image (Figure 6 style) -> Figure.

    image: one image; rollout (G, G): the [class] token's rolled-out attention (`probes.attention_rollout`).
    head_map (G, G): optional, one head's attention from one query (`probes.attention_maps`), drawn in its
    own panel with the query patch boxed (query = (row, col), or None for the [class] token).
    Panels: input | head_map (if given) | rollout over the image | image x rollout (the paper's Figure 6;
    the rollout is divided by its largest value, so the most-attended patch keeps its full brightness).
    hidden (G, G) bool: patches left out of the maps (drawn without colour, and not counted in the colour
    scale), e.g. empty background, so that the weight on the rest can be seen.
    return_head_panel: return (Figure, HeadPanel), the head panel's artists for a cheap redraw.
    """
    img = figures.as_hwc(image)
    h, w = img.shape[:2]
    rollout = np.asarray(rollout.detach().cpu() if hasattr(rollout, "detach") else rollout, dtype=np.float32)
    if rollout.ndim != 2 or rollout.shape[0] * patch_size != h or rollout.shape[1] * patch_size != w:
        raise ValueError(f"a rollout of shape {rollout.shape} with {patch_size}-pixel patches does not match "
                         f"a {h}x{w} image")
    hide = np.zeros(rollout.shape, dtype=bool) if hidden is None else np.asarray(hidden, dtype=bool)
    rollout = np.where(hide, np.nan, rollout)  # NaN: not drawn (the colour map's "bad" colour is transparent)
    inferno = matplotlib.colormaps["inferno"].with_extremes(bad=(0, 0, 0, 0))
    panels = ["input"] + (["head"] if head_map is not None else []) + ["rollout", "masked"]
    fig = Figure(figsize=(size * len(panels) + 0.8, size + 0.9))  # manual layout: cheaper to redraw
    fig.subplots_adjust(left=0.05, right=0.96, bottom=0.13, top=0.76 if title else 0.84, wspace=0.5)
    axes = dict(zip(panels, fig.subplots(1, len(panels), squeeze=False)[0]))
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    grey = img.mean(axis=-1)
    figures.show_image(axes["input"], img, interpolation="nearest")
    axes["input"].set_title("input")
    if head_map is not None:
        m = np.asarray(head_map.detach().cpu() if hasattr(head_map, "detach") else head_map, dtype=np.float32)
        m = np.where(hide, np.nan, m)
        ax = axes["head"]
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        shown = ax.imshow(m, cmap=inferno, vmin=0, vmax=max(float(np.nanmax(m)), 1e-8), alpha=0.65, extent=extent,
                          interpolation="nearest")
        box = ax.add_patch(Rectangle((-0.5, -0.5), patch_size, patch_size, fill=False, edgecolor="cyan", lw=2))
        panel = HeadPanel(ax, shown, box, patch_size)
        panel.update(m, query, head_title or "one head, one query")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="attention weight").locator = MaxNLocator(3)
    ax = axes["rollout"]
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    top = max(float(np.nanmax(rollout)), 1e-8)
    shown = ax.imshow(rollout, cmap=inferno, vmin=0, vmax=top, alpha=0.65, extent=extent,
                      interpolation="nearest" if hide.any() else "bilinear")
    ax.set_title("attention rollout ([class] token)", fontsize=10)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="rolled-out weight").locator = MaxNLocator(3)
    mask = np.kron(np.nan_to_num(rollout / top), np.ones((patch_size, patch_size), dtype=np.float32))  # (H, W)
    figures.show_image(axes["masked"], img * mask[:, :, None], interpolation="nearest")
    axes["masked"].set_title("input x rollout / its max (Fig. 6)", fontsize=10)
    for name, ax in axes.items():
        if name != "input":  # pixel ticks on the input only: tick labels are most of the drawing time
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"{w} px, patches of {patch_size} px")
    axes["input"].set_xlabel("x (pixels)")
    axes["input"].set_ylabel("y (pixels)")
    if title:
        fig.suptitle(title)
    if return_head_panel:
        if head_map is None:
            raise ValueError("return_head_panel=True needs a head_map to draw the head panel")
        return fig, panel
    return fig


# ------------------------------ widgets


def filter_pcs_widget(models, components: int | None = None, max_components: int = 28) -> SliderFigure:
    """Figure 7 (left): principal components of each model's patch-embedding filters.

    models: a ViT or a dict name -> ViT or patch-embedding weight (D, C, P, P), e.g. {"random init": m0,
    "trained on digits": m, "what training added": w - w0}. The PCA of every entry runs once here; the
    controls `model` (dropdown) and `components` (slider) only pick what to draw. D filters of P*P*C
    values have at most min(D, P*P*C) components (4 x 4 grey patches: 16); the slider runs up to the
    most any entry has (at most max_components, the paper's 28), and the grid is sized to what is drawn.
    An entry with fewer components than asked for shows a message.
    """
    models = as_model_dict(models)
    pcs = {}
    for name, model in models.items():
        weight = model.patch_embed.proj.weight if isinstance(model, torch.nn.Module) else torch.as_tensor(model)
        if weight.ndim != 4:
            raise ValueError(f"{name}: expected a ViT or a patch-embedding weight (D, C, P, P), got shape "
                             f"{tuple(weight.shape)}")
        d, c, p, _ = weight.shape
        k = min(d, p * p * c, max_components)
        pcs[name] = (*embedding_filter_pcs(weight, n=k, return_variance=True), d, p, c)

    def draw(values):
        name, n = values["model"], values["components"]
        comps, ratio, d, p, c = pcs[name]
        why = (f"{d} filters of P*P*C = {p}*{p}*{c} = {p * p * c} values have at most "
               f"{min(d, p * p * c)} principal components")
        if not 1 <= n <= len(comps):
            raise ValueError(f"{name}: {why}" + (f" (up to {max_components} are shown)" if len(comps) == max_components
                                                 else "") + f"; choose 1..{len(comps)}")
        fig = plot_filter_pcs(comps, n=n, variance=ratio,
                                     title=f"{name}:\nfirst {n} principal components of its {d} embedding "
                                           f"filters ({p}x{p}x{c})")
        message = (f"The first {n} components explain {float(ratio[:n].sum()):.0%} of the filters' variance "
                   f"(PC 1 alone {float(ratio[0]):.0%}). Each tile is scaled to its own min..max. {why}.")
        return fig, message

    first, most = len(next(iter(pcs.values()))[0]), max(len(v[0]) for v in pcs.values())
    controls = {
        "model": widgets.Dropdown(options=list(models), description="model"),
        "components": widgets.IntSlider(value=min(components or first, first), min=1, max=most,
                                   description="components", continuous_update=False),
    }
    return SliderFigure(controls, draw)


def attention_distance_widget(models, images, num_images: int | None = None) -> SliderFigure:
    """Figure 7 (right): mean attention distance per head against depth, averaged over the first n images.

    models: a ViT or a dict name -> ViT (same image size); images (B, C, H, W). Each model runs once
    here, and the distance of every head is computed per image, with and without renormalising over the
    patch keys (`probes.mean_attention_distance`). Controls: `model`, `images` (how many to average,
    1..B), `head` (-1 = none, else the head to highlight), `compare` (also draw the unrenormalised
    convention as hollow markers).
    """
    models = as_model_dict(models)
    images = torch.as_tensor(images)
    per_image = {}  # name -> (renormalised (B, L, H), unrenormalised (B, L, H), cfg)
    for name, model in models.items():
        _, attn = run_with_attention(model, images)  # (L, B, H, T, T)
        cfg = model.cfg
        both = [attention_distance_per_image(attn, cfg.patch_size, renormalise=r).transpose(0, 1).numpy()
                for r in (True, False)]  # each (B, L, H)
        per_image[name] = (*both, cfg)
    most_heads = max(v[2].heads for v in per_image.values())

    def draw(values):
        name, n, head = values["model"], values["images"], values["head"]
        renorm, raw, cfg = per_image[name]
        if not 1 <= n <= len(renorm):
            raise ValueError(f"average over 1..{len(renorm)} images, not {n}")
        if head >= cfg.heads:
            raise ValueError(f"{name} has {cfg.heads} heads (0..{cfg.heads - 1}); there is no head {head}")
        d = renorm[:n].mean(0)  # (L, H)
        uniform = float(patch_distances(cfg.grid_size, cfg.patch_size).mean())  # every patch key weighted 1/N
        fig = plot_attention_distance(d, cfg.patch_size, cfg.image_size, highlight=None if head < 0 else head,
                                             uniform=uniform,
                                             compare=raw[:n].mean(0) if values["compare"] else None,
                                             num_images=n,
                                             title=f"{name}: mean attention distance, {n} image{'s' * (n != 1)}")
        first, last = d[0], d[-1]
        message = (f"Uniform attention would give {uniform:.1f} px. "
                   f"Layer 1: heads from {first.min():.1f} to {first.max():.1f} px; layer {len(d)}: "
                   f"{last.min():.1f} to {last.max():.1f} px (mean {first.mean():.1f} -> {last.mean():.1f} px). "
                   f"A {cfg.image_size} px image with {cfg.patch_size} px patches.")
        if head >= 0:
            message += " Head " + str(head) + ": " + ", ".join(f"{x:.1f}" for x in d[:, head]) + " px by layer."
        return fig, message

    b = len(images)
    controls = {
        "model": widgets.Dropdown(options=list(models), description="model"),
        "images": widgets.IntSlider(value=min(num_images or b, b), min=1, max=b, description="images averaged",
                               continuous_update=False, style={"description_width": "initial"}),
        "head": widgets.Dropdown(options=[("none", -1)] + [(f"head {h}", h) for h in range(most_heads)], value=-1,
                            description="highlight"),
        "compare": widgets.Checkbox(value=False, description="also without renormalising", indent=False),
    }
    return SliderFigure(controls, draw, rows=[["images", "head"], ["model", "compare"]])


def attention_maps_widget(model, images, labels=None, class_names=None) -> SliderFigure:
    """Attention maps and attention rollout (Figure 6) of one model over a few images.

    The model runs once here; attention rollout (`probes.attention_rollout`) is computed once per image.
    Controls: `image`, `layer` (1..L), `head` (0..H-1), `query` (a patch index in raster order, or -1 for
    the [class] token), `hide_empty` (leave the empty patches, `empty_patches`, out of the maps). Panels: the
    input, the chosen head's map from the query (`probes.attention_maps`), the rollout over the image and the
    image masked by it. Moving `layer`, `head` or `query` updates the
    head panel of the current figure in place (so `.figure` may stay the same object; `.canvas.value`,
    the PNG shown, changes); moving `image` builds a new figure.
    """

    cfg = model.cfg
    images = torch.as_tensor(images)
    logits, attn = run_with_attention(model, images)  # (L, B, H, T, T)
    rollout = attention_rollout(list(attn)).numpy()  # (B, G, G)
    preds = logits.argmax(-1).tolist()
    g, p, n = cfg.grid_size, cfg.patch_size, cfg.num_patches
    names = class_names or [str(i) for i in range(max(cfg.num_classes, 1))]
    empty = empty_patches(images, p).numpy()  # (B, G, G) bool

    shown = {"image": None, "figure": None, "panel": None}  # the current image's figure, updated in place

    def draw(values):
        b, layer, head, query, hide = (values[k] for k in ("image", "layer", "head", "query", "hide_empty"))
        if not (0 <= b < len(images) and 1 <= layer <= cfg.depth and 0 <= head < cfg.heads and -1 <= query < n):
            raise ValueError(f"image must be in 0..{len(images) - 1}, layer in 1..{cfg.depth}, head in "
                             f"0..{cfg.heads - 1}, query in -1..{n - 1} (-1 = the [class] token)")
        maps = attention_maps(attn[layer - 1, b:b + 1, head:head + 1], query)[0, 0].numpy()  # (G, G)
        where = None if query == -1 else divmod(query, g)
        who = "[class]" if query == -1 else f"patch {query} (row {where[0]}, col {where[1]})"
        head_title = f"layer {layer}, head {head}\nquery {who}"
        hidden = empty[b] if hide else None
        if shown["image"] != (b, hide):  # a new image: a new figure (the rollout panels change)
            truth = f"label {names[int(labels[b])]}, " if labels is not None else ""
            shown["figure"], shown["panel"] = plot_attention_rollout(
                images[b], rollout[b], p, head_map=maps, query=where, head_title=head_title,
                title=f"image {b} ({truth}predicted {names[preds[b]]})", return_head_panel=True, hidden=hidden)
            shown["image"] = (b, hide)
        # the same image: only the head panel changes. Updating its artists is several times faster than
        # building a new figure (creating axes and tick labels is most of matplotlib's time here).
        shown["panel"].update(maps if hidden is None else np.where(hidden, np.nan, maps), where, head_title)
        fig = shown["figure"]
        row = attn[layer - 1, b, head, 0 if query == -1 else 1 + query]  # (T,)
        message = (f"Layer {layer}, head {head}, query {who}: {float(row[1:].sum()):.0%} of the weight on the "
                   f"{n} patches, {float(row[0]):.0%} on the [class] key. Rollout: all {cfg.depth} layers, heads "
                   "averaged, residual added (A + I, rows renormalised), multiplied through: "
                   f"{rollout[b][empty[b]].sum() / rollout[b].sum():.0%} of its weight on the {int(empty[b].sum())} "
                   f"empty patches ({empty[b].mean():.0%} of the patches).")
        return fig, message

    controls = {
        **image_layer_sliders(len(images), cfg.depth, "300px"),
        "head": int_slider("head", 0, cfg.heads - 1, 0, "300px"),
        "query": int_slider("query patch", -1, n - 1, (g // 2) * g + g // 2, "300px"),
        "hide_empty": widgets.Checkbox(value=False, description="hide empty patches", indent=False),
    }
    return SliderFigure(controls, draw, rows=[["image", "layer"], ["head", "query"], ["hide_empty"]])


def empty_patches(images, patch_size: int, tolerance: float = 0.05) -> torch.Tensor:
    """(B, C, H, W) -> (B, G, G) bool: patches whose every pixel is within `tolerance` of the image's range
    from its darkest value (the black background around a digit)."""
    x = torch.as_tensor(images).float()
    lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
    ink = (x - lo) > tolerance * (hi - lo)  # (B, C, H, W)
    return ~rearrange(ink, "b c (g p) (h q) -> b g h (c p q)", p=patch_size, q=patch_size).any(dim=-1)


# ------------------------------ the small ViT of section 1, one per seed

DIGITS_VIT = dict(image_size=32, patch_size=4, in_channels=1, num_classes=10, dim=64, depth=6, heads=8, mlp_dim=128)
DIGITS_FIT = dict(lr=4e-3, batch_size=64, warmup_epochs=1, label_smoothing=0.1, shift=2)


def train_digits_vit(seed: int, epochs: int, precision: str = "auto"):
    """Section 1's ViT (an 8 x 8 grid of 4 px patches on the 32 px digits, 6 layers x 8 heads, D = 64) trained
    from the random start of `seed` (which also orders the batches and shifts); the test split is fixed.

    -> (trained model, its untrained start, History), both models in eval mode. Importable, so
    `vitlib.parallel.run_in_processes` can train one seed per process.
    """
    from ..data import load_digits
    from ..model import ViT, ViTConfig
    from ..train import fit

    x_train, y_train, x_test, y_test = load_digits(image_size=32, channels=1, seed=0)  # one split for every seed
    torch.manual_seed(seed)
    model = ViT(ViTConfig(**DIGITS_VIT))
    start = copy.deepcopy(model)
    history = fit(model, (x_train, y_train), (x_test, y_test), epochs=epochs, seed=seed, precision=precision,
                  progress=False, **DIGITS_FIT)
    return model.eval(), start.eval(), history


# ------------------------------ exercise checkers


def _random_attention(b: int = 2, h: int = 3, g: int = 3, seed: int = 0) -> torch.Tensor:
    """(B, H, T, T) attention weights with T = 1 + g*g, rows summing to 1, the [class] key weighted heavily."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, h, 1 + g * g, 1 + g * g, generator=gen)
    scores[..., 0] += 1.5  # the class-token key gets a lot of weight, so dropping it without renormalising shows
    return scores.softmax(dim=-1)


@checker
def check_patch_attention(fn) -> bool:
    """Notebook 06, exercise 1: fn(attn) -> (B, H, N, N): drop the [class] token as query and key, renormalise.

    attn (B, H, T, T) with T = 1 + N, the [class] token first; each row of the answer sums to 1.
    """
    attn = _random_attention()
    attempted, got = run_answer(fn, attn, name="patch_attention")
    if not attempted:
        return False
    require_tensor(got, "patch_attention")
    b, h, t, _ = attn.shape
    patches = attn[:, :, 1:, 1:]
    expected = patches / patches.sum(-1, keepdim=True)
    if got.shape != expected.shape:
        hint = ""
        if got.shape == (b, h, t, t - 1):
            hint = " You dropped the [class] key but kept the [class] query row: slice attn[:, :, 1:, 1:]."
        elif got.shape == (b, h, t - 1, t):
            hint = " You dropped the [class] query but kept the [class] key column: slice attn[:, :, 1:, 1:]."
        elif got.shape == attn.shape:
            hint = " The [class] token (index 0) must go, as query (rows) and as key (columns)."
        raise ExerciseError(f"patch_attention: shape {tuple(got.shape)}, expected (B, H, N, N) = "
                            f"{tuple(expected.shape)}.{hint}")
    name_the_mistake("patch_attention", got, expected, [
        (patches, "you dropped the [class] token but did not renormalise: each row now sums to less than 1 "
                  f"(here {patches.sum(-1).mean():.2f} on average). Divide each row by its sum over the patch keys"),
        (patches / patches.sum(-2, keepdim=True), "you renormalised the columns: divide each *row* (one query) "
                                                  "by its sum over the keys, sum(dim=-1, keepdim=True)"),
        (attn[:, :, :-1, :-1] / attn[:, :, :-1, :-1].sum(-1, keepdim=True),
         "you dropped the last token; the [class] token is the first one (index 0)"),
        (patches.softmax(-1), "these are weights already: renormalise by dividing by the row sums, not with a "
                              "second softmax"),
    ])
    return passed("patch_attention", "[class] token dropped as query and key, each query's weights renormalised "
                                  "over the patch keys (rows sum to 1)")


@checker
def check_head_distance(fn) -> bool:
    """Notebook 06, exercise 2: fn(attn_head, patch_size) -> the mean attention distance of one head, in pixels.

    attn_head (T, T): one image, one head, T = 1 + G*G with the [class] token first. The paper's
    convention: [class] excluded as query and key, weights renormalised over the patch keys,
    distance between patch centres in pixels, weighted by the attention, averaged over the queries.
    """
    attn = _random_attention(b=1, h=1, g=4, seed=1)  # (1, 1, 17, 17)
    p = 8
    attempted, got = run_answer(fn, attn[0, 0].clone(), p, name="head_distance")
    if not attempted:
        return False
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise ExerciseError(f"head_distance: return one number (a 0-d tensor or a float), got shape "
                                f"{tuple(got.shape)}; average the per-query distances with .mean()")
        got = got.item()
    if not isinstance(got, (int, float)):
        raise ExerciseError(f"head_distance: return a number, got {type(got).__name__}")
    expected = mean_attention_distance(attn, p).item()
    dist = patch_distances(4, p)
    patches = attn[0, 0, 1:, 1:]
    renorm = patches / patches.sum(-1, keepdim=True)
    mistakes = {
        (patches * dist).sum(-1).mean().item():
            "you did not renormalise: after dropping the [class] key, divide each row by its sum over the patch "
            "keys (this convention pulls heads that attend to [class] toward 0)",
        (renorm * dist / p).sum(-1).mean().item():
            f"your distance is in patches (grid units); multiply by the patch size P = {p} to get pixels",
        (renorm * dist).sum(-1).max().item(): "you took the largest per-query distance; average over the queries",
        (renorm * dist).sum(-1).sum().item(): "you summed over the queries; average them (.mean())",
        dist.mean().item(): "that is the distance with uniform attention: weight each distance by the attention",
    }
    if abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
        return passed("head_distance", f"{got:.3f} px, the weighted distance to the patch keys averaged over the "
                                    "queries, with the weights renormalised over the patches")
    for value, message in mistakes.items():
        if abs(got - value) <= 1e-4 * max(1.0, abs(value)):
            raise ExerciseError(f"head_distance: {message}")
    raise ExerciseError(f"head_distance: got {got:.4f} px, expected {expected:.4f} px. Steps: drop row and column 0, "
                        "renormalise the rows, weight the distances between patch centres (in pixels) by the "
                        "weights, sum over the keys, average over the queries")
