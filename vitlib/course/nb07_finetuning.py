"""Notebook 07 (fine-tuning): the experiment runners, drawing, widget and exercise checker the notebook uses.

    model_for_run, finetune_run, finetune_runs, sweep
                              pretrained vs from scratch vs a CNN on a label budget of the digits
                              (finetune_runs and sweep: runs side by side in worker processes)
    plot_accuracy_per_epoch   test accuracy after every epoch of a few runs
    plot_finetune_results     accuracy against the label budget, and one budget's bars
    finetune_results_widget   the same, with a slider over the budgets and image sizes
    pos_similarity_widget     Figure 7 (centre), shared with notebook 06 (`vitlib.course.ui`)
    check_resize_pos_embed    exercise: 2D interpolation of the position embeddings (Section 3.2)

The library part of fine-tuning (new resolution, freezing, layer-wise lr decay) is `vitlib.finetune`.
"""

from __future__ import annotations

import html
import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure
from torch import nn

from ..baselines import SmallCNN
from ..data import load_labelled_digits
from ..embeddings import resize_pos_embed
from ..finetune import at_resolution
from ..model import ViT
from ..parallel import run_in_processes
from ..train import evaluate, fit
from .exercise import ExerciseError, checker, matches, passed, require_tensor, run_answer
from .figures import plot_images, plot_seed_bars  # shared with other notebooks, used here too
from .ui import SliderFigure, pos_similarity_widget

__all__ = ["plot_images", "plot_seed_bars", "INITS", "FINETUNE_FIT", "FINETUNE_LR", "LR_CHOICE", "lr_for",
           "model_for_run", "finetune_run", "finetune_runs", "choose_lr", "sweep", "resized_tables",
           "accuracy_with_table", "plot_accuracy_per_epoch", "plot_finetune_results", "finetune_results_widget",
           "pos_similarity_widget", "check_resize_pos_embed"]


# ------------------------------ the experiment: pretrained vs from scratch on the digits
#
# One run = one (init, image size, label budget, seed): build the model (`model_for_run`), take a
# stratified subset of the digits' training pool (`load_labelled_digits`), fine-tune for a fixed number
# of optimiser steps (so small budgets are not under-trained), report the accuracy on the same 450 test
# images for every seed. The seed draws the labelled subset, the random weights, the batch order and the
# shifts; it never moves an image between training and test.


INITS = ("pretrained", "scratch", "cnn")

# AdamW settings for fine-tuning on the digits. Warm-up is the same fraction of every run (10% of its
# epochs), whatever its length. Batches of 32: a step of 32 images costs 0.6 of a step of 64 on one core.
FINETUNE_FIT = dict(batch_size=32, weight_decay=0.05, label_smoothing=0.1, final_lr_fraction=0.01)
WARMUP_FRACTION = 0.1
LEARNING_RATES = (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)  # the grid every arm's rate is chosen from
# Chosen by `choose_lr` for each arm and budget in the same way (`python tools/choose_lr.py`): train seed 0 on
# the training pool minus the validation digits, pick the best validation accuracy of LEARNING_RATES (and of
# higher rates while the best is the highest tried); never the test set. LR_CHOICE holds the validation
# accuracies it measured (fp32, a 2-core x86_64 CPU, torch 2.13): the CNN, with BatchNorm, wants rates 30-100x
# higher than the ViTs.
FINETUNE_LR = {("pretrained", 10): 5e-4, ("scratch", 10): 4e-3, ("cnn", 10): 3.2e-2,
               ("pretrained", None): 2e-3, ("scratch", None): 4e-3, ("cnn", None): 6.4e-2}
