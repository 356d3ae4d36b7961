"""Notebook 03 (attention): the drawings, widgets and exercise checkers the notebook uses.

    intuition_weights       one query patch of a photo weighing all patches: average, fixed, attention
    plot_query_scores       the intuition drawn: query -> scores with every key -> softmax -> weighted sum
    plot_weighting_progression  averaging -> fixed weighting -> data-dependent weighting, on the photo
    plot_softmax_scale      how the scale of q k^T makes the softmax spread out or saturate
    plot_head_attention     where each head looks from one query, over the image
    softmax_scale_widget    slider over s in softmax(s q k^T), with curves of entropy and saturation
    attention_head_widget   pick a query patch and a layer of a trained ViT, see every head's map
    check_attention         exercise: softmax(q k^T / sqrt(d)) v (Eq. 5-6 of the appendix)
    check_split_heads       exercise: (B, T, D) -> (B, heads, T, D_h)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from . import figures
from .exercise import ExerciseError, checker, name_the_mistake, passed, require_tensor, run_answer
from .figures import plot_architecture  # Figure 1, shared: the 'you are here' strip
from .ui import SliderFigure, image_layer_sliders, int_slider

__all__ = ["plot_architecture", "intuition_weights", "plot_query_scores", "plot_weighting_progression",
           "plot_softmax_scale", "plot_head_attention", "softmax_scale_widget", "attention_head_widget",
           "check_attention", "check_split_heads"]


# ------------------------------ drawings


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
        ax.axvline(d**-0.5, color="tab:green", ls="--", label=f"s = 1/sqrt(D_h) = 1/{d**0.5:.3g}")
        ax.set(xscale="log", ylim=(0, top), xlabel="scale factor s (log axis)", ylabel=label)
    ax_ent.axhline(np.log2(t), color="gray", ls="--", lw=1, label=f"uniform: log2 T = {np.log2(t):.3g}")
    ax_ent.set_title("spread of attention (high = spread out)")
    ax_max.set_title("saturation (1 = all weight on one key)")
    ax_ent.legend(loc="lower left", fontsize=8)
    fig.suptitle(f"softmax(s * q k^T) for random q, k with D_h = {d} entries of variance 1 and T = {t} tokens")
    return fig


def plot_head_attention(image, maps, patch_size: int, query=None, cls_weights=None, shared_scale: bool = False,
                        title: str | None = None, size: float = 3.4) -> Figure:
    """Where each head looks: one panel per head, attention over the patches overlaid on the image (notebook 03).

    image:       one image, (C, H, W), (H, W, C) or (H, W), values in [0, 1].
    maps:        (heads, G, G) one query's attention weights over the G x G patch keys.
    query:       (row, col) of the query patch, marked with a green box; None if the query is the [class] token.
    The weights are drawn opaque, the image as a cyan outline on top (a faint image under a translucent
    heat map hides both).
    cls_weights: (heads,) the weight each head gives the [class] token key (shown in the titles).
    shared_scale: one colour scale for all heads (compares magnitudes); otherwise each head is scaled to
                  its own largest weight (shows where every head looks, even a diffuse one).
    """
    img = figures.as_hwc(image)
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
        vmax = max(float(maps.max() if shared_scale else maps[head].max()), 1e-8)
        shown = ax.imshow(maps[head], cmap="inferno", vmin=0, vmax=vmax, extent=extent, interpolation="nearest")
        lo, hi = float(grey.min()), float(grey.max())
        if hi > lo:  # the image as an outline on top of the weights, so both stay visible
            ax.contour(np.arange(w), np.arange(h), grey, levels=[lo + 0.4 * (hi - lo)], colors="cyan",
                       linewidths=1.2)
        if query is not None:
            r, c = query
            ax.add_patch(Rectangle((c * patch_size - 0.5, r * patch_size - 0.5), patch_size, patch_size,
                                   fill=False, edgecolor="lime", lw=2.5))
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


# ------------------------------ the intuition first: one query on a photo


def intuition_weights(image, patch_size: int, query, sharpness: float = 10.0, sigma: float = 1.0) -> dict:
    """Three ways for one query patch to weigh all N patches of `image`: -> dict name -> (G, G) weights.

    "average":   every patch 1/N (the plain mean).
    "fixed":     by grid distance from the query only, exp(-d^2 / 2 sigma^2), normalised: the same
                 for every image (a weighting a convolution could do).
    "attention": softmax over the keys of sharpness * cos(x_q, x_j), the patches' pixel vectors centred
                 on the mean patch: weights that depend on the data. A trained ViT learns U_q, U_k to
                 make q and k; here q = k = the raw (centred) pixels, so the picture needs no training.
    Also "scores" (G, G): the attention scores before the softmax, and "values" (N, P, P, C) the patches.
    """
    img = torch.as_tensor(figures.as_hwc(image))  # (H, W, C)
    h, w, _ = img.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"patch size {patch_size} does not tile a {h} x {w} image; use a divisor of both")
    gh, gw = h // patch_size, w // patch_size
    r, c = query
    if not (0 <= r < gh and 0 <= c < gw):
        raise ValueError(f"query {query} is outside the {gh} x {gw} grid; use row 0..{gh - 1}, col 0..{gw - 1}")
    values = rearrange(img, "(h p1) (w p2) c -> (h w) p1 p2 c", p1=patch_size, p2=patch_size)  # (N, P, P, C)
    x = rearrange(values, "n p1 p2 c -> n (p1 p2 c)")  # (N, P*P*C): the patch vectors x_p
    x = F.normalize(x - x.mean(dim=0), dim=-1)  # centred, unit length: q = k
    i = r * gw + c
    scores = sharpness * (x @ x[i])  # (N,): query i against every key
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    near = torch.exp(-((rows - r) ** 2 + (cols - c) ** 2).float() / (2 * sigma**2)).flatten()
    return {"average": torch.full((gh, gw), 1.0 / (gh * gw)), "fixed": (near / near.sum()).reshape(gh, gw),
            "attention": scores.softmax(dim=0).reshape(gh, gw), "scores": scores.reshape(gh, gw), "values": values}


def _weighted_patch(weights, values):
    """sum_j w_j v_j: (G, G) weights, (N, P, P, C) patches -> one (P, P, C) patch."""
    return torch.einsum("n,nijc->ijc", weights.flatten(), values).numpy()


def _show_weights_on_image(ax, img, weights, patch_size, query):
    """The image, each patch dimmed by its weight (bright = heavy), the query outlined."""
    wmap = np.kron(weights.numpy() / float(weights.max()), np.ones((patch_size, patch_size)))[:, :, None]
    figures.show_image(ax, img * (0.12 + 0.88 * wmap), interpolation="nearest")
    r, c = query
    ax.add_patch(Rectangle((c * patch_size - 0.5, r * patch_size - 0.5), patch_size, patch_size,
                           fill=False, edgecolor="cyan", lw=2))
    ax.set_xticks([])
    ax.set_yticks([])


def plot_query_scores(image, patch_size: int, query, sharpness: float = 10.0) -> Figure:
    """Attention as a picture: one query patch scores every key, the softmax turns scores into weights,
    the output is the weighted sum of the values (here the patches themselves)."""
    img = figures.as_hwc(image)
    parts = intuition_weights(img, patch_size, query, sharpness)
    scores, weights = parts["scores"].numpy(), parts["attention"]
    fig = Figure(figsize=(13.5, 3.6), layout="constrained")
    ax_img, ax_s, ax_w, ax_out = fig.subplots(1, 4, width_ratios=[1, 1.2, 1.2, 1])
    figures.show_image(ax_img, img, interpolation="nearest")
    r, c = query
    ax_img.add_patch(Rectangle((c * patch_size - 0.5, r * patch_size - 0.5), patch_size, patch_size,
                               fill=False, edgecolor="cyan", lw=2))
    ax_img.set_title("1. the query patch (cyan)")
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    bound = float(np.abs(scores).max())
    im = ax_s.imshow(scores, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    fig.colorbar(im, ax=ax_s, shrink=0.85, label="score q·k")
    ax_s.set_title("2. its score with every key")
    im = ax_w.imshow(weights.numpy(), cmap="viridis", vmin=0, interpolation="nearest")
    fig.colorbar(im, ax=ax_w, shrink=0.85, label="weight (all sum to 1)")
    ax_w.set_title("3. softmax: weights")
    for ax in (ax_s, ax_w):
        ax.set_xlabel("key patch column")
        ax.set_ylabel("key patch row")
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="cyan", lw=2))
    figures.show_image(ax_out, _weighted_patch(weights, parts["values"]), interpolation="nearest")
    ax_out.set_title("4. output: Σ weight × value")
    ax_out.set_xticks([])
    ax_out.set_yticks([])
    return fig


def plot_weighting_progression(image, patch_size: int, query, sharpness: float = 10.0) -> Figure:
    """Averaging -> fixed weighting -> data-dependent weighting (attention), for one query patch.

    One column each: the weights on the image (top; bright = heavy) and the output sum_j w_j v_j (below).
    """
    img = figures.as_hwc(image)
    parts = intuition_weights(img, patch_size, query, sharpness)
    rows = [("average", "1. average: every patch 1/N"),
            ("fixed", "2. fixed weights: by distance only"),
            ("attention", "3. attention: weights from the data")]
    fig = Figure(figsize=(11, 6.6), layout="constrained")
    axes = fig.subplots(2, 3, height_ratios=[1.5, 1])
    for (name, label), ax_w, ax_out in zip(rows, axes[0], axes[1]):
        weights = parts[name]
        _show_weights_on_image(ax_w, img, weights, patch_size, query)
        ax_w.set_title(f"{label}\n(largest weight {float(weights.max()):.2f})", fontsize=10)
        figures.show_image(ax_out, _weighted_patch(weights, parts["values"]), interpolation="nearest")
        ax_out.set_title("output Σ w·v", fontsize=10)
        ax_out.set_xticks([])
        ax_out.set_yticks([])
    return fig


# ------------------------------ widgets


def _entropy_bits(p: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of each row of p (..., T)."""
    return -(p * p.clamp_min(1e-30).log2()).sum(-1)


