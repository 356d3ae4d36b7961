"""Notebook 00 (introduction): the drawing, widget and exercise checker the notebook uses.

    plot_prediction     an image, its class-token attention map and the class probabilities
    plot_ink_attention  one image's attention over all patches beside the same restricted to the ink
    prediction_widget   step through classified test images (or only the mistakes)
    check_num_patches   exercise: N = HW / P^2
"""

from __future__ import annotations

import numpy as np
import torch
from ipywidgets import widgets
from matplotlib.figure import Figure

from . import figures
from .exercise import ExerciseError, checker, passed, run_answer
from .figures import plot_architecture, plot_history, plot_images  # shared with other notebooks, used here too
from .ui import SliderFigure

__all__ = ["plot_architecture", "plot_images", "plot_history", "plot_prediction", "plot_ink_attention",
           "prediction_widget", "check_num_patches"]


# ------------------------------ drawings


def plot_prediction(image, attention, probs, label: int | None = None, class_names=None,
                    attention_title: str = "class-token attention") -> Figure:
    """One classified image: the input, its attention map over the patch grid, and the class probabilities.

    image (C, H, W) / (H, W); attention (G, G), non-negative (e.g. the [class] token's attention to
    each patch); probs (K,) summing to 1; label: the true class, if known.
    """
    img = figures.as_hwc(image)
    attention = np.asarray(attention.detach().cpu() if hasattr(attention, "detach") else attention, dtype=np.float32)
    probs = np.asarray(probs.detach().cpu() if hasattr(probs, "detach") else probs, dtype=np.float32)
    if attention.ndim != 2:
        raise ValueError(f"expected an attention map of shape (G, G), got {attention.shape}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(probs))]
    h, w, _ = img.shape
    pred = int(probs.argmax())

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax_img, ax_att, ax_bar = fig.subplots(1, 3, width_ratios=[1, 1.25, 1.4])
    figures.show_image(ax_img, img, extent=(0, w, h, 0), interpolation="nearest")
    ax_img.set_title("input" + (f" (true class: {names[label]})" if label is not None else ""))
    ax_img.set_xlabel("x (pixels)")
    ax_img.set_ylabel("y (pixels)")

    if img.shape[-1] == 1:  # grey image: the attention as a heat map, the image's outline on top
        _attention_panel(ax_att, fig, img, attention, attention_title, title_size=None)
    else:  # colour image: the attention as a translucent layer over the picture
        figures.show_image(ax_att, img, extent=(0, w, h, 0), interpolation="nearest")
        im = ax_att.imshow(attention, cmap="inferno", alpha=0.6, extent=(0, w, h, 0), interpolation="nearest",
                           vmin=0, vmax=max(float(attention.max()), 1e-8))
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


def _attention_panel(ax, fig, img, attention, title: str, title_size: float | None = 10) -> None:
    """A grey image's attention map (G, G) as a heat map over the image, the digit's outline in cyan.
    title_size None: matplotlib's default."""
    h, w, _ = img.shape
    im = ax.imshow(attention, cmap="inferno", extent=(0, w, h, 0), interpolation="nearest", vmin=0,
                   vmax=max(float(attention.max()), 1e-8))
    lo, hi = float(img.min()), float(img.max())
    if hi > lo:
        ax.contour(np.linspace(0.5, w - 0.5, w), np.linspace(0.5, h - 0.5, h), img[:, :, 0],
                   levels=[lo + 0.4 * (hi - lo)], colors="cyan", linewidths=1.5)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_title(title, fontsize=title_size)
    ax.set_xlabel("x (pixels); cyan line: the digit's outline")
    fig.colorbar(im, ax=ax, label="attention weight", shrink=0.9)


def plot_ink_attention(image, attention, attention_on_ink, label: int | None = None,
                       share_on_empty: float | None = None) -> Figure:
    """One grey image (1, H, W), its [class] token's attention over all patches (G, G), and the same
    attention restricted to the patches with ink and renormalised (G, G), side by side.

    share_on_empty: the share of the attention on the patches without ink, written in the middle title.
    """
    img = figures.as_hwc(image)
    if img.shape[-1] != 1:
        raise ValueError(f"expected one grey image (1, H, W), got shape {tuple(np.shape(image))}")
    maps = [np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=np.float32)
            for a in (attention, attention_on_ink)]
    h, w, _ = img.shape
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax_img, ax_all, ax_ink = fig.subplots(1, 3)
    figures.show_image(ax_img, img, extent=(0, w, h, 0), interpolation="nearest")
    ax_img.set_title("input" + (f" (true class: {label})" if label is not None else ""), fontsize=10)
    ax_img.set_xlabel("x (pixels)")
    ax_img.set_ylabel("y (pixels)")
    share = f": {share_on_empty:.0%} on empty patches" if share_on_empty is not None else ""
    _attention_panel(ax_all, fig, img, maps[0], f"all {maps[0].size} patches{share}")
    _attention_panel(ax_ink, fig, img, maps[1], "only the patches with ink, renormalised")
    return fig


