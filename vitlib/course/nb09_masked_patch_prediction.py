"""Notebook 09 (masked patch prediction): the drawings, widget, experiment runners and exercise checker.

    corrupt_and_predict       one image through the masked model: what was hidden, the targets, the guesses
    plot_corruption           the image, what the encoder is given, the targets and the model's predictions
    corruption_widget         the same with sliders: image, mask rate, random draw
    load_starts               the three starting points compared: self-supervised, supervised, random init
    few_shot                  the paper's few-shot linear evaluation on the digits, per draw of the labels
    finetune_run(s)           fine-tune one starting point on a label budget of the digits
    check_patch_targets       exercise: the 3-bit mean-colour targets of Section 4.6

The objective itself (corruption, [mask] embedding, targets, training) is `vitlib.masked`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from einops import rearrange, reduce
from ipywidgets import widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..checkpoints import pretrained
from ..data import digit_splits, labelled_subset, load_labelled_digits
from ..masked import KEPT, MASKED, SWAPPED, UNCHANGED, MaskedPatchPrediction, patch_targets
from ..model import ViT
from ..parallel import run_in_processes
from ..probes import few_shot_linear, frozen_features
from ..train import evaluate, fit
from .exercise import ExerciseError, checker, matches, passed, require_tensor, run_answer
from .figures import plot_seed_bars  # shared with other notebooks, used here too
from .ui import SliderFigure, int_slider

__all__ = ["plot_seed_bars", "STARTS", "FINETUNE_FIT", "FINETUNE_LR", "LR_CHOICE", "corrupt_and_predict",
           "plot_corruption",
           "corruption_widget", "load_masked_model", "load_starts", "few_shot", "finetune_run", "finetune_runs",
           "check_patch_targets"]

STARTS = ("masked-vit", "fractal-vit", "random init")  # self-supervised, supervised, no pretraining


# ------------------------------ one image through the masked model


def load_masked_model(name: str = "masked-vit") -> MaskedPatchPrediction:
    """The bundled self-supervised ViT with its [mask] embedding and predictor (kept in the checkpoint's metadata)."""
    vit, info = pretrained(name, return_meta=True)
    return MaskedPatchPrediction.from_head_state(vit, info["checkpoint_meta"]["masked_head"])


@torch.no_grad()
def corrupt_and_predict(model: MaskedPatchPrediction, image: torch.Tensor, mask_rate: float | None = None,
                        seed: int = 0) -> dict:
    """image (C, H, W) in [0, 1] -> {"how" (G, G): what happened to each patch (vitlib.masked's codes),
    "target" and "predicted" (G*s, G*s): each cell's 3-bit level (s = cells per patch side),
    "accuracy": the share of the corrupted cells predicted exactly, "empty": the share a guess of level 0
    (an empty cell) gets right}. mask_rate: None keeps the model's own (0.5 for the bundled one)."""
    model.eval()
    kept_rate = model.mask_rate
    model.mask_rate = kept_rate if mask_rate is None else mask_rate
    try:
        logits, targets, how = model(image[None], torch.Generator().manual_seed(seed))  # (1, N, S, V), (1, N, S)
    finally:
        model.mask_rate = kept_rate
    g, s = model.vit.cfg.grid_size, model.cells
    as_grid = lambda t: rearrange(t[0], "(h w) (s1 s2) -> (h s1) (w s2)", h=g, s1=s)  # noqa: E731 (1, N, S) -> (Gs, Gs)
    corrupted = how[0] != UNCHANGED  # (N,)
    right = logits[0].argmax(-1)[corrupted] == targets[0][corrupted]  # (corrupted patches, S)
    return dict(how=rearrange(how[0], "(h w) -> h w", h=g), target=as_grid(targets),
                predicted=as_grid(logits.argmax(-1)),
                accuracy=right.float().mean().item(), empty=(targets[0][corrupted] == 0).float().mean().item())


_HOW_STYLE = {MASKED: ("[mask]", "tab:red"), SWAPPED: ("another patch", "tab:orange"), KEPT: ("kept", "tab:green")}


def plot_corruption(model: MaskedPatchPrediction, image: torch.Tensor, mask_rate: float | None = None,
                    seed: int = 0) -> Figure:
    """Four panels: the image; what the encoder is given (red: the [mask] embedding, orange: another patch's
    embedding, green outline: corrupted but kept); each cell's 3-bit grey level (the targets); the model's
    predicted levels for the corrupted patches (the others are visible: nothing to predict)."""
    out = corrupt_and_predict(model, image, mask_rate, seed)
    p, g, s = model.vit.cfg.patch_size, model.vit.cfg.grid_size, model.cells
    levels = 2**model.bits - 1
    grey = image.mean(0).numpy()  # (H, W)
    hidden = np.kron((out["how"] != UNCHANGED).numpy(), np.ones((s, s), dtype=bool))  # (Gs, Gs)
    fig = Figure(figsize=(11.5, 3.7), layout="constrained")
    axes = fig.subplots(1, 4)
    axes[0].imshow(grey, cmap="gray", vmin=0, vmax=1)
    axes[1].imshow(grey, cmap="gray", vmin=0, vmax=1)
    for (r, c), code in np.ndenumerate(out["how"].numpy()):
        if code in _HOW_STYLE:
            _, colour = _HOW_STYLE[code]
            filled = code != KEPT
            axes[1].add_patch(Rectangle((c * p - 0.5, r * p - 0.5), p, p, facecolor=colour if filled else "none",
                                        edgecolor=colour, lw=1.5))
    axes[2].imshow(out["target"].numpy() / levels, cmap="gray", vmin=0, vmax=1)
    shown = np.where(hidden, out["predicted"].numpy() / levels, np.nan)  # visible patches left blank
    axes[3].imshow(shown, cmap="gray", vmin=0, vmax=1)
    axes[3].set_facecolor("#cde")
    rate = model.mask_rate if mask_rate is None else mask_rate
    titles = [f"the image\n({g} x {g} patches of {p} x {p} px)", f"what the encoder is given\n({rate:.0%} of the "
              "patches corrupted)", f"the targets: {s} x {s} grey levels\nper patch (0 to {levels})",
              f"predicted for the corrupted patches:\n{out['accuracy']:.0%} right (always 0: {out['empty']:.0%})"]
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Rectangle((0, 0), 1, 1, facecolor=c if k != KEPT else "none", edgecolor=c) for k, (_, c) in
               _HOW_STYLE.items()]
    axes[1].legend(handles, [name for name, _ in _HOW_STYLE.values()], loc="upper center", fontsize=7, ncol=3,
                   bbox_to_anchor=(0.5, -0.02), frameon=False)
    return fig


