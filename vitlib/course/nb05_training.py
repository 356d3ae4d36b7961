"""Notebook 05 (training): the experiment runners, drawings, widget and exercise checker the notebook uses.

    train_digits            one run of the digits recipe (sections 2, 3 and 5), run side by side
                            with others by vitlib.parallel.run_in_processes
    fractal_task, fractal_run, data_scale_sweep
                            ViT vs CNN as the data grows, on FractalDB-style classes (section 4)
    plot_fractal_classes    a few instances of each fractal class
    plot_data_scale         accuracy and error rate (log axis) against images per class
    plot_digit_patches      a digit with its patch grid (the training widget's preview)
    training_widget         hyperparameter sliders and a Train button on the digits
    check_lr_schedule       exercise: linear warmup + cosine decay, as vitlib.train.lr_at
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure
from torch import nn

from ..baselines import SmallCNN
from ..cost import count_params, train_flops
from ..data import load_digits
from ..fractals import FractalDataset
from ..model import ViT, ViTConfig
from ..parallel import run_in_processes
from ..train import digits_vit_recipe, evaluate, fit, lr_at
from . import figures
from .controls import permute_patches, permute_within_patches, shuffle_patches_per_image
from .exercise import ExerciseError, checker, passed, run_answer
from .figures import plot_confusion_matrix, plot_history, plot_seed_bars  # shared with other notebooks, used here too
from .ui import SliderFigure

__all__ = ["plot_seed_bars", "plot_history", "plot_confusion_matrix", "train_digits", "FRACTAL_TASK", "SWEEP_FIT",
           "MIN_STEPS", "MIN_EPOCHS", "fractal_task", "draw_per_class", "sweep_model", "sweep_epochs", "fractal_run",
           "Sweep", "data_scale_sweep", "plot_fractal_classes", "plot_data_scale", "plot_digit_patches",
           "TrainingWidget", "training_widget", "check_lr_schedule"]


# ------------------------------ the digits recipe, one run at a time


def train_digits(model: str = "ViT", epochs: int = 30, seed: int = 0, pos_embed: str = "learned",
                 precision: str = "auto", shuffle_patches: bool = False):
    """One training on the digits with `digits_vit_recipe`'s data and fit settings -> (History, trained model).

    model: "ViT" (the recipe's ViT, with position embedding `pos_embed`) or "CNN" (SmallCNN with widths
    (16, 32)). What it runs is what section 2 shows: torch.manual_seed(seed), build the model, then
    fit(model, (x_train, y_train), (x_test, y_test), **fit_kwargs) with `epochs`, `seed` and `precision`.
    shuffle_patches: the control task for position embeddings, every image's patches in its own random order
    (train and test), so that a patch's position carries no information. A top-level function, so that
    vitlib.parallel.run_in_processes can run several side by side.
    """
    if model not in ("ViT", "CNN"):
        raise ValueError(f"model must be 'ViT' or 'CNN', got {model!r}")
    data_kwargs, cfg, fit_kwargs = digits_vit_recipe(epochs)
    x_train, y_train, x_test, y_test = load_digits(**data_kwargs)
    if shuffle_patches:
        x_train = shuffle_patches_per_image(x_train, cfg.patch_size, seed=seed)
        x_test = shuffle_patches_per_image(x_test, cfg.patch_size, seed=seed + 1)
    torch.manual_seed(seed)
    net = ViT(cfg.replace(pos_embed=pos_embed)) if model == "ViT" else SmallCNN(in_channels=1, num_classes=10,
                                                                                widths=(16, 32))
    fit_kwargs.update(seed=seed, warmup_epochs=min(fit_kwargs["warmup_epochs"], epochs), precision=precision)
    history = fit(net, (x_train, y_train), (x_test, y_test), **fit_kwargs, progress=False)
    return history, net


# ------------------------------ the data-scale experiment: ViT vs CNN on fractal classes
#
# One run = one (model, images per class n, seed): the task is rendered once per process
# (`fractal_task`); the seed draws the run's n training instances of every class from a pool (so seeds
# resample the data, not only the weights), the run trains for at least MIN_EPOCHS epochs and at least
# MIN_STEPS optimiser steps (`sweep_epochs`: small sets are not under-trained, large ones see every image
# MIN_EPOCHS times), and reports the accuracy on the same held-out instances for every seed.

# pool_per_class: the training instances of every class that the seeds draw from
FRACTAL_TASK = dict(classes=10, image_size=16, test_per_class=100, pool_per_class=384, seed=0)
# The digits recipe's optimiser settings, without the random shifts: the models learn what they
# need from the training images alone, not from augmentation.
SWEEP_FIT = dict(lr=2e-3, batch_size=64, weight_decay=0.05, warmup_epochs=2, label_smoothing=0.1, shift=0)
MIN_STEPS, MIN_EPOCHS = 200, 10


@functools.lru_cache(maxsize=2)
def fractal_task(pool_per_class: int = 384, classes: int = 10, image_size: int = 16, test_per_class: int = 100,
                 seed: int = 0):
    """The FractalDB-style task, rendered once per process (cached: do not modify the tensors in place).

    -> (x_pool (C * pool_per_class, 1, S, S), y_pool), (x_test (C * test_per_class, 1, S, S), y_test).
    Class c is one iterated function system (`vitlib.fractals.FractalDataset`, no flips); item i is class
    i % C, instance i // C. The first test_per_class instances of every class are the held-out set, the
    same for every run; the next pool_per_class are the pool that each run draws its training images from.
    """
    dataset = FractalDataset(num_classes=classes, images_per_class=test_per_class + pool_per_class,
                             image_size=image_size, seed=seed)
    x, y = dataset.tensors()  # (C * (test + pool), 1, S, S), (C * (test + pool),)
    cut = classes * test_per_class
    return (x[cut:], y[cut:]), (x[:cut], y[:cut])


def draw_per_class(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of `per_class` items of every class, drawn at random by `seed`: (C * per_class,), sorted."""
    gen = torch.Generator().manual_seed(seed)
    picks = [torch.nonzero(labels == k).flatten() for k in labels.unique()]
    return torch.cat([idx[torch.randperm(len(idx), generator=gen)[:per_class]] for idx in picks]).sort().values


