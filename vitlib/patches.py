"""An image is a sequence of patches (Section 3.1, Eq. 1).

An image x of shape (C, H, W) is cut into N = HW / P^2 non-overlapping P x P
patches; each patch is flattened into P*P*C numbers and projected to D
dimensions by one linear map E of shape (P*P*C, D).

A convolution with P x P kernels and stride P applies that same linear map to
every patch, so `PatchEmbed` keeps a single weight and offers both forms.

The geometry of the patch grid, `patch_distances`, is here too: the probes (mean attention distance)
and vitlib.locality measure with it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .validate import check_image_shape, check_images, check_int, check_tensor

__all__ = ["patchify", "unpatchify", "PatchEmbed", "check_patch_size", "patch_distances"]


def check_patch_size(image_size: int, patch_size: int) -> None:
    """Raise a ValueError naming the fix if `image_size` is not a multiple of `patch_size`."""
    check_int(patch_size, "patch_size")
    check_int(image_size, "image_size")
    if image_size % patch_size:
        lower = image_size - image_size % patch_size
        upper = lower + patch_size
        options = f"{lower} or {upper}" if lower > 0 else f"{upper}"
        raise ValueError(
            f"image size {image_size} is not divisible by patch size {patch_size}; "
            f"use an image size of {options}, or a patch size that divides {image_size}"
        )


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened patches, row by row (raster order).

    images (B, C, H, W) -> patches (B, N, P*P*C), N = (H/P) * (W/P).
    Each patch is flattened as (p1 p2 c): row within the patch, column, channel,
    which is the order of the paper's x_p in R^{N x (P^2 C)}.
    Pure rearrangement: numpy arrays work too (and give numpy arrays), and so do integer pixels.
    """
    _check_patchify_input(images, patch_size)
    return rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size)


def _check_patchify_input(images, patch_size: int) -> None:
    """patchify's checks: an array (B, C, H, W) whose H and W the patch size divides; a channels-last
    batch (B, H, W, C), whose "W" is a channel count of 1-4, is named as such."""
    if not isinstance(images, (torch.Tensor, np.ndarray)):
        check_tensor(images, "images", "(B, C, H, W)")  # TypeError naming the conversion
    check_int(patch_size, "patch_size")
    if images.ndim != 4:
        check_image_shape(images.shape)  # ValueError naming the missing axis
    h, w = images.shape[-2:]
    if w % patch_size and w <= 4 < images.shape[1]:
        raise ValueError(f"images of shape {tuple(images.shape)} look channels-last (B, H, W, C); patchify takes "
                         "(B, C, H, W): use images.permute(0, 3, 1, 2) (numpy: images.transpose(0, 3, 1, 2))")
    check_patch_size(h, patch_size)
    check_patch_size(w, patch_size)


def unpatchify(patches: torch.Tensor, patch_size: int, grid_size: tuple[int, int] | int | None = None) -> torch.Tensor:
    """Inverse of `patchify`: patches (B, N, P*P*C) -> images (B, C, H, W).

    `grid_size` is (H/P, W/P); if omitted the grid is assumed square. Numpy arrays work too.
    """
    if not isinstance(patches, (torch.Tensor, np.ndarray)):
        check_tensor(patches, "patches", "(B, N, P*P*C)")  # TypeError naming the conversion
    check_int(patch_size, "patch_size")
    if patches.ndim != 3 or 0 in patches.shape[1:]:
        raise ValueError("expected patches of shape (B, N, P*P*C) with N, P*P*C >= 1, got shape "
                         f"{tuple(patches.shape)}")
    b, n, k = patches.shape
    if grid_size is None:
        side = int(round(n**0.5))
        if side * side != n:
            raise ValueError(f"{n} patches do not form a square grid; pass grid_size=(rows, cols)")
        grid_size = (side, side)
    elif not isinstance(grid_size, (tuple, list)):
        check_int(grid_size, "grid_size")
        grid_size = (grid_size, grid_size)
    elif len(grid_size) != 2 or not all(isinstance(g, int) and g >= 1 for g in grid_size):
        raise ValueError(f"grid_size must be (rows, cols) of whole numbers >= 1, or one such number; got {grid_size!r}")
    if grid_size[0] * grid_size[1] != n:
        raise ValueError(f"grid {grid_size} holds {grid_size[0] * grid_size[1]} patches, but got {n}")
    if k % (patch_size * patch_size):
        raise ValueError(f"patch length {k} is not P*P*C for patch size {patch_size}")
    return rearrange(
        patches, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=grid_size[0], w=grid_size[1], p1=patch_size, p2=patch_size
    )