def corruption_widget(model: MaskedPatchPrediction, images: torch.Tensor) -> SliderFigure:
    """plot_corruption with sliders: which image (of images (B, C, H, W)), the mask rate, the random draw."""
    controls = {"image": int_slider("image", 0, len(images) - 1, 0),
                "mask rate": widgets.FloatSlider(value=model.mask_rate, min=0.1, max=0.9, step=0.1,
                                                 description="mask rate", continuous_update=False),
                "draw": int_slider("draw", 0, 9, 0, width="220px")}

    def draw(c):
        return plot_corruption(model, images[c["image"]], c["mask rate"], c["draw"]), ""

    return SliderFigure(controls, draw)


# ------------------------------ the comparison: self-supervised vs supervised vs random init


def load_starts(seed: int = 0) -> dict:
    """{name: ViT} for STARTS: the bundled masked-vit (no labels), fractal-vit (formula classes as labels) and
    the same architecture with random weights drawn by `seed`. All three have the same size and config."""
    masked_vit = pretrained("masked-vit")
    torch.manual_seed(seed)
    random_vit = ViT(masked_vit.cfg)
    return {"masked-vit": masked_vit, "fractal-vit": pretrained("fractal-vit"), "random init": random_vit.eval()}


def few_shot(backbone: ViT, seeds, shots: int = 10, pool: str = "mean") -> np.ndarray:
    """The paper's few-shot linear evaluation on the digits (Section 4.1): ridge regression from frozen
    features (`pool`: "mean", the mean patch token, fair to a model whose class token was never trained;
    "model", what its head reads) -> test accuracy per seed (S,); each seed draws `shots` labelled digits
    per class from the training pool. The 450 test digits are the same for every seed."""
    (x_pool, y_pool), _, (x_test, y_test) = digit_splits(backbone.cfg.image_size)
    pool_features = frozen_features(backbone, x_pool, pool=pool)  # [1147, D]
    test_features = frozen_features(backbone, x_test, pool=pool)  # [450, D]
    accuracies = []
    for seed in seeds:
        pick = labelled_subset(y_pool, shots, seed)  # [10 * shots]
        accuracies.append(few_shot_linear(pool_features[pick], y_pool[pick], test_features, y_test))
    return np.array(accuracies)