LR_CHOICE = {
    ("pretrained", 10): {2.5e-4: 0.74, 5e-4: 0.815, 1e-3: 0.815, 2e-3: 0.81, 4e-3: 0.775, 8e-3: 0.76, 1.6e-2: 0.36},
    ("pretrained", None): {2.5e-4: 0.795, 5e-4: 0.845, 1e-3: 0.89, 2e-3: 0.905, 4e-3: 0.835, 8e-3: 0.715,
                           1.6e-2: 0.585},
    ("scratch", 10): {2.5e-4: 0.64, 5e-4: 0.625, 1e-3: 0.585, 2e-3: 0.61, 4e-3: 0.67, 8e-3: 0.51, 1.6e-2: 0.31},
    ("scratch", None): {2.5e-4: 0.575, 5e-4: 0.58, 1e-3: 0.705, 2e-3: 0.715, 4e-3: 0.73, 8e-3: 0.485, 1.6e-2: 0.355},
    ("cnn", 10): {2.5e-4: 0.325, 5e-4: 0.335, 1e-3: 0.4, 2e-3: 0.56, 4e-3: 0.635, 8e-3: 0.64, 1.6e-2: 0.66,
                  3.2e-2: 0.755, 6.4e-2: 0.68},
    ("cnn", None): {2.5e-4: 0.4, 5e-4: 0.475, 1e-3: 0.59, 2e-3: 0.71, 4e-3: 0.765, 8e-3: 0.82, 1.6e-2: 0.9,
                    3.2e-2: 0.91, 6.4e-2: 0.935, 1.28e-1: 0.815},
}


def lr_for(init: str, labels_per_class: int | None) -> float:
    """The chosen learning rate of an arm: FINETUNE_LR's "10 per class" entry for every label budget, its
    "all labels" (None) entry without one; the "shuffled" control uses the pretrained arm's."""
    arm = "pretrained" if init == "shuffled" else init
    return FINETUNE_LR[arm, None if labels_per_class is None else 10]


def model_for_run(backbone: ViT, init: str, image_size: int, num_classes: int = 10, seed: int = 0) -> nn.Module:
    """The model of one run: `backbone` at `image_size` with a new zero-initialised head ("pretrained"),
    the same architecture with fresh random weights ("scratch"), notebook 05's CNN baseline ("cnn":
    SmallCNN with widths (16, 32), trained from scratch), or the control "shuffled": the pretrained
    weights with each tensor's entries permuted at random (the same numbers, none of the learned structure)."""
    if init not in INITS + ("shuffled",):
        raise ValueError(f"unknown init {init!r}; use one of {INITS + ('shuffled',)}")
    if init == "cnn":
        torch.manual_seed(seed)
        return SmallCNN(in_channels=backbone.cfg.in_channels, num_classes=num_classes, widths=(16, 32))
    if init in ("pretrained", "shuffled"):
        model = at_resolution(backbone, image_size)
        if init == "shuffled":
            gen = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.flatten()[torch.randperm(p.numel(), generator=gen)].view_as(p))
        model.reset_head(num_classes)
        return model
    torch.manual_seed(seed)
    return ViT(backbone.cfg.replace(image_size=image_size, num_classes=num_classes, head="linear",
                                    head_hidden_dim=None))


def finetune_run(backbone: ViT, init: str, labels_per_class: int | None, image_size: int, seed: int = 0,
                 steps: int = 300, lr: float | None = None, validation: bool = False, progress: bool = False,
                 **fit_kwargs):
    """Fine-tune (or train from scratch) on a label budget for about `steps` optimiser steps
    -> (the trained model, its History). The test accuracy (validation=True: the validation accuracy) is
    history.test_acc[-1].

    lr: None takes the chosen learning rate, `lr_for(init, labels_per_class)`.
    Shifts of up to 2 pixels per 32 (half a digit pixel) are the augmentation at every resolution. The
    number of epochs is rounded up, so a run takes at least `steps` steps (whole epochs); warm-up is
    WARMUP_FRACTION of them. With all labels the held-out set is evaluated after every epoch (a learning
    curve); with a label budget only after the last one.
    """
    x_train, y_train, x_eval, y_eval = load_labelled_digits(labels_per_class, image_size, seed, validation)
    model = model_for_run(backbone, init, image_size, seed=seed)
    kwargs = {**FINETUNE_FIT, "shift": max(1, round(2 * image_size / 32)), **fit_kwargs}
    epochs = max(1, math.ceil(steps / math.ceil(len(y_train) / kwargs["batch_size"])))
    kwargs.setdefault("warmup_epochs", WARMUP_FRACTION * epochs)
    held_out = (x_eval, y_eval) if labels_per_class is None else None
    history = fit(model, (x_train, y_train), held_out, epochs=epochs, lr=lr or lr_for(init, labels_per_class),
                  seed=seed, progress=progress, **kwargs)
    if held_out is None:
        history.test_acc[-1] = evaluate(model, (x_eval, y_eval), precision=kwargs.get("precision", "auto"))
    return model, history


