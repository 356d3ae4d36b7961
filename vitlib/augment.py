"""Augmentation on tensors: random shifts and left-right flips, drawn the same way on every process.

    images = augment(images, shift=2, flip=False, generator=g)   # (B, C, H, W) -> (B, C, H, W)

`augment_share` is what `fit` uses under torchrun: it draws the random numbers for the whole
global batch and applies the rows of this process's share, so image i of a batch gets the same
shift and flip however many processes train together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["random_shift", "augment", "augment_share"]


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