FINETUNE_FIT = dict(batch_size=32, weight_decay=0.05, label_smoothing=0.1, shift=2)
# Each start's learning rate, chosen on the 200 validation digits (never the test digits) from LR_CHOICE's grid,
# seed 0, fp32, a 2-core x86_64 CPU, torch 2.13 (`python tools/choose_lr_09.py`). LR_CHOICE holds the validation
# accuracies it measured; "random init" is best at the grid's top, 4e-3 (notebook 07 found 8e-3 worse for the
# same ViT from scratch).
FINETUNE_LR = {("masked-vit", 10): 1e-3, ("fractal-vit", 10): 5e-4, ("random init", 10): 4e-3,
               ("masked-vit", None): 1e-3, ("fractal-vit", None): 2e-3, ("random init", None): 4e-3}
LR_CHOICE = {
    ("masked-vit", 10): {2.5e-4: 0.385, 5e-4: 0.42, 1e-3: 0.685, 2e-3: 0.68, 4e-3: 0.475},
    ("masked-vit", None): {2.5e-4: 0.52, 5e-4: 0.76, 1e-3: 0.79, 2e-3: 0.755, 4e-3: 0.79},
    ("fractal-vit", 10): {2.5e-4: 0.74, 5e-4: 0.815, 1e-3: 0.815, 2e-3: 0.81, 4e-3: 0.775},
    ("fractal-vit", None): {2.5e-4: 0.795, 5e-4: 0.845, 1e-3: 0.89, 2e-3: 0.905, 4e-3: 0.835},
    ("random init", 10): {2.5e-4: 0.64, 5e-4: 0.625, 1e-3: 0.585, 2e-3: 0.61, 4e-3: 0.67},
    ("random init", None): {2.5e-4: 0.575, 5e-4: 0.58, 1e-3: 0.705, 2e-3: 0.715, 4e-3: 0.73},
}


def finetune_run(backbone: ViT, labels_per_class: int | None, seed: int = 0, steps: int = 80, lr: float = 1e-3,
                 precision: str = "auto", validation: bool = False, fresh: bool = False) -> float:
    """Fine-tune a copy of `backbone` with a new zero-initialised 10-way head on `labels_per_class` digits per
    class (None: all 1,147) for about `steps` steps of 32 images (whole epochs, 10% warm-up) -> the accuracy
    on the 450 test digits (validation=True: on the 200 validation digits). fresh=True: not the backbone's
    weights but a random initialisation of its architecture drawn by `seed` (the "random init" start)."""
    x_train, y_train, x_eval, y_eval = load_labelled_digits(labels_per_class, backbone.cfg.image_size, seed,
                                                            validation)
    torch.manual_seed(seed)
    model = ViT(backbone.cfg) if fresh else copy.deepcopy(backbone)
    model.reset_head(10)
    epochs = max(1, math.ceil(steps / math.ceil(len(y_train) / FINETUNE_FIT["batch_size"])))
    fit(model, (x_train, y_train), None, epochs=epochs, lr=lr, warmup_epochs=0.1 * epochs, seed=seed,
        precision=precision, progress=False, **FINETUNE_FIT)
    return evaluate(model, (x_eval, y_eval), precision=precision)


def finetune_runs(starts: dict, runs: list[dict], processes: int = 2, **common) -> list[float]:
    """finetune_run for each of `runs` (dicts with "start", a name in `starts`, and finetune_run's other
    arguments), two at a time in worker processes with one thread each -> test accuracies in order.
    "random init" runs start from a fresh initialisation drawn by their own seed (finetune_run's fresh=True)."""
    jobs = [dict(backbone=starts[run["start"]], fresh=run["start"] == "random init", **common,
                 **{k: v for k, v in run.items() if k != "start"}) for run in runs]
    return run_in_processes(finetune_run, jobs, processes=processes)