def softmax_scale_widget(d: int = 64, tokens: int = 16, seed: int = 0) -> SliderFigure:
    """Notebook 03: how the scale s in softmax(s q k^T) makes attention spread out or saturate.

    q and k are (tokens, d) with independent N(0, 1) entries, so q.k has variance d. Controls:
    `d` (head size, any integer from 2 to 4096), `exponent` a with s = d^(-a): a = 0 is no
    scaling, a = 0.5 is the paper's 1/sqrt(d), a = 1 is 1/d.
    """
    cache = {}

    def curves(dim: int):
        if dim not in cache:
            gen = torch.Generator().manual_seed(seed)
            q, k = torch.randn(tokens, dim, generator=gen), torch.randn(tokens, dim, generator=gen)
            scores = (q @ k.T).double()  # (T, T), entries of variance d
            exponents = torch.linspace(0.0, 1.0, 81, dtype=torch.float64)
            weights = (dim ** -exponents[:, None, None] * scores).softmax(-1)  # (S, T, T)
            cache[dim] = (scores, exponents, _entropy_bits(weights).mean(-1), weights.amax(-1).mean(-1))
        return cache[dim]

    def draw(values):
        dim, a = values["d"], float(values["exponent"])
        if not 2 <= dim <= 4096:  # at d = 1 every d^-a is 1, and there is nothing to see
            raise ValueError(f"head size D_h = {dim} is out of range; use 2 <= D_h <= 4096 (ViT-B has D_h = 64)")
        scores, exponents, entropy, max_weight = curves(dim)
        s = dim**-a
        weights = (s * scores).softmax(-1)
        scales = dim ** -exponents.numpy()
        fig = plot_softmax_scale(weights[0].numpy(), scales, entropy.numpy(), max_weight.numpy(), s, dim)
        std = (s * scores).std().item()
        message = (f"s = D<sub>h</sub><sup>-{a:.2f}</sup> = {s:.4g}: the scaled scores have std {std:.2f} "
                   f"(unscaled: {scores.std().item():.2f} &asymp; sqrt(D_h) = {dim**0.5:.2f}); rows have mean entropy "
                   f"{_entropy_bits(weights).mean().item():.2f} of {np.log2(tokens):.2f} bits, mean largest "
                   f"weight {weights.amax(-1).mean().item():.2f}.")
        return fig, message

    controls = {
        "d": widgets.IntText(value=d, description="head size D_h", style={"description_width": "initial"},
                        layout=widgets.Layout(width="170px")),
        "exponent": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="s = D_h^-a, a",
                                   continuous_update=False, readout_format=".2f",
                                   style={"description_width": "initial"}, layout=widgets.Layout(width="420px")),
    }
    return SliderFigure(controls, draw)


