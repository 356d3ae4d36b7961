"""Batches: how `fit`, `predict` and `evaluate` cut data into batches, on one process or several.

Data is either a pair of tensors (images (B, C, H, W), labels (B,)) or a torch Dataset of
(image, label) items, such as vitlib.fractals.FractalDataset; both are read the same way:

    for index in global_batches(num_items(data), batch_size, generator):   # a fresh order per epoch
        x, y = fetch(data, index[shard(len(index), procs)])                 # this process's share
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset, default_collate

from .validate import check_float, check_tensor

__all__ = ["check_data", "num_items", "global_batches", "fetch", "batches", "share_of"]


def check_data(data, name: str) -> None:
    """ValueError naming the problem unless `data` is a pair (images (B, C, H, W) float, labels (B,) integer)
    or a torch Dataset (whose items are checked as they are read)."""
    if isinstance(data, Dataset):
        return
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (images, labels) of tensors or a torch Dataset, got "
                         f"{type(data).__name__}")
    x, y = data
    check_tensor(x, f"{name} images", "(B, C, H, W)")
    check_tensor(y, f"{name} labels", "(B,)")
    if x.ndim != 4:
        raise ValueError(f"{name} images must have shape (B, C, H, W), got {tuple(x.shape)}; add a channel axis with "
                         "x[:, None]")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{name} labels must have shape ({len(x)},), got {tuple(y.shape)}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"{name} labels must be integer class indices, got {y.dtype}; use y.long()")
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    check_float(x, f"{name} images")


def num_items(data) -> int:
    """How many (image, label) items `data` holds."""
    return len(data if isinstance(data, Dataset) else data[1])


def global_batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The item indices of each batch of an epoch over n items: a fresh random order drawn from
    `generator` (one randperm per epoch), or 0, 1, ..., n - 1 without one."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def fetch(data, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Items `index` of tensors or a Dataset -> (images (b, C, H, W), labels (b,)); b may be 0."""
    if not isinstance(data, Dataset):
        x, y = data
        return x[index], y[index]
    if len(index) == 0:  # a process's share of a very small last batch
        image = torch.as_tensor(data[0][0])
        return image.new_zeros((0, *image.shape)), torch.zeros(0, dtype=torch.int64)
    return default_collate([data[int(i)] for i in index])


def batches(data, batch_size: int):
    """Yield (images (b, C, H, W), labels (b,)) batches in order, from tensors or a Dataset."""
    for index in global_batches(num_items(data), batch_size):
        yield fetch(data, index)


def share_of(data, share: slice):
    """Items `share` (a slice) of tensors or a Dataset."""
    if isinstance(data, Dataset):
        return Subset(data, range(share.start, share.stop))
    return data[0][share], data[1][share]
