"""Fine-tuning helpers (Section 3.2): new head, higher resolution, frozen parts, layer-wise lr decay.

The paper's recipe: remove the pretraining head, attach a zero-initialised D x K
layer (`ViT.reset_head`), fine-tune, often at a higher resolution than in
pretraining: keep the patch size, so the sequence grows, and resize the
pretrained position embeddings by 2D interpolation (`at_resolution`).
"""

from __future__ import annotations

import copy

import torch

from .embeddings import resize_pos_embed
from .model import ViT

__all__ = ["at_resolution", "freeze", "param_groups_lrd"]


def at_resolution(model: ViT, image_size: int, mode: str = "bilinear", align_corners: bool | None = True) -> ViT:
    """A copy of `model` for `image_size` x `image_size` images, E_pos resized over the patch grid.

    The patch size stays, so the grid grows from G to image_size / P. Learned
    position embeddings are interpolated (see `resize_pos_embed` for the modes);
    fixed sin-cos ones are regenerated for the new grid.
    """
    cfg = model.cfg.replace(image_size=image_size)
    new = ViT(cfg).to(next(model.parameters()).device)
    state = copy.deepcopy(model.state_dict())
    if model.cfg.pos_embed == "learned":
        state["pos_embed.pos_embed"] = resize_pos_embed(state["pos_embed.pos_embed"], cfg.grid_size,
                                                        mode=mode, align_corners=align_corners)
    new.load_state_dict(state)
    return new


def freeze(model: ViT, trainable: str = "head") -> ViT:
    """Freeze all but a part: trainable="head" (linear probe), "all", or "last:N" (the last N blocks,
    the final norm and the head). Returns the model."""
    if trainable == "all":
        keep = lambda name: True  # noqa: E731
    elif trainable == "head":
        keep = lambda name: name.startswith("head.")  # noqa: E731
    elif trainable.startswith("last:"):
        n = int(trainable.split(":")[1])
        first = model.cfg.depth - n
        keep = lambda name: (name.startswith(("head.", "norm.")) or  # noqa: E731
                             (name.startswith("encoder.blocks.") and int(name.split(".")[2]) >= first))
    else:
        raise ValueError(f"unknown trainable part {trainable!r}; use 'head', 'all' or 'last:N'")
    for name, p in model.named_parameters():
        p.requires_grad_(keep(name))
    return model


def param_groups_lrd(model: ViT, lr: float, decay: float = 0.75, weight_decay: float = 0.05) -> list[dict]:
    """AdamW parameter groups with layer-wise learning-rate decay (BEiT, MAE).

    Layer 0 is the embeddings, layers 1..L the blocks, L+1 the final norm and head;
    layer i gets lr * decay^(L+1-i). Biases, norms and embeddings get no weight decay.
    Only parameters that require grad are included.
    """
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    depth = model.cfg.depth
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith(("head.", "norm.")):
            layer = depth + 1
        else:
            layer = 0
        no_decay = p.ndim < 2 or name.startswith(("cls_token.", "pos_embed."))
        group = groups.setdefault((layer, no_decay), {
            "params": [], "lr": lr * decay ** (depth + 1 - layer), "weight_decay": 0.0 if no_decay else weight_decay,
            "layer": layer})
        group["params"].append(p)
    return [groups[k] for k in sorted(groups)]


# --- notebook 07: pretrained vs from scratch on the digits ----------------------------------
#
# One run = one (init, image size, label budget, seed): build the model (`prepare`), take a
# stratified subset of the digits' training split (`load_digits(train_size=...)`), fine-tune for a
# fixed number of optimiser steps (so small budgets are not under-trained), report test accuracy
# on the same 450 test images every time.

import math  # noqa: E402

from torch import nn  # noqa: E402

from .baselines import SmallCNN  # noqa: E402
from .data import load_digits  # noqa: E402
from .train import evaluate, fit  # noqa: E402

__all__ += ["INITS", "FINETUNE_FIT", "FINETUNE_LR", "prepare", "digits_budget", "finetune_run", "sweep"]

INITS = ("pretrained", "scratch", "cnn")

