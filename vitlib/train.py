"""One readable training loop, its schedule, metrics and checkpoints.

    history = fit(model, (x_train, y_train), (x_test, y_test), epochs=10, lr=1e-3)
    acc = evaluate(model, (x_test, y_test))          # accuracy in [0, 1]
    report = classification_report(model, (x_test, y_test))

What `fit` does, in order, every step: pick a batch, augment it (random shifts), run the model
under autocast (bf16 where the hardware has it), cross-entropy with label smoothing, backward,
clip the gradient norm, AdamW step with the learning rate of a linear warmup + cosine decay.
After every epoch: evaluate, record the History, write the "last" (and, if better, "best")
checkpoint atomically. Ctrl-C stops cleanly and returns the History with interrupted=True.

Data is either a pair of tensors (images (B, C, H, W), labels (B,)) or a torch Dataset of
(image, label) items, such as vitlib.data.FractalDataset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .files import read_secure, write_atomic
from .model import ViTConfig
from .validate import check_float, check_int, check_labels, check_model, check_number, check_numbers, check_tensor

__all__ = [
    "History",
    "fit",
    "evaluate",
    "predict",
    "classification_report",
    "lr_at",
    "random_shift",
    "augment",
    "pick_device",
    "cpu_supports_bf16",
    "autocast_dtype",
    "save_checkpoint",
    "load_checkpoint",
    "digits_vit_recipe",
]

# ----------------------------------------------------------------------------- history


@dataclass
class History:
    """What happened in training, one entry per epoch.

    seconds is the wall time of each epoch (training + evaluation); lr is the learning rate at
    the end of the epoch. test_* are NaN when fit had no test data. interrupted is True when
    training was stopped by Ctrl-C (KeyboardInterrupt); the lists then hold the finished epochs.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    interrupted: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc, default=float("nan"))

    def to_dict(self) -> dict:
        """Plain lists and numbers (what torch.load(weights_only=True) can read back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


# ----------------------------------------------------------------------------- hardware


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, or the best available: CUDA, then Apple's MPS, then the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.lru_cache(maxsize=None)
def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast is a big speed-up.

    Elsewhere bf16 on the CPU is emulated and slower than fp32, so autocast is not used.
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
        if {"avx512_bf16", "amx_bf16"} & flags:
            return True
    except OSError:  # not Linux
        pass
    return "AMX" in torch.backends.cpu.get_cpu_capability().upper()


def autocast_dtype(device: torch.device, amp: bool = True) -> torch.dtype | None:
    """The mixed-precision dtype to use on `device`, or None for plain fp32.

    CUDA: bf16 where supported (Ampere and newer), else fp16 (which needs a GradScaler).
    CPU: bf16 where cpu_supports_bf16(). MPS and everything else: None.
    """
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return None


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ----------------------------------------------------------------------------- schedule and augmentation


def lr_at(step: int, total_steps: int, lr: float, warmup_steps: int = 0, lrf: float = 0.01) -> float:
    """Learning rate at `step` (0-based): linear warmup to `lr`, then cosine decay to lr * lrf.

    Warmup: lr * (step + 1) / warmup_steps for step < warmup_steps.
    Decay:  lr * (lrf + (1 - lrf) * (1 + cos(pi * t)) / 2), t going from 0 to 1 over the remaining steps.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps - 1, 1)
    t = min((step - warmup_steps) / decay_steps, 1.0)
    return lr * (lrf + (1 - lrf) * (1 + math.cos(math.pi * t)) / 2)


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros.

    (B, C, H, W) -> (B, C, H, W). The same as zero-padding by max_shift and taking a random crop.
    """
    if max_shift == 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, [max_shift] * 4)  # (B, C, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b, 1), generator=generator).to(images.device)
    rows = torch.arange(h, device=images.device) + dy  # (B, H): the padded rows each image keeps
    cols = torch.arange(w, device=images.device) + dx  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    crops = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C): indexed dims come first
    return crops.permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


def augment(
    images: torch.Tensor, shift: int = 0, flip: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Simple augmentation on tensors: random shifts, and random left-right flips if flip=True.

    (B, C, H, W) -> (B, C, H, W). Don't flip digits or text: a flipped 3 is not a 3.
    """
    images = random_shift(images, shift, generator)
    if flip:
        mask = torch.rand(images.shape[0], generator=generator).to(images.device) < 0.5
        images = torch.where(mask[:, None, None, None], images.flip(-1), images)
    return images