def attention_head_widget(model, images, labels=None, class_names=None) -> SliderFigure:
    """Notebook 03: pick a query patch and see where each head of a trained ViT attends.

    model:  a vitlib ViT; images (B, C, H, W) matching it; labels (B,) optional.
    The model runs once here, with return_attention=True; the controls (`image`, `layer`
    (1..L), `row`, `col`, `cls_query`, `shared_scale`) only pick rows of the stored (L, B, heads, T, T)
    weights and redraw.
    """
    cfg = model.cfg
    images = torch.as_tensor(images)
    model.patch_embed.check_input(images)  # ValueError naming the fix, at build time
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits, attentions = model(images, return_attention=True)
    model.train(was_training)
    attn = torch.stack(attentions).numpy()  # (L, B, heads, T, T)
    preds = logits.argmax(-1).tolist()
    g, p = cfg.grid_size, cfg.patch_size
    names = class_names or [str(i) for i in range(max(cfg.num_classes, 1))]

    def draw(values):
        b, layer, r, c, cls_query = values["image"], values["layer"], values["row"], values["col"], values["cls_query"]
        if not (0 <= b < len(images) and 1 <= layer <= cfg.depth and 0 <= r < g and 0 <= c < g):
            raise ValueError(f"image must be in 0..{len(images) - 1}, layer in 1..{cfg.depth}, "
                             f"row and col in 0..{g - 1}")
        query = 0 if cls_query else 1 + r * g + c  # token index: the class token is token 0
        rows = attn[layer - 1, b, :, query, :]  # (heads, T): this query's weights over all keys
        maps = rows[:, 1:].reshape(-1, g, g)  # over the patch keys, on the patch grid
        who = "the [class] token" if cls_query else f"patch (row {r}, col {c}) = token {query}"
        truth = f"label {names[int(labels[b])]}, " if labels is not None else ""
        title = f"image {b} ({truth}predicted {names[preds[b]]}): layer {layer}, query = {who}"
        fig = plot_head_attention(images[b], maps, p, query=None if cls_query else (r, c),
                                         cls_weights=rows[:, 0], shared_scale=values["shared_scale"], title=title)
        message = (f"Query {who}. Each panel is one head's attention row: {g * g} patch weights plus "
                   f"the [class] key; together they sum to 1. Averaged over heads, the [class] key gets "
                   f"{rows[:, 0].mean():.0%}.")
        return fig, message

    controls = {
        **image_layer_sliders(len(images), cfg.depth, "260px"),
        "row": int_slider("query row", 0, g - 1, g // 2, "260px"),
        "col": int_slider("query col", 0, g - 1, g // 2, "260px"),
        "cls_query": widgets.Checkbox(value=False, description="query = [class] token", indent=False),
        "shared_scale": widgets.Checkbox(value=False, description="one colour scale for all heads", indent=False),
    }
    return SliderFigure(controls, draw, rows=[["image", "layer", "shared_scale"], ["row", "col", "cls_query"]])


# ------------------------------ exercise checkers


@checker
def check_attention(attention) -> bool:
    """Notebook 03, exercise 1: attention(q, k, v) -> (out, weights).

    q, k, v (B, H, T, d); weights = softmax(q k^T / sqrt(d)) over the keys (last axis), (B, H, T, T);
    out = weights @ v, (B, H, T, d).
    """
    gen = torch.Generator().manual_seed(0)
    b, h, t, d = 2, 3, 5, 16  # T != d, so a transposed product shows up in the shape
    q, k, v = (torch.randn(b, h, t, d, generator=gen) for _ in range(3))
    attempted, result = run_answer(attention, q, k, v, name="attention")
    if not attempted:
        return False
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ExerciseError(f"attention: return a tuple (out, weights); got {type(result).__name__}")
    out, weights = result
    if not isinstance(out, torch.Tensor) or not isinstance(weights, torch.Tensor):
        raise ExerciseError("attention: out and weights must both be torch.Tensors")
    if out.shape == (b, h, t, t) and weights.shape == (b, h, t, d):
        raise ExerciseError("attention: return (out, weights) in that order; you returned (weights, out)")
    if weights.shape != (b, h, t, t):
        hint = " Did you compute q^T k instead of q k^T (k.transpose(-2, -1))?" if weights.shape == (b, h, d, d) else ""
        raise ExerciseError(
            f"attention: weights have shape {tuple(weights.shape)}, expected (B, H, T, T) = {(b, h, t, t)}: "
            f"one row per query, one column per key.{hint}"
        )
    scores = q @ k.transpose(-2, -1)  # (B, H, T, T), unscaled
    expected = (scores / math.sqrt(d)).softmax(dim=-1)
    name_the_mistake("attention weights", weights, expected, [
        (scores.softmax(dim=-1), f"the 1/sqrt(D_h) scale is missing: divide the scores q k^T by sqrt(D_h) = "
                                 f"{math.sqrt(d):g} before the softmax (D_h = q.shape[-1], the size of one head)"),
        ((scores / d).softmax(dim=-1), f"you divided the scores by D_h = {d}; divide by sqrt(D_h) = {math.sqrt(d):g}"),
        ((scores * math.sqrt(d)).softmax(dim=-1), "you multiplied the scores by sqrt(D_h); divide by it instead"),
        ((scores / math.sqrt(d)).softmax(dim=-2), "softmax over the wrong axis: your columns sum to 1. Each row "
                                                  "(one query) must sum to 1 over the keys: softmax(dim=-1)"),
        (scores.softmax(dim=-2), "softmax over the wrong axis (columns sum to 1; use dim=-1) and the 1/sqrt(D_h) "
                                 "scale is missing"),
        (expected.transpose(-2, -1), "your weights are transposed: row i must hold query i's weights over "
                                     "all keys, softmax(q k^T / sqrt(D_h)) with softmax(dim=-1)"),
        (scores / math.sqrt(d), "the softmax is missing: weights = softmax(scores / sqrt(D_h), dim=-1)"),
        (scores, "the 1/sqrt(D_h) scale and the softmax are both missing"),
    ])
    expected_out = expected @ v
    if out.shape != (b, h, t, d):
        raise ExerciseError(f"attention: out has shape {tuple(out.shape)}, expected (B, H, T, D_h) = {(b, h, t, d)}")
    name_the_mistake("attention out", out, expected_out, [
        (expected.transpose(-2, -1) @ v, "out uses the transposed weights: out = weights @ v"),
        (v, "out is v itself: mix the values with the weights, out = weights @ v"),
    ])
    return passed("attention", "weights = softmax(q k^T / sqrt(d)) over the keys (each row sums to 1), out = weights "
                               "@ v")


@checker
def check_split_heads(split_heads) -> bool:
    """Notebook 03, exercise 2: split_heads(x, heads): (B, T, D) -> (B, heads, T, D / heads).

    Head i takes the contiguous channels [i*D_h, (i+1)*D_h), i.e. einops 'b t (h d) -> b h t d'.
    """
    b, t, heads, dh = 2, 5, 3, 4  # all different, so every axis mix-up shows in the shape
    x = torch.arange(b * t * heads * dh, dtype=torch.float32).reshape(b, t, heads * dh)
    attempted, got = run_answer(split_heads, x, heads, name="split_heads")
    if not attempted:
        return False
    require_tensor(got, "split_heads")
    expected = x.reshape(b, t, heads, dh).permute(0, 2, 1, 3)  # (B, H, T, D_h)
    shape_hints = {
        (b, t, heads, dh): "heads must come before tokens: (B, H, T, D_h); move the axis, e.g. 'b t (h d) -> b h t d'",
        (b, heads, dh, t): "the last two axes are swapped: (B, H, T, D_h) has tokens before head channels",
        (b, dh, t, heads): f"you made {dh} heads of {heads} channels: pass h=heads (the number of heads), not d=heads",
        (b * heads, t, dh): "keep the batch and head axes separate: (B, H, T, D_h), not (B*H, T, D_h)",
    }
    if got.shape != expected.shape:
        hint = shape_hints.get(tuple(got.shape), "")
        raise ExerciseError(f"split_heads: shape {tuple(got.shape)}, expected (B, H, T, D_h) = "
                            f"{tuple(expected.shape)}. {hint}".rstrip())
    name_the_mistake("split_heads", got, expected, [
        (x.reshape(b, t, dh, heads).permute(0, 3, 1, 2),
         "heads split in the wrong order: you interleaved the channels (pattern '(d h)'), so head 0 got channels "
         f"0, {heads}, {2 * heads}, ... Each head must own a contiguous block of D_h channels: 'b t (h d) -> b h t d'"),
        (x.reshape(b, heads, t, dh),
         "you reshaped to (B, H, T, D_h) without moving an axis, which mixes tokens across heads. Reshape to "
         "(B, T, H, D_h) first, then swap T and H (or use einops 'b t (h d) -> b h t d')"),
    ])
    return passed("split_heads", "(B, T, D) -> (B, H, T, D_h), each head a contiguous block of D_h channels")