# AdamW settings for fine-tuning on the digits; `lr` per init. Measured with the bundled fractal-vit,
# 32 px, 10 labels per class, 300 steps, seeds 0-2 (2 CPU threads, 2026-11-21): pretrained with lr 3e-4
# 89.8 ± 1.6%, 1e-3 90.6 ± 1.5%, 2e-3 92.1 ± 1.0% (within noise of each other); all labels, 600 steps,
# lr 1e-3: 99.3%. We keep 1e-3, half the from-scratch rate (2e-3, notebook 05's recipe; 81.9 ± 3.2% and
# 97.8% there): fine-tuning should adjust the pretrained weights, not overwrite them.
FINETUNE_FIT = dict(batch_size=64, weight_decay=0.05, warmup_epochs=1, label_smoothing=0.1, final_lr_fraction=0.01)
FINETUNE_LR = {"pretrained": 1e-3, "scratch": 2e-3, "cnn": 2e-3}


def prepare(backbone: ViT, init: str, image_size: int, num_classes: int = 10, seed: int = 0) -> nn.Module:
    """The model of one run: `backbone` at `image_size` with a new zero-initialised head ("pretrained"),
    the same architecture with fresh random weights ("scratch"), or notebook 05's CNN baseline ("cnn":
    SmallCNN with widths (16, 32), trained from scratch)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; use one of {INITS}")
    if init == "cnn":
        torch.manual_seed(seed)
        return SmallCNN(in_channels=backbone.cfg.in_channels, num_classes=num_classes, widths=(16, 32))
    if init == "pretrained":
        model = at_resolution(backbone, image_size)
        model.reset_head(num_classes)
        return model
    torch.manual_seed(seed)
    return ViT(backbone.cfg.replace(image_size=image_size, num_classes=num_classes, head="linear",
                                    head_hidden_dim=None))


def digits_budget(labels_per_class: int | None, image_size: int, seed: int = 0):
    """The digits at `image_size` with `labels_per_class` training images per class (None: all 1,347).
    -> x_train (10k, 1, S, S), y_train, x_test (450, 1, S, S), y_test; the test split never changes."""
    train_size = None if labels_per_class is None else 10 * labels_per_class
    return load_digits(image_size=image_size, train_size=train_size, seed=seed)


def finetune_run(backbone: ViT, init: str, labels_per_class: int | None, image_size: int, seed: int = 0,
                 steps: int = 300, lr: float | None = None, progress: bool = False, **fit_kwargs):
    """Fine-tune (or train from scratch) on a label budget for about `steps` optimiser steps
    -> (the trained model, its History). The test accuracy is history.test_acc[-1].

    Shifts of up to 2 pixels per 32 (half a digit pixel) are the augmentation at every resolution.
    With all labels the test set is evaluated after every epoch (a learning curve); with a label
    budget only after the last one (100 images make 2 steps per epoch: evaluating 450 test images
    after each of 150 epochs would take longer than the training).
    """
    x_train, y_train, x_test, y_test = digits_budget(labels_per_class, image_size, seed)
    model = prepare(backbone, init, image_size, seed=seed)
    kwargs = {**FINETUNE_FIT, "shift": max(1, round(2 * image_size / 32)), **fit_kwargs}
    epochs = max(1, math.ceil(steps / math.ceil(len(y_train) / kwargs["batch_size"])))
    test = (x_test, y_test) if labels_per_class is None else None
    history = fit(model, (x_train, y_train), test, epochs=epochs, lr=lr or FINETUNE_LR[init], seed=seed,
                  progress=progress, **kwargs)
    if test is None:
        history.test_acc[-1] = evaluate(model, (x_test, y_test), precision=kwargs.get("precision", "auto"))
    return model, history


def sweep(backbone: ViT, budgets, image_sizes, seeds=(0,), inits=("pretrained", "scratch"), steps=300,
          results: dict | None = None, **kwargs) -> dict:
    """finetune_run over every combination -> {(init, image_size, labels_per_class): [test accuracy per seed]}.

    steps: an int, or a function labels_per_class -> steps. Cells already in `results` (e.g. from
    earlier runs with more seeds) are kept and not run again; the dict is updated in place.
    """
    results = {} if results is None else results
    for size in image_sizes:
        for budget in budgets:
            n = steps(budget) if callable(steps) else steps
            for init in inits:
                if (init, size, budget) not in results:
                    results[init, size, budget] = [
                        finetune_run(backbone, init, budget, size, seed, n, **kwargs)[1].test_acc[-1] for seed in seeds]
    return results