def sweep_model(name: str, classes: int = 10, image_size: int = 16) -> nn.Module:
    """ "ViT": the digits recipe's ViT (D = 64, 4 layers of 4 heads, MLP 128) with image_size / 4 patches,
    so again 16 tokens; "CNN": section 3's SmallCNN (widths 16, 32)."""
    if name == "ViT":
        cfg = digits_vit_recipe()[1]
        return ViT(cfg.replace(image_size=image_size, patch_size=image_size // 4, num_classes=classes))
    if name == "CNN":
        return SmallCNN(in_channels=1, num_classes=classes, widths=(16, 32))
    raise ValueError(f"unknown model {name!r}; use 'ViT' or 'CNN'")


def sweep_epochs(train_images: int, batch_size: int = SWEEP_FIT["batch_size"], min_steps: int = MIN_STEPS,
                 min_epochs: int = MIN_EPOCHS) -> int:
    """Epochs for a training set of `train_images`: at least min_epochs, and enough for min_steps steps."""
    if train_images < 1:
        raise ValueError(f"train_images must be at least 1, got {train_images}")
    steps_per_epoch = math.ceil(train_images / batch_size)
    return max(min_epochs, math.ceil(min_steps / steps_per_epoch))


SCRAMBLES = {"patches": permute_patches, "pixels": permute_within_patches}  # the probes of section 4


def fractal_run(model: str, per_class: int, seed: int, min_steps: int = MIN_STEPS, min_epochs: int = MIN_EPOCHS,
                precision: str = "auto", scramble: str | None = None, scramble_seed: int = 0, **task) -> dict:
    """Train `model` ("ViT" or "CNN") from scratch on `per_class` instances of each fractal class, drawn
    from the pool by `seed` (which also seeds the weights and the batch order).

    task: FRACTAL_TASK's keys, to change the task. scramble: a probe task, the same fixed permutation (drawn by
    scramble_seed) applied to every training and test image: "patches" shuffles the ViT's patches
    (image_size / 4 px), "pixels" the pixels inside every patch (`vitlib.course.controls`).
    -> {"accuracy": held-out accuracy in [0, 1], "train_accuracy": on the last epoch, "epochs", "steps",
        "seconds": the wall time of the run, with the rendering of the task in a process's first run}.
    """
    task = {**FRACTAL_TASK, **task}
    if not 1 <= per_class <= task["pool_per_class"]:
        raise ValueError(f"per_class must be between 1 and pool_per_class ({task['pool_per_class']}), got {per_class}")
    start = time.perf_counter()
    (x_pool, y_pool), (x_test, y_test) = fractal_task(**task)
    keep = draw_per_class(y_pool, per_class, seed)  # [C * per_class]
    x_train, y_train = x_pool[keep], y_pool[keep]
    if scramble is not None:
        if scramble not in SCRAMBLES:
            raise ValueError(f"scramble must be one of {list(SCRAMBLES)} or None, got {scramble!r}")
        patch = task["image_size"] // 4
        x_train = SCRAMBLES[scramble](x_train, patch, scramble_seed)
        x_test = SCRAMBLES[scramble](x_test, patch, scramble_seed)
    epochs = sweep_epochs(len(y_train), min_steps=min_steps, min_epochs=min_epochs)
    torch.manual_seed(seed)
    net = sweep_model(model, task["classes"], task["image_size"])
    fit_kwargs = {**SWEEP_FIT, "warmup_epochs": min(SWEEP_FIT["warmup_epochs"], epochs), "precision": precision}
    history = fit(net, (x_train, y_train), None, epochs=epochs, seed=seed, progress=False, **fit_kwargs)
    return {"accuracy": evaluate(net, (x_test, y_test), precision=precision), "train_accuracy": history.train_acc[-1],
            "epochs": epochs, "steps": epochs * math.ceil(len(y_train) / SWEEP_FIT["batch_size"]),
            "seconds": time.perf_counter() - start}


@dataclass
class Sweep:
    """What data_scale_sweep measured.

    accuracy: {model: (S, F) held-out accuracies in [0, 1]}, S = len(seeds), F = len(sizes).
    longer:   {(model, per_class, seed): held-out accuracy with twice the training} for the runs
              repeated with twice MIN_STEPS and MIN_EPOCHS: had the first run reached its plateau?
    runs:     every run's dict (its job's arguments and fractal_run's result), in the order model, size, seed.
    seconds:  the wall time of the whole sweep; sum(r["seconds"] for r in runs) is the time of its runs.
    """

    sizes: list
    seeds: list
    accuracy: dict
    longer: dict
    runs: list = field(repr=False)
    seconds: float


def data_scale_sweep(sizes, seeds, models=("ViT", "CNN"), twice_as_long=(), min_steps: int = MIN_STEPS,
                     min_epochs: int = MIN_EPOCHS, processes: int = 2, precision: str = "auto",
                     scramble: str | None = None, scramble_seed: int = 0, **task) -> Sweep:
    """fractal_run for every (model, images per class, seed), in `processes` worker processes of one thread.

    twice_as_long: (per_class, seed) pairs to run again, for every model, with 2 * min_steps and
                   2 * min_epochs (the plateau check).
    precision, scramble, scramble_seed: passed to every fractal_run. task: FRACTAL_TASK's keys, to change the task.
    The held-out set is the same for every run and every seed. The longest runs
    are handed out first, so that the processes finish together. -> Sweep.
    """
    sizes, seeds, start = list(sizes), list(seeds), time.perf_counter()
    if not sizes or not seeds or any(not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes must be positive integers (training images per class) and seeds non-empty; "
                         f"got sizes {sizes} and seeds {seeds}")
    common = dict(precision=precision, scramble=scramble, scramble_seed=scramble_seed, **task)
    jobs = [dict(model=m, per_class=n, seed=s, min_steps=min_steps, min_epochs=min_epochs, **common)
            for m in models for n in sizes for s in seeds]
    jobs += [dict(model=m, per_class=n, seed=s, min_steps=2 * min_steps, min_epochs=2 * min_epochs, **common)
             for m in models for n, s in twice_as_long]
    classes = task.get("classes", FRACTAL_TASK["classes"])

    def cost(job):  # images seen; a ViT step costs about twice a CNN step here
        images = job["per_class"] * classes
        return (sweep_epochs(images, min_steps=job["min_steps"], min_epochs=job["min_epochs"]) * images
                * (2 if job["model"] == "ViT" else 1))

    order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))
    runs = [None] * len(jobs)
    for i, result in zip(order, run_in_processes(fractal_run, [jobs[i] for i in order], processes=processes)):
        runs[i] = {**jobs[i], **result}
    cells = len(models) * len(sizes) * len(seeds)
    grid, extra = runs[:cells], runs[cells:]  # the sweep, then the runs with twice the training
    acc = rearrange(np.array([r["accuracy"] for r in grid]), "(m f s) -> m s f", m=len(models), f=len(sizes))
    return Sweep(sizes=sizes, seeds=seeds, accuracy={m: acc[k] for k, m in enumerate(models)},
                 longer={(r["model"], r["per_class"], r["seed"]): r["accuracy"] for r in extra}, runs=runs,
                 seconds=time.perf_counter() - start)


