"""Notebook 01 (patching): the drawing, widget and exercise checkers the notebook uses.

    plot_patching            an image cut into P x P patches, the patch matrix x_p and the sequence
    patch_size_widget        a slider over the patch sizes that tile an image
    check_patchify           exercise: (B, C, H, W) -> (B, N, P*P*C), Eq. 1's x_p
    check_conv_weight_to_E   exercise: the stride-P conv's weight as the matrix E
"""

from __future__ import annotations

import html
import itertools

import numpy as np
import torch
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..patches import check_patch_size
from . import figures
from .exercise import ExerciseError, checker, distinct_images, matches, passed, require_tensor, run_answer, scale_of
from .figures import plot_architecture, plot_images  # shared with other notebooks, used here too
from .ui import SliderFigure

__all__ = ["plot_architecture", "plot_images", "plot_patching", "patch_size_widget", "check_patchify",
           "check_conv_weight_to_E"]


# ------------------------------ drawings


def plot_patching(image, patch_size: int, num_sequence: int = 16) -> Figure:
    """An image cut into P x P patches, and the same patches as a sequence (Eq. 1's x_p).

    Top left: the image with the patch grid and patch numbers (raster order); the patches shown on the
    right and below are outlined. They are the middle row of the grid (through the subject of a
    centred photo, not the background of its first row), at most `num_sequence` of them.
    Top right: those rows of the patch matrix x_p, each row's P*P*C values drawn as P*P pixels in their
    colour (the C values of a pixel are neighbours in the (p1 p2 c) order), so a row is readable.
    Bottom: the same patches, one after another, as the transformer reads them.
    """
    img = figures.as_hwc(image)
    h, w, c = img.shape
    p = int(patch_size)
    check_patch_size(h, p)
    check_patch_size(w, p)
    gh, gw = h // p, w // p
    n, k = gh * gw, p * p * c
    patches = rearrange(img, "(h p1) (w p2) c -> (h w) p1 p2 c", p1=p, p2=p)  # (N, P, P, C)
    row = gh // 2  # the middle row of the grid
    shown = list(range(row * gw, row * gw + min(num_sequence, gw)))  # patch indices n, left to right

    fig = Figure(figsize=(10, 6.4), layout="constrained")
    axes = fig.subplot_mosaic([["image", "matrix"], ["sequence", "sequence"]], height_ratios=[3.3, 1])

    ax = axes["image"]
    figures.show_image(ax, img, extent=(0, w, h, 0), interpolation="nearest")
    lw = 1.2 if max(gh, gw) <= 16 else 0.5
    ax.vlines(np.arange(1, gw) * p, 0, h, colors="white", linewidth=lw)
    ax.hlines(np.arange(1, gh) * p, 0, w, colors="white", linewidth=lw)
    ax.add_patch(Rectangle((0, row * p), len(shown) * p, p, fill=False, edgecolor="yellow", linewidth=2))
    if n <= 64:  # all numbers; else those that fit: the first row, the shown ones, the last (or fewer)
        numbered = range(n)
    else:
        numbered = [*range(gw), *shown, n - 1] if gw <= 16 else [0, shown[0], shown[-1], n - 1]
    for i in numbered:
        r, col = divmod(i, gw)
        ax.text((col + 0.5) * p, (r + 0.5) * p, str(i), ha="center", va="center", color="white",
                fontsize=9 if n <= 64 else 5.5, fontweight="bold",
                bbox=dict(boxstyle="round,pad=0.1", facecolor="black", alpha=0.45, linewidth=0))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_title(f"P = {p}: a {gh} x {gw} grid, N = HW/P² = {n} patches")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")

    ax = axes["matrix"]
    rows = rearrange(patches[shown], "n p1 p2 c -> n (p1 p2) c")  # (rows, P*P, C): row n of x_p, pixel by pixel
    figures.show_image(ax, rows, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(shown)), [str(i) for i in shown], fontsize=8 if len(shown) <= 16 else 6)
    ax.set_title(f"rows {shown[0]}-{shown[-1]} of x_p (N x P²C = {n} x {k})", fontsize=10)
    ax.set_xlabel(f"pixel within the patch, (p1 p2) order: {p * p} pixels x {c} values")
    ax.set_ylabel("patch index n")

    ax = axes["sequence"]
    gap = max(1, p // 8)
    strip = np.ones((p, len(shown) * (p + gap) - gap, c), dtype=np.float32)
    for j, i in enumerate(shown):
        strip[:, j * (p + gap) : j * (p + gap) + p] = patches[i]
    figures.show_image(ax, strip, interpolation="nearest")
    ax.set_xticks([j * (p + gap) + (p - 1) / 2 for j in range(len(shown))], [str(i) for i in shown],
                  fontsize=9 if len(shown) <= 16 else 7)
    ax.set_yticks([])
    ax.set_xlabel("position in the sequence (patch index n)")
    ax.set_title(f"patches {shown[0]}-{shown[-1]} (grid row {row}, outlined in yellow), in the order "
                 "the Transformer reads them")
    return fig


# ------------------------------ widgets


def patch_size_widget(image, patch_size: int = 16, min_size: int = 2, max_size: int = 64) -> SliderFigure:
    """A slider over the patch sizes P that tile `image` ((C, H, W) or (H, W, C), values in [0, 1]).

    Only the sizes from min_size to max_size that divide both H and W are offered, so every step
    redraws the grid, N = HW/P^2 and the patch sequence (`plot_patching`).
    """
    image = figures.as_hwc(image)  # (H, W, C), converted once
    h, w, c = image.shape
    sizes = [p for p in range(min_size, max_size + 1) if h % p == 0 and w % p == 0]
    if patch_size not in sizes:
        raise ValueError(f"patch size {patch_size} does not tile a {h} x {w} image; use one of "
                         f"{', '.join(map(str, sizes))}")

    def draw(values):
        p = values["patch_size"]
        n = (h // p) * (w // p)
        note = (f"N = HW/P² = {h}·{w}/{p}² = {n} patches, each a vector of P²C = {p}²·{c} = {p * p * c} numbers. "
                f"The slider offers the sizes that tile this {h} x {w} image: {', '.join(map(str, sizes))}.")
        return plot_patching(image, p), f"<p>{html.escape(note)}</p>"

    controls = {"patch_size": widgets.SelectionSlider(options=sizes, value=patch_size, description="patch size P",
                                                      continuous_update=False,
                                                      style={"description_width": "initial"})}
    return SliderFigure(controls, draw)


# ------------------------------ exercise checkers


@checker
def check_patchify(fn) -> bool:
    """Exercise (01): fn(images (B, C, H, W), P) -> patches (B, N, P*P*C), as vitlib.patches.patchify."""
    name = getattr(fn, "__name__", "your function")
    # A non-square image and 3 channels, so rows/columns and channel order can all be told apart.
    cases = [(distinct_images(2, 3, 8, 12), 4), (distinct_images(1, 1, 6, 6), 3), (distinct_images(1, 3, 32, 32), 16)]
    for i, (images, p) in enumerate(cases):
        attempted, got = run_answer(fn, images, p)
        if not attempted:
            return False
        b, c, h, w = images.shape
        n, k = (h // p) * (w // p), p * p * c
        expected = _patchify_candidates(images, p)["(h w) (p1 p2 c)"]
        where = f"{name}(images of shape {(b, c, h, w)}, {p})"
        require_tensor(got, where)
        if matches(got, expected):
            continue
        if i > 0:  # right on the first case, wrong on a later one
            raise ExerciseError(f"{where} is wrong, though the first test was right: "
                                "don't hard-code the patch size, the channels or the image size")
        if got.shape == (b, k, n):
            raise ExerciseError(f"{where} has shape {tuple(got.shape)} = (B, P*P*C, N): the axes are swapped; "
                                f"each patch is a row: (B, N, P*P*C) = {(b, n, k)}")
        if got.shape != expected.shape:
            raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected (B, N, P*P*C) = {(b, n, k)} "
                                f"(N = H*W/P^2 = {h}*{w}/{p}^2 = {n} patches of P*P*C = {k} values)")
        scale = scale_of(got, expected)
        if scale is not None:
            raise ExerciseError(f"{where}: right arrangement, but every value is multiplied by {scale:.4g}; "
                                "patchify only cuts and flattens, it must not rescale or normalise pixels")
        for pattern, candidate in _patchify_candidates(images, p).items():
            if matches(got, candidate):
                grid, flat = pattern.split(") (")
                problems = []
                if grid != "(h w":
                    problems.append("the patches are in column order (w h): read the grid row by row, "
                                    "'(h w)', so patch n sits at row n // (W/P), column n % (W/P)")
                if flat != "p1 p2 c)":
                    problems.append(f"each patch is flattened in the order ({flat}; the paper and vitlib flatten "
                                    "as (p1 p2 c): row within the patch, then column, then channel "
                                    "(so the C values of one pixel sit next to each other)")
                raise ExerciseError(f"{where}: right shape, but " + "; and ".join(problems))
        if torch.equal(got.flatten().sort().values, expected.flatten().sort().values):
            raise ExerciseError(f"{where}: right shape and the right pixels, but in a different arrangement; "
                                "use rearrange(images, 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=P, p2=P)")
        raise ExerciseError(f"{where}: right shape {tuple(got.shape)}, but the values are not the image's pixels "
                            "rearranged; patchify must only cut and flatten")
    return passed(name, "(B, C, H, W) -> (B, N, P*P*C), patches row by row, each flattened as (p1 p2 c)")


def _patchify_candidates(images: torch.Tensor, p: int) -> dict[str, torch.Tensor]:
    """Every (patch order, flatten order) einops pattern: the right one and the usual mistakes."""
    out = {}
    for grid in ("h w", "w h"):
        for order in itertools.permutations(("p1", "p2", "c")):
            flat = " ".join(order)
            out[f"({grid}) ({flat})"] = rearrange(images, f"b c (h p1) (w p2) -> b ({grid}) ({flat})", p1=p, p2=p)
    return out


@checker
def check_conv_weight_to_E(fn) -> bool:
    """Exercise (01): fn(conv weight (D, C, P, P)) -> E (P*P*C, D) with rows in patchify's (p1 p2 c) order."""
    name = getattr(fn, "__name__", "your function")
    d, c, p = 5, 3, 2
    weight = torch.arange(d * c * p * p, dtype=torch.float32).reshape(d, c, p, p)
    attempted, got = run_answer(fn, weight)
    if not attempted:
        return False
    expected = rearrange(weight, "d c p1 p2 -> (p1 p2 c) d")
    k = p * p * c
    where = f"{name}(weight of shape {(d, c, p, p)})"
    require_tensor(got, where)
    if matches(got, expected):
        return passed(name, "patchify(x) @ E + b now equals the stride-P convolution")
    if got.shape == (d, k):
        raise ExerciseError(f"{where} has shape {(d, k)} = (D, P*P*C): transpose it; E maps a patch (a row of "
                            f"P*P*C values) to D numbers, x_p E, so E is (P*P*C, D) = {(k, d)}")
    if got.shape != (k, d):
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected E of shape (P*P*C, D) = {(k, d)}")
    for order in itertools.permutations(("p1", "p2", "c")):
        flat = " ".join(order)
        if matches(got, rearrange(weight, f"d c p1 p2 -> ({flat}) d")):
            hint = " (what weight.reshape(D, -1).T gives)" if flat == "c p1 p2" else ""
            raise ExerciseError(f"{where}: right shape, but the rows are in ({flat}) order{hint}; patchify flattens "
                                "each patch as (p1 p2 c), and row r of E must multiply value r of the patch: "
                                "rearrange(weight, 'd c p1 p2 -> (p1 p2 c) d')")
    raise ExerciseError(f"{where}: right shape, but the values are not the conv weights rearranged")