# ----------------------------------------------------------------------------- batches


def _check_data(data, name: str) -> None:
    if isinstance(data, Dataset):
        return
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (images, labels) of tensors or a torch Dataset, got {type(data).__name__}")
    x, y = data
    check_tensor(x, f"{name} images", "(B, C, H, W)")
    check_tensor(y, f"{name} labels", "(B,)")
    if x.ndim != 4:
        raise ValueError(f"{name} images must have shape (B, C, H, W), got {tuple(x.shape)}; add a channel axis with x[:, None]")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{name} labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"{name} labels must be integer class indices, got {y.dtype}; use y.long()")
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    check_float(x, f"{name} images")


def _batches(data, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None):
    """Yield (images (b, C, H, W), labels (b,)) batches from tensors or a Dataset."""
    if isinstance(data, Dataset):
        yield from DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
        return
    x, y = data
    order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]


def _num_batches(data, batch_size: int) -> int:
    return math.ceil(len(data if isinstance(data, Dataset) else data[1]) / batch_size)


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict(model: nn.Module, data, batch_size: int = 256, amp: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for every image: -> (logits (B, K) float32 on the CPU, labels (B,))."""
    check_model(model)
    check_int(batch_size, "batch_size")
    _check_data(data, "data")
    check_labels(model, data, "data")
    device = next(model.parameters()).device
    dtype = autocast_dtype(device, amp)
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        for x, y in _batches(data, batch_size):
            with _autocast(device, dtype):
                logits.append(model(x.to(device)).float().cpu())
            labels.append(y)
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(labels).long()


def _loss_and_accuracy(model: nn.Module, data, batch_size: int = 256, amp: bool = True) -> tuple[float, float]:
    logits, labels = predict(model, data, batch_size, amp)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(1) == labels).float().mean().item()


def evaluate(model: nn.Module, data, batch_size: int = 256, amp: bool = True) -> float:
    """Accuracy of `model` on data (a pair (images, labels) or a Dataset): a float in [0, 1]."""
    return _loss_and_accuracy(model, data, batch_size, amp)[1]


def classification_report(model: nn.Module, data, class_names: list[str] | None = None, batch_size: int = 256) -> dict:
    """Per-class precision, recall, F1 and support, and the confusion matrix (scikit-learn metrics).

    -> {"accuracy": float, "macro_f1": float, "class_names": [K names],
        "per_class": [{"class", "precision", "recall", "f1", "support"}, ...] (K entries),
        "confusion_matrix": (K, K) int array, rows = true class, columns = predicted class}
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    logits, labels = predict(model, data, batch_size)
    y_true, y_pred = labels.numpy(), logits.argmax(1).numpy()
    k = logits.shape[1]
    if class_names is None:
        class_names = [str(i) for i in range(k)]
    if len(class_names) != k:
        raise ValueError(f"{len(class_names)} class names for a model with {k} outputs; pass {k} names")
    classes = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    per_class = [
        {"class": class_names[i], "precision": float(precision[i]), "recall": float(recall[i]),
         "f1": float(f1[i]), "support": int(support[i])}
        for i in classes
    ]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(np.mean(f1)),
        "class_names": list(class_names),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes),
    }


# ----------------------------------------------------------------------------- checkpoints


def _model_config(model: nn.Module) -> dict:
    """The model's config as a plain dict (ViTConfig.to_dict(), a dataclass, or a dict), or {}."""
    cfg = getattr(model, "cfg", None)
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg) if isinstance(cfg, dict) else {}