class PatchEmbed(nn.Module):
    """Patch embedding x_p E + b: images (B, C, H, W) -> tokens (B, N, D).

    One weight, two ways to compute the same linear map:
      form="conv":   a Conv2d with P x P kernels and stride P (fast; timm's layout).
      form="linear": patchify, then multiply by E (the paper's notation).
    `self.proj` is always stored as the conv (weight (D, C, P, P)), so both forms
    share the same state dict; `E` gives the weight as the paper's (P*P*C, D) matrix.

    norm=True gives lucidrains' vit-pytorch's variant:
    LayerNorm(P*P*C) -> linear -> LayerNorm(D). It is not in the paper.
    """

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        dim: int = 768,
        form: str = "conv",
        norm: bool = False,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        check_patch_size(image_size, patch_size)
        check_int(in_channels, "in_channels")
        check_int(dim, "dim")
        if form not in ("conv", "linear"):
            raise ValueError(f"unknown patch embedding form {form!r}; use 'conv' or 'linear'")
        self.image_size, self.patch_size, self.in_channels = image_size, patch_size, in_channels
        self.grid_size = image_size // patch_size
        self.num_patches = self.grid_size**2
        self.form = "linear" if norm else form  # the LayerNorm acts on raw patch vectors
        patch_dim = patch_size * patch_size * in_channels
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.norm_in = nn.LayerNorm(patch_dim, eps=norm_eps) if norm else None
        self.norm_out = nn.LayerNorm(dim, eps=norm_eps) if norm else None

    @property
    def E(self) -> torch.Tensor:
        """The projection as the paper writes it: (P*P*C, D), rows in patchify's (p1 p2 c) order."""
        return rearrange(self.proj.weight, "d c p1 p2 -> (p1 p2 c) d")

    def check_input(self, images: torch.Tensor) -> None:
        """Raise a ValueError or TypeError naming the fix unless images are float (B, C, image_size, image_size)
        with the weights' dtype and device (see vitlib.validate.check_images)."""
        check_images(images, channels=self.in_channels, like=self.proj.weight)
        h, w = images.shape[-2:]
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(
                f"expected {self.image_size}x{self.image_size} images, got {h}x{w}; resize the images, or "
                f"build a model for {h}x{w} (and resize its position embeddings with resize_pos_embed)"
            )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        if self.form == "conv":
            x = self.proj(images)  # (B, D, H/P, W/P)
            return rearrange(x, "b d h w -> b (h w) d")  # (B, N, D)
        x = patchify(images, self.patch_size)  # (B, N, P*P*C)
        if self.norm_in is not None:
            x = self.norm_in(x)
        x = F.linear(x, self.E.T, self.proj.bias)  # (B, N, D) = x_p E + b
        if self.norm_out is not None:
            x = self.norm_out(x)
        return x


def patch_distances(grid_size: int, patch_size: int) -> torch.Tensor:
    """Distances in pixels between the centres of every pair of patches of a G x G grid: (N, N)."""
    check_int(grid_size, "grid_size")
    check_int(patch_size, "patch_size")
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).float()  # (N, 2), grid units
    return torch.cdist(centres, centres) * patch_size  # (N, N) pixels