# ------------------------------ exercise: the targets


def _target_mistakes(images: torch.Tensor, p: int, bits: int) -> list:
    """[(wrong answer (B, N), what is wrong)]: the usual slips in computing the 3-bit mean-colour classes."""
    levels = 2**bits
    means = reduce(images, "b c (h p1) (w p2) -> b (h w) c", "mean", p1=p, p2=p)  # (B, N, C)
    place = levels ** torch.arange(images.shape[1])  # (C,)
    combine = lambda q: (q * place).sum(-1)  # noqa: E731
    floor = (means * levels).floor().clamp(max=levels - 1).long()
    column_major = reduce(images, "b c (h p1) (w p2) -> b (w h) c", "mean", p1=p, p2=p)
    return [
        (combine((means * levels).floor().long()), "a white patch (mean 1.0) gives level 8, one past the last: "
         "clamp the levels to at most 2**bits - 1 = 7"),
        (combine((means * levels).round().clamp(max=levels - 1).long()), "round() moves a mean of 0.2 (1.6 levels) "
         "up to level 2: take floor(mean * 2**bits), so level k holds the means in [k/8, (k+1)/8)"),
        (combine((means * (levels - 1)).round().long()), "that scales to 0..7 and rounds: the levels are equal "
         "bins of width 1/8, floor(mean * 8), clamped to 7"),
        (combine((column_major * levels).floor().clamp(max=levels - 1).long()), "the patches are in column order: "
         "number them row by row, '(h w)', as patchify does"),
        (combine(floor.flip(-1)), "the channels' places are reversed: channel c counts 8**c (red 1, green 8, blue 64)"),
        (floor.sum(-1), "the channels' levels are added, not combined: level_r + 8 * level_g + 64 * level_b"),
    ]


@checker
def check_patch_targets(fn) -> bool:
    """Exercise (09): fn(images (B, C, H, W) in [0, 1], patch_size, bits) -> (B, N) long, each patch's mean colour
    as one class: per channel floor(mean * 2**bits) clamped to 2**bits - 1, channels combined as level_c * 8**c."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 8, 12, generator=gen)  # 2 x 3 = 6 patches of 4 x 4, RGB, every mean different
    images[0, :, :4, :4] = 1.0  # a white patch: the top level in every channel
    images[1, 0, 4:, 8:] = 0.2  # a patch whose red mean, 1.6 levels, tells floor from round
    for case, (x, p, bits) in enumerate([(images, 4, 3), (images[:, :1], 2, 2)]):
        where = f"{name}(images of shape {tuple(x.shape)}, patch_size={p}, bits={bits})"
        attempted, got = run_answer(fn, x.clone(), p, bits, name=name)
        if not attempted:
            return False
        expected = patch_targets(x, p, bits)[..., 0]  # (B, N)
        require_tensor(got, where)
        if tuple(got.shape) != tuple(expected.shape):
            hint = (": combine the channels into one class per patch, level_c * 8**c summed over c"
                    if got.ndim == 3 and got.shape[-1] == x.shape[1] else "")
            raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected (B, N) = {tuple(expected.shape)}"
                                + hint)
        if matches(got.float(), expected.float()):
            continue
        if case == 1:
            raise ExerciseError(f"{where} is wrong, though the first test (RGB, 3 bits) was right: take the levels "
                                "from `bits` (2**bits) and the channels from the images' shape")
        for wrong, message in _target_mistakes(x, p, bits):
            if matches(got.float(), wrong.float()):
                raise ExerciseError(f"{where}: right shape, but {message}")
        raise ExerciseError(f"{where}: right shape, wrong classes. Steps: reduce(images, 'b c (h p1) (w p2) -> "
                            "b (h w) c', 'mean', p1=P, p2=P), levels = floor(mean * 2**bits) clamped to 2**bits - 1, "
                            "then sum level_c * (2**bits)**c over the channels")
    return passed(name, "each patch's mean, per channel, in 2**bits equal bins (floor, the top clamped), the "
                        "channels combined into one of 2**(bits * C) colours, patches row by row")