# ------------------------------ widgets


def prediction_widget(images, labels, probs, attention, class_names=None,
                      attention_title: str = "class-token attention") -> SliderFigure:
    """Step through classified test images with their attention maps (all precomputed).

    images (B, C, H, W), labels (B,), probs (B, K), attention (B, G, G). Controls: `index` (the
    test image, or the mistake, to show) and `only_mistakes` (step through the misclassified ones only).
    """
    n = len(labels)
    if not (len(images) == len(probs) == len(attention) == n) or n == 0:
        raise ValueError(f"need as many images ({len(images)}), labels ({n}), probabilities ({len(probs)}) "
                         f"and attention maps ({len(attention)}), at least one")
    labels = [int(y) for y in labels]
    mistakes = [i for i in range(n) if int(torch.as_tensor(probs[i]).argmax()) != labels[i]]

    def shown(only_mistakes: bool) -> list:
        return mistakes if only_mistakes else list(range(n))

    def draw(values):
        pool = shown(values["only_mistakes"])
        if not pool:
            raise ValueError("no mistakes: every test image here is classified correctly.")
        i = pool[min(values["index"], len(pool) - 1)]
        fig = plot_prediction(images[i], attention[i], probs[i], label=labels[i], class_names=class_names,
                              attention_title=attention_title)
        note = f"test image {i}"
        if values["only_mistakes"]:
            note += f" (mistake {values['index'] + 1} of {len(mistakes)})"
        return fig, f"<p>{note}</p>"

    controls = {
        "index": widgets.IntSlider(value=0, min=0, max=n - 1, description="test image", continuous_update=False),
        "only_mistakes": widgets.Checkbox(value=False, description="only mistakes"),
    }
    app = SliderFigure(controls, draw, watch=["index"])

    def choose(change):  # the slider steps through the chosen images: start again at the first
        with app.held():
            controls["index"].value = 0
            controls["index"].max = max(len(shown(change["new"])) - 1, 0)
        app.update()

    controls["only_mistakes"].observe(choose, names="value")
    return app


# ------------------------------ exercise checkers


@checker
def check_num_patches(fn) -> bool:
    """Exercise (00): fn(image_size, patch_size) -> N, the number of patches of a square image."""
    name = getattr(fn, "__name__", "your function")
    cases = [(224, 16), (224, 14), (384, 16), (224, 32), (32, 4)]
    for size, p in cases:
        attempted, got = run_answer(fn, size, p)
        if not attempted:
            return False
        side, n = size // p, (size // p) ** 2
        where = f"{name}({size}, {p}) returned {got!r}"
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise ExerciseError(f"{where}; expected a number (an int), got {type(got).__name__}")
        if got == side:
            raise ExerciseError(f"{where}: that is the number of patches along one side (H/P = {side}); "
                                f"N counts the whole grid: (H/P) * (W/P) = {n}")
        if got == n + 1:
            raise ExerciseError(f"{where}: that counts the [class] token too; N counts only the patches ({n})")
        if got == size * size // p:
            raise ExerciseError(f"{where}: you divided by P once; each patch covers P*P pixels, "
                                f"so N = H*W / P^2 = {n}")
        if got == n * 3 or got == size * size:
            raise ExerciseError(f"{where}: N counts patches, not pixels or values; expected {n}")
        if got != n:
            raise ExerciseError(f"{where}; expected N = H*W / P^2 = ({size}/{p})^2 = {n}")
        if not isinstance(got, int):
            raise ExerciseError(f"{where}, a float; N is a count: use integer division (//) to return {n}")
    return passed(name, "ViT-B/16 at 224 px sees N = 196 patches, ViT-H/14 sees 256")