def finetune_runs(backbone: ViT, runs: list[dict], processes: int = 2, **common) -> list:
    """Several finetune_run calls side by side -> [(model, History)] in the order of `runs`.

    runs: one dict of finetune_run's arguments each, e.g. dict(init="scratch", labels_per_class=10,
    image_size=32, seed=1, steps=300); `common` is added to every one. Each run trains in its own worker
    process with one torch thread (`vitlib.parallel`): tiny models do not get faster from a second
    thread, but two runs on two cores take about as long as one.
    """
    jobs = [dict(backbone=backbone, **common, **run) for run in runs]
    return run_in_processes(finetune_run, jobs, processes=processes)


def sweep(backbone: ViT, budgets, image_sizes, seeds=(0,), inits=("pretrained", "scratch"), steps=300,
          results: dict | None = None, processes: int = 2, **kwargs) -> dict:
    """finetune_run over every combination -> {(init, image_size, labels_per_class): [test accuracy per seed]}.

    steps: an int, or a function labels_per_class -> steps. Seeds already in `results` (e.g. from
    earlier runs) are kept and not run again, so a cell with one seed gets the missing ones; the dict
    is updated in place. The runs go `processes` at a time (`finetune_runs`), the longest first.
    """
    results = {} if results is None else results
    todo = []
    for size in image_sizes:
        for budget in budgets:
            for init in inits:
                done = len(results.get((init, size, budget), []))
                todo += [dict(init=init, labels_per_class=budget, image_size=size, seed=seed,
                              steps=steps(budget) if callable(steps) else steps) for seed in seeds[done:]]
    todo.sort(key=lambda run: -run["steps"] * run["image_size"] ** 2)  # the longest first: the processes end together
    for run, (_, history) in zip(todo, finetune_runs(backbone, todo, processes=processes, **kwargs)):
        results.setdefault((run["init"], run["image_size"], run["labels_per_class"]), []).append(history.test_acc[-1])
    return results


def choose_lr(backbone: ViT, inits=INITS, budgets=(10, None), steps=None, lrs=LEARNING_RATES, seed: int = 0,
              processes: int = 2, **kwargs) -> dict:
    """Every arm's learning rate, chosen the same way: validation accuracy of each lr in `lrs`, and while an
    arm's best is the largest rate tried, of twice that rate too (up to 4 more)
    -> {(init, labels_per_class): {lr: validation accuracy}}. steps: a function labels_per_class -> steps."""
    found: dict = {}

    def run(todo):
        runs = [dict(init=init, labels_per_class=b, image_size=backbone.cfg.image_size, seed=seed, lr=lr,
                     steps=steps(b), validation=True) for init, b, lr in todo]
        for job, (_, history) in zip(runs, finetune_runs(backbone, runs, processes=processes, **kwargs)):
            found.setdefault((job["init"], job["labels_per_class"]), {})[job["lr"]] = history.test_acc[-1]

    run([(init, b, lr) for init in inits for b in budgets for lr in lrs])
    for _ in range(4):
        at_edge = [key for key, by_lr in found.items() if max(by_lr, key=by_lr.get) == max(by_lr)]
        if not at_edge:
            break
        run([(init, b, 2 * max(found[init, b])) for init, b in at_edge])
    return found


# ------------------------------ baselines and ablations that need no training


def resized_tables(pos_embed: torch.Tensor, new_grid: int, seed: int = 0) -> dict:
    """Ways to give a pretrained E_pos (1, 1 + G*G, D) the 1 + G'*G' rows of a larger grid -> {name: table}.

    "2D bilinear": the paper's 2D interpolation (vitlib's resize_pos_embed); "2D nearest": the same grid,
    nearest neighbour; "1D linear": the rows as a 1D sequence stretched to G'*G' (ignores the 2D layout);
    "zero-padded": the old rows first, zeros after; "rows shuffled": 2D bilinear, then the patch rows
    permuted; "no E_pos": all zeros.
    """
    cls_row, patches = pos_embed[:, :1], pos_embed[:, 1:]  # [1, 1, D], [1, G*G, D]
    n_new = new_grid * new_grid
    line = F.interpolate(rearrange(patches, "1 n d -> 1 d n"), size=n_new, mode="linear", align_corners=True)
    padded = torch.cat([patches, patches.new_zeros(1, n_new - patches.shape[1], patches.shape[2])], dim=1)
    bilinear = resize_pos_embed(pos_embed, new_grid)
    perm = torch.randperm(n_new, generator=torch.Generator().manual_seed(seed))
    return {"2D bilinear": bilinear,
            "2D nearest": resize_pos_embed(pos_embed, new_grid, mode="nearest", align_corners=None),
            "1D linear": torch.cat([cls_row, rearrange(line, "1 d n -> 1 n d")], dim=1),
            "zero-padded": torch.cat([cls_row, padded], dim=1),
            "rows shuffled": torch.cat([cls_row, bilinear[:, 1:][:, perm]], dim=1),
            "no E_pos": torch.zeros_like(bilinear)}


