"""Augmentation on tensors: random shifts, left-right flips and CutMix, drawn the same way on every process.

    images = augment(images, shift=2, flip=False, generator=g)   # (B, C, H, W) -> (B, C, H, W)
    images, targets = cutmix(images, labels, 1.0, num_classes=10, generator=g)   # targets (B, K)

`augment_share` is what `fit` uses under torchrun: it draws the random numbers for the whole
global batch and applies the rows of this process's share, so image i of a batch gets the same
shift and flip however many processes train together. `cutmix` draws its few numbers once per
global batch too (one box for the whole batch), so every process cuts the same box.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .validate import check_number, check_tensor

__all__ = ["random_shift", "augment", "augment_share", "cutmix"]


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], filling with zeros.

    (B, C, H, W) -> (B, C, H, W). The same as zero-padding by max_shift and taking a random crop.
    """
    if max_shift == 0:
        return images
    offsets = torch.randint(0, 2 * max_shift + 1, (2, images.shape[0], 1), generator=generator)
    return _shift_by(images, max_shift, offsets)


def _shift_by(images: torch.Tensor, max_shift: int, offsets: torch.Tensor) -> torch.Tensor:
    """random_shift with its draws given: offsets (2, B, 1) in [0, 2 * max_shift], (dy, dx) + max_shift."""
    b, _, h, w = images.shape
    padded = F.pad(images, [max_shift] * 4)  # (B, C, H + 2s, W + 2s)
    dy, dx = offsets.to(images.device)
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
    return augment_share(images, shift, flip, generator, images.shape[0], slice(None))


def augment_share(images: torch.Tensor, shift: int, flip: bool, generator: torch.Generator | None,
                   global_batch: int, share: slice) -> torch.Tensor:
    """Augment this process's share of a global batch with the draws the whole batch would get.

    images (b, C, H, W) are items `share` of a global batch of `global_batch` images. The random
    numbers are drawn for all global_batch images, in augment's order (shifts, then flips), and
    the share's rows are used: every process draws the same numbers, and image i gets the same
    shift and flip however many processes share the batch.
    """
    if shift > 0:
        offsets = torch.randint(0, 2 * shift + 1, (2, global_batch, 1), generator=generator)
        images = _shift_by(images, shift, offsets[:, share])
    if flip:
        mask = (torch.rand(global_batch, generator=generator) < 0.5)[share].to(images.device)
        images = torch.where(mask[:, None, None, None], images.flip(-1), images)
    return images


def cutmix(images: torch.Tensor, labels: torch.Tensor, probability: float, num_classes: int,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019), as timm's Mixup(cutmix_alpha=1.0) does it for a whole batch.

    images (B, C, H, W), labels (B,) -> images (B, C, H, W), targets (B, K) float, each row summing to 1.

    With probability `probability` (per batch): draw lambda ~ Beta(1, 1) (uniform on [0, 1)) and one
    box of height and width int(H * sqrt(1 - lambda)), int(W * sqrt(1 - lambda)) around a uniformly
    random centre, clipped to the image (timm's rand_bbox); every image gets that box pasted from its
    partner, the batch in reverse order (image i from image B - 1 - i). Then lambda is recomputed
    from the clipped box, lambda = 1 - box area / (H * W), and
        targets = lambda * one_hot(own label) + (1 - lambda) * one_hot(partner's label).
    Otherwise the images come back unchanged, with one-hot targets. probability 0 draws nothing from
    `generator`; above 0 every call draws the same four numbers (apply?, lambda, centre row, centre
    column), whether the box is used or not. Cross-entropy accepts such targets as they are:
    F.cross_entropy(logits, targets, label_smoothing=...).

    Under torchrun, call it once per global batch on every process with this process's share: all
    processes draw the same numbers, so they cut the same box with the same lambda. The partner is
    the reverse of the share, not of the global batch, so with several processes images pair up
    differently from one process (like dropout masks: the same distribution, other draws).
    """
    check_tensor(images, "images", "(B, C, H, W)")
    check_tensor(labels, "labels", "(B,)")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels must have shape ({len(images)},) (one per image), got {tuple(labels.shape)}")
    check_number(probability, "cutmix probability")
    if not 0 <= probability <= 1:
        raise ValueError(f"cutmix probability must be in [0, 1], got {probability}; 0 switches CutMix off")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"num_classes must be a whole number, got {num_classes!r} ({type(num_classes).__name__})")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 for CutMix to mix labels, got {num_classes}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}; use labels.long()")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels run from {int(labels.min())} to {int(labels.max())}, outside the "
                         f"{num_classes} classes 0..{num_classes - 1}")
    own = F.one_hot(labels.long(), num_classes).float()  # (B, K)
    if probability == 0:
        return images, own.to(images.device)
    apply, lam, row, col = torch.rand(4, generator=generator).tolist()
    if not apply < probability:
        return images, own.to(images.device)
    h, w = images.shape[-2:]
    cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
    cy, cx = min(int(row * h), h - 1), min(int(col * w), w - 1)  # the centre: a uniform pixel
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)  # timm's box, clipped to the image
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images.flip(0)[:, :, top:bottom, left:right]  # from the partner
    lam = 1 - (bottom - top) * (right - left) / (h * w)  # the share of each image that is its own
    targets = lam * own + (1 - lam) * own.flip(0)  # (B, K): the partner's one-hot is own, reversed
    return mixed, targets.to(images.device)