def save_checkpoint(path: str | os.PathLike, model: nn.Module, history: History | None = None, **extra) -> Path:
    """Write {"model": state_dict, "config": dict, "model_class": name, "history": dict, **extra} atomically
    (vitlib.files.write_atomic), so a crash or Ctrl-C mid-save never leaves a half-written checkpoint:
    `path` holds either the old checkpoint or the new one.
    """
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": _model_config(model),
        "model_class": type(model).__name__,
        "history": history.to_dict() if history is not None else None,
        **extra,
    }
    return write_atomic(state, path)


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None, map_location="cpu") -> dict:
    """Read a checkpoint written by save_checkpoint (safely: torch.load with weights_only=True).

    If `model` is given, its weights are loaded (strictly). -> the checkpoint dict, with
    "history" turned back into a History.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train with fit(..., checkpoint_dir=...) to write one")
    state = read_secure(path, map_location)
    if model is not None:
        model.load_state_dict(state["model"])
    if state.get("history") is not None:
        state["history"] = History.from_dict(state["history"])
    return state


# ----------------------------------------------------------------------------- the training loop


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and conv kernels only; not on biases, norms, tokens, E_pos."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim < 2 or "pos_embed" in name or "token" in name
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _check_fit_args(epochs, lr, batch_size, weight_decay, warmup_epochs, lrf, label_smoothing, shift):
    check_numbers(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay,  # types: TypeError
                  warmup_epochs=warmup_epochs, lrf=lrf, label_smoothing=label_smoothing, shift=shift)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}; try 1e-3")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}; try 64")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if not 0 <= warmup_epochs <= epochs:
        raise ValueError(f"warmup_epochs must be between 0 and epochs ({epochs}), got {warmup_epochs!r}")
    if not 0 <= lrf <= 1:
        raise ValueError(f"lrf (final lr as a fraction of lr) must be in [0, 1], got {lrf!r}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}; 0.1 is usual")
    if not isinstance(shift, int) or shift < 0:
        raise ValueError(f"shift (max random translation in pixels) must be an integer >= 0, got {shift!r}")


def fit(
    model: nn.Module,
    train,
    test=None,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.05,
    warmup_epochs: float = 1,
    lrf: float = 0.01,
    label_smoothing: float = 0.0,
    shift: int = 0,
    flip: bool = False,
    grad_clip: float | None = 1.0,
    seed: int = 0,
    amp: bool = True,
    device: str | torch.device | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, History, nn.Module], None] | None = None,
) -> History:
    """Train `model` in place with AdamW; -> History. Returns early (interrupted=True) on Ctrl-C.

    train, test:     (images (B, C, H, W), labels (B,)) tensors, or torch Datasets; test is optional.
    lr schedule:     linear warmup over warmup_epochs, then cosine decay to lr * lrf (`lr_at`), per step.
    label_smoothing: cross-entropy against (1 - eps) one-hot + eps / K.
    shift, flip:     augmentation: random translations of up to `shift` pixels, random left-right flips.
    grad_clip:       clip the global gradient norm (the paper clips at 1); None to switch off.
    amp:             mixed precision where the hardware supports it (see autocast_dtype); False = fp32.
    device:          default: CUDA, else MPS, else CPU (pick_device). The model is moved there.
    checkpoint_dir:  if given, write last.pt after every epoch and best.pt when test accuracy improves
                     (or train loss, without test data), atomically (save_checkpoint).
    on_epoch_end:    called as on_epoch_end(epoch, history, model) after each epoch (epoch counts from 1).
    seed:            fixes batch order, augmentation and dropout: the same seed and the same initial
                     model give the same History (up to timing).
    Dropout and drop-path are set in the model (e.g. ViTConfig(dropout=0.1, drop_path=0.1)).
    """
    from tqdm.auto import tqdm

    check_model(model)
    _check_data(train, "train")
    check_labels(model, train, "train")
    if test is not None:
        _check_data(test, "test")
    _check_fit_args(epochs, lr, batch_size, weight_decay, warmup_epochs, lrf, label_smoothing, shift)
    check_number(grad_clip, "grad_clip", above=0, allow_none=True)  # 0 would zero every gradient

    torch.manual_seed(seed)  # dropout and drop-path draw from the global generator
    generator = torch.Generator().manual_seed(seed)  # batch order and augmentation
    device = pick_device(device)
    model.to(device)
    dtype = autocast_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)  # fp16 needs loss scaling
    optimizer = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.999))
    steps_per_epoch = _num_batches(train, batch_size)
    total_steps, warmup_steps = epochs * steps_per_epoch, round(warmup_epochs * steps_per_epoch)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    history, step, best = History(), 0, -math.inf
    bar = tqdm(total=total_steps, disable=not progress, unit="step", desc="training")
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in _batches(train, batch_size, shuffle=True, generator=generator):
                x = augment(x, shift, flip, generator).to(device, non_blocking=True)
                y = y.to(device, non_blocking=True).long()
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, total_steps, lr, warmup_steps, lrf)
                with _autocast(device, dtype):
                    logits = model(x)  # (b, K)
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
                step += 1
                bar.update()
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            test_loss, test_acc = _loss_and_accuracy(model, test, amp=amp) if test is not None else (math.nan, math.nan)
            history.train_loss.append(loss_sum / seen)
            history.train_acc.append(correct / seen)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
            history.lr.append(optimizer.param_groups[0]["lr"])
            history.seconds.append(time.perf_counter() - start)
            if test is not None:
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.3f}", test_acc=f"{test_acc:.3f}")
            if checkpoint_dir is not None:
                score = test_acc if test is not None else -history.train_loss[-1]
                save_checkpoint(checkpoint_dir / "last.pt", model, history, epoch=epoch)
                if score > best:
                    best = score
                    save_checkpoint(checkpoint_dir / "best.pt", model, history, epoch=epoch)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history, model)
    except KeyboardInterrupt:
        history.interrupted = True
        if checkpoint_dir is not None:  # best.pt is kept as it is; last.pt gets the weights as they are now
            save_checkpoint(checkpoint_dir / "last.pt", model, history, epoch=history.epochs, interrupted=True)
        bar.write(f"interrupted after {history.epochs} finished epoch(s); returning the history so far")
    finally:
        bar.close()
        model.eval()
    return history


# ----------------------------------------------------------------------------- a measured recipe


def digits_vit_recipe(epochs: int = 50) -> tuple[dict, ViTConfig, dict]:
    """A ViT from scratch on the 8x8 digits: about 98-99% test accuracy in under a minute on a CPU.

    Measured on 2 shared CPU cores, one thread, bf16 autocast, 50 epochs: seeds 0-5 gave 99.3, 98.7,
    98.9, 98.9, 98.2 and 98.9% in 23-42 s of training; >= 97% is usually reached by epoch 13-20.

    -> (load_digits kwargs, ViTConfig, fit kwargs):

        data_kwargs, cfg, fit_kwargs = digits_vit_recipe()
        x_train, y_train, x_test, y_test = load_digits(**data_kwargs)
        history = fit(ViT(cfg), (x_train, y_train), (x_test, y_test), **fit_kwargs)

    What matters (measured with dim 64, depth 4, 30 epochs unless said):
    - Upsample, then cut big patches. 8x8 images with 2x2 patches and 32x32 images with 8x8 patches
      give the same 16 tokens, but bilinear upsampling lets each patch see a little of its neighbours:
      92.2% at 8x8 -> 96.2% at 32x32 (both without shifts).
    - Random shifts of up to 2 pixels at 32x32 (half a digit pixel): 96.2% -> 98.9%. At 8x8 the
      smallest shift is a whole digit pixel, too much for a small model (87.1%).
    - Label smoothing 0.1: mean of 3 seeds at 50 epochs 99.0% against 98.4% without.
    - A high learning rate (2e-3; 4e-3 is as good) with a 2-epoch warmup; 30 epochs give 98.4-99.1%.
    """
    data_kwargs = dict(image_size=32, channels=1)
    cfg = ViTConfig(image_size=32, patch_size=8, in_channels=1, num_classes=10,
                    dim=64, depth=4, heads=4, mlp_dim=128)
    fit_kwargs = dict(epochs=epochs, lr=2e-3, batch_size=64, weight_decay=0.05, warmup_epochs=2,
                      label_smoothing=0.1, shift=2, seed=0)
    return data_kwargs, cfg, fit_kwargs