def accuracy_with_table(backbone: ViT, table: torch.Tensor, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of `backbone`'s own pretraining head at the images' resolution with `table` as its E_pos."""
    model = at_resolution(backbone, images.shape[-1])
    with torch.no_grad():
        model.pos_embed.pos_embed.copy_(table)
        return float((model.eval()(images).argmax(dim=1) == labels).float().mean())


# ------------------------------ drawings


_INIT_STYLE = {"pretrained": ("tab:blue", "o", "pretrained"), "scratch": ("tab:orange", "s", "from scratch")}


def _budget_label(labels_per_class) -> str:
    return "all" if labels_per_class is None else str(labels_per_class)


def _finetune_inits(results: dict) -> list:
    """The inits in `results` (keys (init, image_size, labels_per_class)): pretrained, scratch, then any others."""
    if not results:
        raise ValueError("results is empty; pass what sweep returns: "
                         "{(init, image_size, labels_per_class): [test accuracy per seed]}")
    for key in results:
        if not (isinstance(key, tuple) and len(key) == 3):
            raise ValueError(f"results key {key!r} is not (init, image_size, labels_per_class); "
                             "pass what sweep returns")
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


def plot_accuracy_per_epoch(histories: dict, title: str | None = None) -> Figure:
    """Test accuracy after every epoch, one line per run: histories {name: History} (notebook 07, section 3).

    The x axis has one tick per epoch (a run of 3 epochs has ticks 1, 2, 3, not 1.0, 1.5, ...); the y axis
    runs from 0 to 100%, so the two starts compare honestly.
    """
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    longest = 1
    for name, history in histories.items():
        epochs = np.arange(1, history.epochs + 1)
        longest = max(longest, history.epochs)
        ax.plot(epochs, 100 * np.asarray(history.test_acc, dtype=float), marker="o", label=name)
    step = max(1, math.ceil(longest / 12))  # whole epochs, at most about 12 ticks
    ax.set_xticks(np.arange(1, longest + 1, step))
    ax.set_xlim(0.7, longest + 0.3)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(0, 100), title=title or "test accuracy per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _budget_order(labels_per_class):
    """Sort key: label budgets in increasing order, None ("all") last."""
    return (labels_per_class is None, labels_per_class or 0)


def plot_finetune_results(results: dict, image_size: int, labels_per_class, title: str | None = None) -> Figure:
    """Pretrained vs from scratch on a label budget (notebook 07).

    results: {(init, image_size, labels_per_class): [final test accuracy per seed, in [0, 1]]}, what
             `sweep` returns; labels_per_class None means all labels.
    Left: test accuracy (%) against labels per class at `image_size` (log axis, "all" drawn at twice the
    largest budget), one line per init, mean ± std over seeds (no error bar for one seed), the chosen
    budget marked by a dashed line (the y axis starts near the lowest point, and its label says where).
    Right: the chosen cell, one bar per init (mean, std, one dot per seed), on an axis from 0.
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
    lowest = max(0.0, low - 5)
    ax.set_ylim(lowest, 101)
    ax.set(xlabel="labelled training images per class (log axis)",
           ylabel="test accuracy (%)" + (f", axis from {lowest:.0f}" if lowest > 0 else ""))
    ax.set_title(f"{image_size} px digits: test accuracy against the label budget", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")

    seeds = max(len(v[2]) for v in cell.values())
    for i, init in enumerate(cell):
        color, _, name = _INIT_STYLE.get(init, (f"C{inits.index(init) + 2}", "o", init))
        mean, std, acc = cell[init]
        ax_bar.bar(i, mean, yerr=std if len(acc) > 1 else None, capsize=4, color=color, alpha=0.7, width=0.6)
        ax_bar.plot(np.full(len(acc), i), acc, "k.", ms=6)
        ax_bar.text(i, mean / 2, f"{mean:.1f}%", ha="center", va="center", fontsize=10,
                    fontweight="bold")  # inside the bar, clear of the error bar and the dots at its top
    ax_bar.set_ylim(0, 105)  # bars from 0: their heights compare honestly
    ax_bar.set_xticks(range(len(cell)), [_INIT_STYLE.get(i, (0, 0, i))[2] for i in cell])
    what = "all labels" if labels_per_class is None else f"{labels_per_class} labels per class"
    ax_bar.set_ylabel("test accuracy (%)")
    ax_bar.set_title(f"{what}, " + (f"mean ± std of {seeds} seeds" if seeds > 1 else "1 seed"), fontsize=10)
    ax_bar.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------ widgets


def _mean_std(mean: float, std: float, seeds: int) -> str:
    """'85.1 ± 1.2%', or '85.1%' for one seed."""
    return f"{mean:.1f} ± {std:.1f}%" if seeds > 1 else f"{mean:.1f}%"


def finetune_results_widget(results: dict) -> SliderFigure:
    """Notebook 07: pretrained vs from scratch, for each label budget and image size of a sweep.

    results: {(init, image_size, labels_per_class): [final test accuracy per seed]}, what
    `sweep` returns (labels_per_class None = all labels). Controls: `labels_per_class`
    (a slider over the budgets run, "all" last) and `image_size`. Drawn with
    `plot_finetune_results`; the message gives both means (± std over seeds) and the difference.
    A cell that was not run for an init shows a message instead of the figure.
    """
    inits = _finetune_inits(results)  # ValueError for an empty or malformed dict
    budgets = sorted({b for _, _, b in results}, key=_budget_order)
    sizes = sorted({s for _, s, _ in results})
    names = {"pretrained": "pretrained", "scratch": "from scratch"}

    def draw(values):
        b = None if values["labels_per_class"] == "all" else values["labels_per_class"]
        size = values["image_size"]
        fig = plot_finetune_results(results, size, b)  # ValueError naming a missing cell
        cell = {init: results[init, size, b] for init in inits}
        what = "all labels" if b is None else f"{b} label{'s' * (b != 1)} per class"
        stats = {init: (100 * float(np.mean(acc)), 100 * float(np.std(acc)), len(acc)) for init, acc in cell.items()}
        counts = {n for _, _, n in stats.values()}
        parts = [f"{names.get(init, init)} {_mean_std(*stats[init])}" + ("" if len(counts) == 1 else
                 f" ({stats[init][2]} seed{'s' * (stats[init][2] != 1)})") for init in inits]
        message = f"{what} at {size} px: " + ", ".join(parts)
        if len(counts) == 1:
            n = counts.pop()
            message += f" ({n} seed{'s' * (n != 1)})"
        if "pretrained" in stats and "scratch" in stats:
            message += f": {stats['pretrained'][0] - stats['scratch'][0]:+.1f} points"
        return fig, html.escape(message)

    options = [(str(b), b) for b in budgets if b is not None] + ([("all", "all")] if None in budgets else [])
    default = 10 if 10 in budgets else options[0][1]
    controls = {
        "labels_per_class": widgets.SelectionSlider(options=options, value=default, description="labels/class",
                                               continuous_update=False, layout=widgets.Layout(width="360px")),
        "image_size": widgets.SelectionSlider(options=[(f"{s} px", s) for s in sizes], value=sizes[0],
                                         description="image size", continuous_update=False,
                                         layout=widgets.Layout(width="300px")),
    }
    return SliderFigure(controls, draw)


# ------------------------------ exercise checkers


def _grid_resize(patches: torch.Tensor, g: int, new: int, **interpolate) -> torch.Tensor:
    """(1, G*G, D) patch rows -> (1, new*new, D): the right layout, any interpolation."""
    grid = rearrange(patches, "1 (h w) d -> 1 d h w", h=g)
    return rearrange(F.interpolate(grid, size=(new, new), **interpolate), "1 d h w -> 1 (h w) d")


def _resize_mistakes(pos: torch.Tensor, new: int) -> list:
    """[(wrong answer (1, 1+new*new, D), what is wrong)] for `pos` (1, 1+G*G, D), the usual slips."""
    cls, patches = pos[:, :1], pos[:, 1:]
    t, d = patches.shape[1], patches.shape[2]
    g = int(round(t**0.5))
    bilinear = dict(mode="bilinear", align_corners=True)
    right = resize_pos_embed(pos, new)[:, 1:]  # (1, new*new, D)

    def with_cls(rows):
        return torch.cat([cls, rows], dim=1)

    def reshaped_in(rows):  # (1, G*G, D) reshaped straight to (1, D, G, G)
        return rows.reshape(1, d, g, g)

    def reshaped_out(grid):  # (1, D, new, new) reshaped straight to (1, new*new, D)
        return grid.reshape(1, new * new, d)

    no_permute = ("reshape moves numbers, it does not move axes: going between (G*G, D) and (D, G, G) needs "
                  "the D axis moved, e.g. rearrange(patches, '1 (h w) d -> 1 d h w', h=G) and back with "
                  "'1 d h w -> 1 (h w) d' (or .permute(0, 2, 1) before .reshape)")
    whole = rearrange(pos, "1 t d -> 1 d t")
    return [
        (with_cls(_grid_resize(patches, g, new, mode="bilinear", align_corners=False)),
         "align_corners=False: the corners of the old grid must land exactly on the corners of the new one, as in "
         "the paper's code (scipy.ndimage.zoom, order=1): F.interpolate(..., mode='bilinear', align_corners=True). "
         "(timm and Hugging Face use bicubic with align_corners=False; this exercise asks for the paper's)"),
        (with_cls(_grid_resize(patches, g, new, mode="nearest")),
         "that is nearest-neighbour interpolation: neighbouring new patches copy the same old embedding instead "
         "of blending them; use mode='bilinear', align_corners=True"),
        (with_cls(_grid_resize(patches, g, new, mode="bicubic", align_corners=True)),
         "that is bicubic interpolation; this exercise asks for bilinear (mode='bilinear', align_corners=True), "
         "what the paper's code does"),
        (with_cls(_grid_resize(patches, g, new, mode="bicubic", align_corners=False)),
         "that is bicubic interpolation with align_corners=False (what timm and Hugging Face do); this exercise "
         "asks for the paper's: mode='bilinear', align_corners=True"),
        (with_cls(rearrange(right, "1 (h w) d -> 1 (w h) d", h=new)),
         "the rows and columns of the grid are swapped (the result is transposed): patch n sits at row n // G, "
         "column n % G, so read and write the grid row by row, '(h w)' on both sides"),
        (with_cls(reshaped_out(F.interpolate(reshaped_in(patches), size=(new, new), **bilinear))),
         "you reshaped (1, G*G, D) straight to (1, D, G, G) and back; " + no_permute),
        (with_cls(reshaped_out(F.interpolate(rearrange(patches, "1 (h w) d -> 1 d h w", h=g), size=(new, new),
                                             **bilinear))),
         "the grid is right, but flattening back reshaped (1, D, G', G') straight to (1, G'*G', D); " + no_permute),
        (with_cls(rearrange(F.interpolate(reshaped_in(patches), size=(new, new), **bilinear), "1 d h w -> 1 (h w) d")),
         "you reshaped (1, G*G, D) straight to (1, D, G, G); " + no_permute),
        (torch.cat([right, cls], dim=1),
         "the [class] token's row is at the end; keep it first: torch.cat([pos_embed[:, :1], patches], dim=1)"),
        (with_cls(_grid_resize(pos[:, :t], g, new, **bilinear)),
         "the grid was built from the wrong rows (pos_embed[:, :G*G] holds the [class] token and drops the last "
         "patch); the patches are pos_embed[:, 1:]"),
        (rearrange(F.interpolate(whole, size=1 + new * new, mode="linear", align_corners=True), "1 d t -> 1 t d"),
         "the whole sequence, [class] token included, was interpolated as one 1D signal: set the [class] token's "
         "row aside, lay the patch rows out as a G x G grid and interpolate in 2D"),
        (rearrange(F.interpolate(whole, size=1 + new * new, mode="linear", align_corners=False), "1 d t -> 1 t d"),
         "the whole sequence, [class] token included, was interpolated as one 1D signal: set the [class] token's "
         "row aside, lay the patch rows out as a G x G grid and interpolate in 2D"),
    ]


@checker
def check_resize_pos_embed(fn) -> bool:
    """Exercise (07): fn(pos_embed (1, 1+G*G, D), new_grid) -> (1, 1+new_grid**2, D), as resize_pos_embed.

    The [class] token's row is kept as it is; the G*G patch rows become a (D, G, G) image, are resized
    by bilinear interpolation with align_corners=True and flattened back row by row.
    """
    name = getattr(fn, "__name__", "your function")

    gen = torch.Generator().manual_seed(0)
    cases = [(torch.randn(1, 1 + 3 * 3, 4, generator=gen), 5), (torch.randn(1, 1 + 4 * 4, 3, generator=gen), 2)]
    for i, (pos, new) in enumerate(cases):
        d, t = pos.shape[2], pos.shape[1] - 1
        g = int(round(t**0.5))
        attempted, got = run_answer(fn, pos.clone(), new, name=name)
        if not attempted:
            return False
        where = f"{name}(pos_embed of shape {tuple(pos.shape)}, a {g} x {g} grid, new_grid={new})"
        expected = resize_pos_embed(pos, new)
        require_tensor(got, where)
        if matches(got, expected):
            continue
        if i > 0:
            raise ExerciseError(f"{where} is wrong, though the first test (3 x 3 -> 5 x 5, D = 4) was right: "
                                "don't hard-code the grid sizes or D; take G from pos_embed's shape "
                                "(G = isqrt(T - 1)) and D from its last axis")
        n2 = new * new
        shape = tuple(got.shape)
        shape_hints = {
            (1, n2, d): "the [class] token's row is missing: set pos_embed[:, :1] aside, resize only the patch rows "
                        "pos_embed[:, 1:], then put it back in front with torch.cat(..., dim=1)",
            (1, 1 + t, d): f"that is still the old {g} x {g} grid: resize the patch rows to new_grid x new_grid",
            (1, t, d): f"that is the old {g} x {g} grid without the [class] token: resize the patch rows to "
                       "new_grid x new_grid and keep the [class] token's row in front",
            (1, d, new, new): "that is the resized grid as an image (1, D, G', G'): flatten it back to "
                              "(1, G'*G', D), rearrange(grid, '1 d h w -> 1 (h w) d'), and put the [class] token "
                              "in front",
            (1, new, new, d): "flatten the grid back to one row per patch, (1, G'*G', D), and put the [class] "
                              "token in front",
            (1 + n2, d): "keep the leading batch axis of 1: (1, 1 + G'*G', D)",
            (n2, d): "keep the leading batch axis of 1 and the [class] token's row: (1, 1 + G'*G', D)",
        }
        if shape != tuple(expected.shape):
            hint = shape_hints.get(shape)
            raise ExerciseError(f"{where} has shape {shape}; expected (1, 1 + new_grid**2, D) = "
                                f"{tuple(expected.shape)}" + (f": {hint}" if hint else ""))
        for wrong, message in _resize_mistakes(pos, new):
            if matches(got, wrong):
                raise ExerciseError(f"{where}: right shape, but {message}")
        if matches(got[:, 1:], expected[:, 1:]):
            raise ExerciseError(f"{where}: the patch rows are right, but the [class] token's row changed: keep "
                                "pos_embed[:, :1] exactly as it is (it has no place on the grid)")
        if not matches(got[:, :1], pos[:, :1]):
            raise ExerciseError(f"{where}: right shape, but the [class] token's row (row 0) is not the input's: "
                                "keep pos_embed[:, :1] as it is and interpolate only the patch rows")
        raise ExerciseError(f"{where}: right shape and [class] row, but the patch rows are wrong. Steps: "
                            "rearrange(pos_embed[:, 1:], '1 (h w) d -> 1 d h w', h=G), F.interpolate(grid, "
                            "size=(new_grid, new_grid), mode='bilinear', align_corners=True), rearrange back "
                            "with '1 d h w -> 1 (h w) d'")
    return passed(name, "the [class] token kept, the G x G grid of patch embeddings resized bilinearly "
                     "(align_corners=True, as in the paper's code) and flattened back row by row")