# ------------------------------ drawings


def plot_fractal_classes(images, labels, classes: int, per_class: int = 3, title: str | None = None) -> Figure:
    """The first `per_class` instances of each of `classes` fractal classes: one column per class.

    images (B, 1, S, S), labels (B,) in FractalDataset's order (item i = class i % classes, instance
    i // classes), e.g. fractal_task's training tensors.
    """
    count = classes * per_class
    if len(images) < count:
        raise ValueError(f"{len(images)} images for {per_class} instances of {classes} classes; pass at least {count}")
    grid = rearrange(np.asarray(images[:count], dtype=np.float32), "(m c) 1 h w -> m c h w", c=classes)
    names = np.asarray(labels[:classes])
    fig = Figure(figsize=(0.95 * classes + 0.8, 0.95 * per_class + 0.7), layout="constrained")
    axes = fig.subplots(per_class, classes, squeeze=False)
    for m in range(per_class):
        for c in range(classes):
            ax = axes[m, c]
            ax.imshow(grid[m, c], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if m == 0:
                ax.set_title(f"class {names[c]}", fontsize=9)
        axes[m, 0].set_ylabel(f"instance {m}", fontsize=9)
    fig.suptitle(title or f"{classes} fractal classes (columns), {per_class} instances of each (rows)", fontsize=11)
    return fig


def plot_data_scale(sizes, accuracies: dict, test_images: int = 1000, title: str | None = None) -> Figure:
    """Left: held-out accuracy against training images per class, one line per model (mean ± std over seeds),
    on an axis that starts at the multiple of 5 below the lowest mean - std (and says so), so that curves
    near 100% do not sit on top of each other. Right: the same runs as error rates on a log axis, one dot
    per seed, because near 100% accuracy a small gap in points can be a large ratio of errors.

    sizes: (F,) images per class; accuracies: {model: (S, F) in [0, 1]} (a (F,) array counts as one seed).
    test_images: the size of the held-out set; a run without errors is drawn at half an image's error rate.
    """
    n = np.asarray(sizes, dtype=float)
    accs = {name: np.atleast_2d(np.asarray(a, dtype=float)) for name, a in accuracies.items()}
    for name, a in accs.items():
        if a.shape[1] != len(n):
            raise ValueError(f"{name}: {a.shape[1]} accuracies per seed for {len(n)} sizes; pass (seeds, sizes)")
    floor = 50 / test_images  # half an image, in %
    fig = Figure(figsize=(11, 4.0), layout="constrained")
    ax_acc, ax_err = fig.subplots(1, 2)
    for i, (name, a) in enumerate(accs.items()):
        color, marker = figures.family_style(name, i)
        seeds = a.shape[0]
        ax_acc.errorbar(n, 100 * a.mean(axis=0), yerr=100 * a.std(axis=0) if seeds > 1 else None, color=color,
                        marker=marker, capsize=3, label=f"{name} (mean ± std of {seeds} seeds)" if seeds > 1 else name)
        error = np.maximum(100 * (1 - a), floor)  # (S, F) %, no errors drawn at the floor
        for row in error:
            ax_err.plot(n, row, marker, color=color, ms=5, alpha=0.5, ls="none")
        ax_err.plot(n, np.maximum(100 * (1 - a.mean(axis=0)), floor), "-", color=color, marker=marker,
                    label=f"{name} (mean; dots: seeds)")
    lowest = min(float((100 * (a.mean(axis=0) - a.std(axis=0))).min()) for a in accs.values())
    bottom = 5 * np.floor((lowest - 0.5) / 5) if lowest > 50 else 0.0
    ax_acc.set_ylim(bottom, 100.5)
    ax_acc.set_yticks(np.arange(bottom, 100.1, 1 if 100 - bottom <= 10 else 5 if 100 - bottom <= 50 else 10))
    ax_acc.set(ylabel="held-out accuracy (%)" + (f"; axis starts at {bottom:.0f}%" if bottom else ""),
               title="accuracy" + (f" (axis from {bottom:.0f}%, not 0)" if bottom else " (axis from 0)"))
    ax_acc.legend(fontsize=8, loc="lower right")
    ax_err.set_yscale("log")
    ax_err.axhline(floor, color="0.6", ls=":", lw=1, label=f"no errors (drawn at half an image of {test_images:,})")
    ax_err.set(ylabel="held-out error (%, log axis)", title="the same runs as error rates")
    ax_err.legend(fontsize=8, loc="upper right")
    for ax in (ax_acc, ax_err):
        ax.set_xscale("log")
        ax.set_xticks(n, [f"{int(v)}" for v in n])
        ax.minorticks_off()
        ax.set_xlabel("training images per class (log axis)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def plot_digit_patches(image, patch_size: int, title: str | None = None, details=None) -> Figure:
    """One image with its patch grid drawn over it (the training widget's cheap preview).

    details: optional lines of text (the configuration's size and cost) drawn in a panel beside the image,
    where the widget's loss and accuracy curves will appear once Train is pressed.
    """
    img = figures.as_hwc(image)
    h, w = img.shape[:2]
    if details:
        fig = Figure(figsize=(10, 3.6), layout="constrained")
        ax, ax_text = fig.subplots(1, 2, width_ratios=[1, 2.2])
    else:
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
    if details:
        ax_text.set_axis_off()
        ax_text.set_title("this configuration (press Train: its loss and accuracy curves replace this panel)",
                          fontsize=9)
        ax_text.text(0.02, 0.92, "\n".join(details), transform=ax_text.transAxes, va="top", fontsize=11,
                     linespacing=1.7)
    return fig


# ------------------------------ widgets


class TrainingWidget(SliderFigure):
    """Notebook 05: sliders for a ViT's hyperparameters and a Train button that trains it on the digits.

    Moving a slider only redraws a cheap preview (a digit cut into patches, and the config's size and
    cost); the Train button runs `vitlib.train.fit` and shows the loss and accuracy curves, updated
    after every epoch. The patch-size slider offers only sizes that tile the image (`patch_sizes`);
    a combination that is still invalid (heads that do not divide D) shows ViTConfig's message. `.train()` is
    what the button calls; `.history` holds the last run's History.
    """

    def __init__(self, image_size: int = 32, patch_size: int = 8, dim: int = 64, depth: int = 4, heads: int = 4,
                 epochs: int = 10, lr: float = 2e-3, train_fraction: float = 1.0, seed: int = 0, fit_kwargs=None):
        self.image_size, self.seed = image_size, seed
        self.fit_kwargs = dict(batch_size=64, weight_decay=0.05, warmup_epochs=2, label_smoothing=0.1, shift=2)
        self.fit_kwargs.update(fit_kwargs or {})
        self._train_full = load_digits(image_size=image_size, channels=1, seed=seed)
        self._data_cache: dict = {}
        self.history = None

        def slider(cls, name, value, **kw):
            return cls(value=value, description=name, continuous_update=False,
                       style={"description_width": "initial"}, **kw)

        patch_sizes = self.patch_sizes(image_size)
        if patch_size not in patch_sizes:
            raise ValueError(f"patch size {patch_size} does not tile a {image_size}-px image; use one of {patch_sizes}")
        controls = {
            "patch_size": slider(widgets.SelectionSlider, "patch size", patch_size, options=patch_sizes),
            "patch_rule": widgets.HTML(f"<small>P divides {image_size}, so P x P patches tile the image: "
                                       f"({image_size} / P)<sup>2</sup> tokens</small>"),
            "dim": slider(widgets.IntSlider, "dim D", dim, min=8, max=256, step=8),
            "depth": slider(widgets.IntSlider, "depth", depth, min=1, max=8),
            "heads": slider(widgets.IntSlider, "heads", heads, min=1, max=8),
            "epochs": slider(widgets.IntSlider, "epochs", epochs, min=1, max=100),
            "lr": slider(widgets.FloatLogSlider, "learning rate", lr, base=10, min=-4, max=-1.5, step=0.25,
                         readout_format=".1e"),
            "train_fraction": slider(widgets.FloatSlider, "train fraction", train_fraction, min=0.05, max=1.0,
                                     step=0.05),
        }
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.button.on_click(lambda _button: self.train())
        super().__init__(controls, self._preview, rows=[["patch_size", "patch_rule"], ["dim", "depth", "heads"],
                                                        ["epochs", "lr", "train_fraction"]],
                         watch=[name for name in controls if name != "patch_rule"])
        self.ui.children = self.ui.children[:2] + (self.button,) + self.ui.children[2:]

    @staticmethod
    def patch_sizes(image_size: int) -> list:
        """The patch sizes the slider offers: the divisors of image_size that leave 4 to 256 tokens.

        (P = 1 on a 32-px image would be 1,024 tokens, minutes per epoch on a CPU; P = image_size one token.)
        """
        return [p for p in range(1, image_size + 1) if image_size % p == 0 and 4 <= (image_size // p) ** 2 <= 256]

    def config(self, values=None):
        v = values or self.values
        return ViTConfig(image_size=self.image_size, patch_size=v["patch_size"], in_channels=1, num_classes=10,
                         dim=v["dim"], depth=v["depth"], heads=v["heads"], mlp_dim=2 * v["dim"])

    def data(self, fraction: float):
        """(x_train, y_train, x_test, y_test) with a stratified `fraction` of the training split."""
        key = round(float(fraction), 4)
        if key >= 1:
            return self._train_full
        if key not in self._data_cache:
            self._data_cache[key] = load_digits(image_size=self.image_size, channels=1, seed=self.seed,
                                                train_size=key)
        return self._data_cache[key]

    def _preview(self, values):
        cfg = self.config(values)  # ValueError with ViTConfig's message if the combination is invalid
        n_train = max(10, round(values["train_fraction"] * len(self._train_full[1])))
        flops = train_flops(cfg) * n_train * values["epochs"]
        details = [f"ViT: D = {cfg.dim}, {cfg.depth} layer(s) of {cfg.heads} head(s), MLP {cfg.mlp_dim}, "
                   f"{cfg.num_patches + 1} tokens",
                   f"{count_params(cfg):,} parameters",
                   f"{n_train:,} training images x {values['epochs']} epochs, learning rate {values['lr']:.1e}",
                   f"= {flops / 1e9:,.0f} GFLOPs of training (forward and backward)"]
        fig = plot_digit_patches(self._train_full[0][0], cfg.patch_size,
                                 title=f"P = {cfg.patch_size}: {cfg.num_patches} patches + [class] = "
                                       f"{cfg.num_patches + 1} tokens", details=details)
        message = (f"{count_params(cfg):,} parameters; {n_train} training images x {values['epochs']} epochs = "
                   f"{flops / 1e9:,.0f} GFLOPs of training. Press <b>Train</b> to train this model.")
        return fig, message

    def train(self):
        """Train the current configuration (fit with the sliders' settings); -> History, or None if invalid."""
        v = self.values
        try:
            cfg = self.config(v)
        except ValueError as error:
            self.say(str(error), error=True)
            return None
        x_train, y_train, x_test, y_test = self.data(v["train_fraction"])
        torch.manual_seed(self.seed)
        model = ViT(cfg)
        title = (f"P={cfg.patch_size}, D={cfg.dim}, depth {cfg.depth}, {cfg.heads} heads, lr {v['lr']:.1e}, "
                 f"{len(y_train)} training images")

        def progress(epoch, history, _model):
            self.show(figures.plot_history(history, title=title))
            self.message.value = (f"epoch {epoch}/{v['epochs']}: train loss {history.train_loss[-1]:.3f}, "
                                  f"test accuracy {history.test_acc[-1]:.1%}")

        self.button.disabled = True
        try:
            self.history = fit(model, (x_train, y_train), (x_test, y_test), epochs=v["epochs"], lr=v["lr"],
                               seed=self.seed, progress=False, on_epoch_end=progress,
                               **{**self.fit_kwargs, "warmup_epochs": min(self.fit_kwargs.get("warmup_epochs", 0),
                                                                          v["epochs"])})
        except ValueError as error:
            self.say(str(error), error=True)
            return None
        finally:
            self.button.disabled = False
        h = self.history
        self.message.value = (f"done: {h.epochs} epochs in {h.total_seconds:.1f} s; final test accuracy "
                              f"{h.test_acc[-1]:.1%} (best {h.best_test_acc:.1%}). Move a slider to preview another "
                              "config.")
        return h


def training_widget(**kwargs) -> TrainingWidget:
    """Notebook 05: hyperparameter sliders + Train button on the digits (see TrainingWidget)."""
    return TrainingWidget(**kwargs)


# ------------------------------ exercise checkers


@checker
def check_lr_schedule(lr_schedule) -> bool:
    """Notebook 05: lr_schedule(step, total_steps, lr, warmup_steps, final_lr_fraction) must equal vitlib.train.lr_at.

    The formula the exercise states: lr * (step + 1) / w for step < w; then, with
    t = min((step - w) / max(total_steps - w - 1, 1), 1), lr * (f + (1 - f) * (1 + cos(pi t)) / 2) with
    f = final_lr_fraction.
    A wrong answer is named if it matches a usual mistake; otherwise the message gives the first step
    that differs, both values to 6 significant digits, and which part of the schedule it is in.
    """
    cases = ([(s, 100, 1e-3, 10, 0.01) for s in (0, 1, 5, 9, 10, 11, 50, 98, 99)]
             + [(s, 40, 2e-3, 0, 0.1) for s in (0, 20, 39)])

    def cosine(s, t, lr, w, f, decay_steps):  # the decay part with a given denominator
        return lr * (f + (1 - f) * (1 + math.cos(math.pi * min((s - w) / max(decay_steps, 1), 1.0))) / 2)

    def warm(s, w, lr):
        return lr * (s + 1) / w

    mistakes = {
        "the warmup starts at 0 (lr * step / warmup_steps): the first step would not learn at all; use (step + 1)":
            lambda s, t, lr, w, f: lr * s / w if s < w else lr_at(s, t, lr, w, f),
        "there is no warmup: the first steps use the full lr":
            lambda s, t, lr, w, f: lr_at(s + w if s < w else s, t, lr, w, f) if w else lr_at(s, t, lr, w, f),
        "the cosine decays to 0 instead of to lr * final_lr_fraction":
            lambda s, t, lr, w, f: lr_at(s, t, lr, w, 0.0),
        "the decay is linear, not a cosine":
            lambda s, t, lr, w, f: lr * (step_t := min((s - w) / max(t - w - 1, 1), 1.0), f + (1 - f) * (1 - step_t))[1]
            if s >= w else warm(s, w, lr),
        "the cosine runs over all total_steps, not over the steps after the warmup":
            lambda s, t, lr, w, f: lr * (f + (1 - f) * (1 + math.cos(math.pi * min(s / max(t - 1, 1), 1))) / 2)
            if s >= w else warm(s, w, lr),
        "the decay divides by (total_steps - warmup_steps); the formula divides by (total_steps - warmup_steps - 1), "
        "so that t reaches 1 and the rate reaches lr * final_lr_fraction exactly at the last step, step = total_steps "
        "- 1":
            lambda s, t, lr, w, f: cosine(s, t, lr, w, f, t - w) if s >= w else warm(s, w, lr),
    }
    got = []
    for case in cases:
        attempted, value = run_answer(lr_schedule, *case, name="lr_schedule")
        if not attempted:
            return False
        try:
            got.append(float(value))
        except (TypeError, ValueError):
            raise ExerciseError(f"lr_schedule: return a float learning rate, got {type(value).__name__}") from None
    expected = [lr_at(*c) for c in cases]

    def close(a, b):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)

    if all(close(g, e) for g, e in zip(got, expected)):
        return passed("lr_schedule", "linear warmup + cosine decay, equal to vitlib.train.lr_at")
    for what, wrong in mistakes.items():
        if all(close(g, wrong(*c)) for g, c in zip(got, cases)):
            raise ExerciseError(f"lr_schedule: close, but {what}.")
    first_bad = next(i for i, (g, e) in enumerate(zip(got, expected)) if not close(g, e))
    s, t, lr, w, f = cases[first_bad]
    if s < w:
        part = f"That step is in the warmup (step < warmup_steps = {w}): lr * (step + 1) / warmup_steps."
    else:
        tt = min((s - w) / max(t - w - 1, 1), 1.0)
        part = (f"That step is in the cosine decay: t = (step - warmup_steps) / (total_steps - warmup_steps - 1) "
                f"= {tt:.6g}, lr * (f + (1 - f) * (1 + cos(pi * t)) / 2) with f = final_lr_fraction.")
    raise ExerciseError(f"lr_schedule: at step {s} of total_steps = {t} (lr = {lr}, warmup_steps = {w}, "
                        f"final_lr_fraction = {f}) "
                        f"you return {got[first_bad]:.6g}, expected {expected[first_bad]:.6g}. {part}")
