"""Notebook 05 (training): the drawings, widget and exercise checker the notebook uses.

    plot_accuracy_vs_data   test accuracy against training-set size, one line per model
    plot_digit_patches      a digit with its patch grid (the training widget's preview)
    training_widget         hyperparameter sliders and a Train button on the digits
    check_lr_schedule       exercise: linear warmup + cosine decay, as vitlib.train.lr_at
"""

from __future__ import annotations

import math

import numpy as np
import torch
from ipywidgets import widgets
from matplotlib.figure import Figure

from ..cost import count_params, train_flops
from ..data import load_digits
from ..model import ViT, ViTConfig
from ..train import fit, lr_at
from . import figures
from .exercise import ExerciseError, passed, run_answer
from .figures import plot_confusion_matrix, plot_history, plot_seed_bars  # shared with other notebooks, used here too
from .ui import SliderFigure

__all__ = ["plot_seed_bars", "plot_history", "plot_confusion_matrix", "plot_accuracy_vs_data", "plot_digit_patches", "TrainingWidget", "training_widget", "check_lr_schedule"]


# ------------------------------ drawings


def plot_accuracy_vs_data(train_sizes, accuracies: dict, title: str | None = None) -> Figure:
    """Test accuracy against training-set size, one line per model, mean ± std over seeds (notebook 05).

    train_sizes: (F,) number of training images at each fraction.
    accuracies:  {model name: (S, F) accuracies in [0, 1], S seeds} (a (F,) array counts as one seed).
    The x axis is logarithmic; error bars are the standard deviation over seeds (none for one seed).
    The accuracy axis runs from 0 to 100%, so the gap between two points reads as it is.
    """
    n = np.asarray(train_sizes, dtype=float)
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, (name, acc) in enumerate(accuracies.items()):
        acc = np.atleast_2d(np.asarray(acc, dtype=float))
        if acc.shape[1] != len(n):
            raise ValueError(f"{name}: {acc.shape[1]} accuracies per seed for {len(n)} training sizes")
        color, marker = figures.family_style(name, i)
        std = acc.std(axis=0) if acc.shape[0] > 1 else None
        ax.errorbar(n, 100 * acc.mean(axis=0), yerr=None if std is None else 100 * std, color=color,
                    marker=marker, capsize=3, label=f"{name} (mean ± std of {acc.shape[0]} seeds)"
                    if acc.shape[0] > 1 else name)
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{int(v)}" for v in n])
    ax.minorticks_off()
    ax.set_ylim(0, 105)  # from 0; room above 100% for the error bars, no tick beyond it
    ax.set_yticks(range(0, 101, 20))
    ax.set(xlabel="training images (log axis)", ylabel="test accuracy (%)",
           title=title or "accuracy as the training set grows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_digit_patches(image, patch_size: int, title: str | None = None) -> Figure:
    """One image with its patch grid drawn over it (the training widget's cheap preview)."""
    img = figures.as_hwc(image)
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


# ------------------------------ widgets


class TrainingWidget(SliderFigure):
    """Notebook 05: sliders for a ViT's hyperparameters and a Train button that trains it on the digits.

    Moving a slider only redraws a cheap preview (a digit cut into patches, and the config's size and
    cost); the Train button runs `vitlib.train.fit` and shows the loss and accuracy curves, updated
    after every epoch. The patch-size slider offers only sizes that tile the image (`patch_sizes`);
    a combination that is still invalid (heads that do not divide D) shows ViTConfig's message. `.train()` is what the button
    calls; `.history` holds the last run's History.
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
            return cls(value=value, description=name, continuous_update=False, style={"description_width": "initial"}, **kw)

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
            "train_fraction": slider(widgets.FloatSlider, "train fraction", train_fraction, min=0.05, max=1.0, step=0.05),
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
        fig = plot_digit_patches(self._train_full[0][0], cfg.patch_size,
                                        title=f"P = {cfg.patch_size}: {cfg.num_patches} patches + [class] = "
                                              f"{cfg.num_patches + 1} tokens")
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
                              f"{h.test_acc[-1]:.1%} (best {h.best_test_acc:.1%}). Move a slider to preview another config.")
        return h


def training_widget(**kwargs) -> TrainingWidget:
    """Notebook 05: hyperparameter sliders + Train button on the digits (see TrainingWidget)."""
    return TrainingWidget(**kwargs)


# ------------------------------ exercise checkers


def check_lr_schedule(lr_schedule) -> bool:
    """Notebook 05: lr_schedule(step, total_steps, lr, warmup_steps, final_lr_fraction) must equal vitlib.train.lr_at.

    The formula the exercise states: lr * (step + 1) / w for step < w; then, with
    t = min((step - w) / max(total_steps - w - 1, 1), 1), lr * (f + (1 - f) * (1 + cos(pi t)) / 2) with f = final_lr_fraction.
    A wrong answer is named if it matches a usual mistake; otherwise the message gives the first step
    that differs, both values to 6 significant digits, and which part of the schedule it is in.
    """
    cases = [(s, 100, 1e-3, 10, 0.01) for s in (0, 1, 5, 9, 10, 11, 50, 98, 99)] + [(s, 40, 2e-3, 0, 0.1) for s in (0, 20, 39)]

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
        "so that t reaches 1 and the rate reaches lr * final_lr_fraction exactly at the last step, step = total_steps - 1":
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
    raise ExerciseError(f"lr_schedule: at step {s} of total_steps = {t} (lr = {lr}, warmup_steps = {w}, final_lr_fraction = {f}) "
                        f"you return {got[first_bad]:.6g}, expected {expected[first_bad]:.6g}. {part}")
