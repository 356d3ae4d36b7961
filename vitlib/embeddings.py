"""The [class] token and position embeddings (Section 3.1, Eq. 1; Appendix D.4).

z0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos,   E_pos in R^{(N+1) x D}.

Position embeddings come in three kinds:
  "learned":  a free (1, 1+N, D) parameter, normal(std 0.02) at init (the paper's default, 1D).
  "sincos2d": fixed 2D sine-cosine features of the patch's (row, column); zeros for the class token.
  "none":     nothing is added; the encoder is then permutation-equivariant over the patches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .validate import check_choice, check_flag, check_float, check_int, check_tensor, check_tokens

__all__ = ["ClassToken", "PositionEmbedding", "sincos_2d", "resize_pos_embed", "POS_EMBED_KINDS"]

POS_EMBED_KINDS = ("learned", "sincos2d", "none")


class ClassToken(nn.Module):
    """Prepends a learnable [class] token: (B, N, D) -> (B, 1+N, D). Zero at init, as in the reference."""

    def __init__(self, dim: int):
        super().__init__()
        check_int(dim, "dim")
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens(x, "x", self.token.shape[-1], like=self.token)
        cls = self.token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        return torch.cat([cls, x], dim=1)  # (B, 1+N, D)


def sincos_2d(grid_size: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2D sine-cosine position features for a grid_size x grid_size grid: (G*G, D).

    A quarter of the channels each hold sin(y w), cos(y w), sin(x w), cos(x w) for
    frequencies w = temperature^(-i / (D/4)), as in MoCo v3 and vit-pytorch's simple ViT.
    """
    check_int(grid_size, "grid_size")
    check_int(dim, "dim")
    if dim % 4:
        raise ValueError(f"2D sin-cos position embeddings need dim divisible by 4, got {dim}; use a multiple of 4")
    y, x = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    omega = temperature ** (-torch.arange(dim // 4) / (dim // 4))  # (D/4,)
    y = y.flatten()[:, None] * omega[None, :]  # (G*G, D/4)
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat([y.sin(), y.cos(), x.sin(), x.cos()], dim=1).float()  # (G*G, D)


class PositionEmbedding(nn.Module):
    """Adds E_pos to the token sequence: (B, 1+N, D) -> (B, 1+N, D).

    `pos_embed` is the (1, 1+N, D) table: a Parameter if learned, a buffer if fixed, None if "none".
    """

    def __init__(self, num_patches: int, dim: int, kind: str = "learned", num_prefix_tokens: int = 1):
        super().__init__()
        check_int(num_patches, "num_patches")
        check_int(dim, "dim")
        check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
        if kind not in POS_EMBED_KINDS:
            raise ValueError(f"unknown position embedding {kind!r}; use one of {POS_EMBED_KINDS}")
        self.kind, self.num_prefix_tokens = kind, num_prefix_tokens
        if kind == "learned":
            self.pos_embed = nn.Parameter(torch.randn(1, num_prefix_tokens + num_patches, dim) * 0.02)
        elif kind == "sincos2d":
            grid = math.isqrt(num_patches)
            if grid * grid != num_patches:
                raise ValueError(f"2D sin-cos position embeddings need a square grid, got {num_patches} patches")
            table = torch.cat([torch.zeros(num_prefix_tokens, dim), sincos_2d(grid, dim)])[None]  # (1, 1+N, D)
            self.register_buffer("pos_embed", table, persistent=False)
        else:
            self.pos_embed = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pos_embed is None:
            return x
        check_tokens(x, "x", self.pos_embed.shape[-1], like=self.pos_embed)
        if x.shape[1] != self.pos_embed.shape[1]:
            raise ValueError(
                f"sequence of {x.shape[1]} tokens but {self.pos_embed.shape[1]} position embeddings; "
                "resize them with resize_pos_embed"
            )
        return x + self.pos_embed


def resize_pos_embed(
    pos_embed: torch.Tensor,
    new_grid: int | tuple[int, int],
    num_prefix_tokens: int = 1,
    mode: str = "bilinear",
    align_corners: bool | None = True,
    antialias: bool = False,
) -> torch.Tensor:
    """Resize position embeddings to a new patch grid by 2D interpolation (Section 3.2).

    pos_embed (1, prefix + G*G, D) -> (1, prefix + G'*G', D). The class token row(s)
    are kept aside unchanged; the patch rows are laid out as a G x G grid of
    D-channel pixels and interpolated. A resize to the same grid returns the input
    unchanged (an exact no-op).

    The default (bilinear, align_corners=True) is what the paper's code does
    (scipy.ndimage.zoom(order=1) in vit_jax/checkpoint.py). timm uses
    mode="bicubic", align_corners=False, antialias=True; Hugging Face uses
    mode="bicubic", align_corners=False. The results differ slightly.
    """
    new_grid = _check_resize_args(pos_embed, new_grid, num_prefix_tokens, mode, antialias)
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    old = math.isqrt(patches.shape[1])
    if old * old != patches.shape[1]:
        raise ValueError(f"{patches.shape[1]} patch position embeddings do not form a square grid; "
                         f"check num_prefix_tokens ({num_prefix_tokens})")
    if new_grid == (old, old):
        return pos_embed
    if mode in ("nearest", "nearest-exact", "area"):
        align_corners = None  # these modes take no align_corners
    grid = rearrange(patches, "1 (h w) d -> 1 d h w", h=old)
    grid = F.interpolate(grid.float(), size=new_grid, mode=mode, align_corners=align_corners, antialias=antialias)
    patches = rearrange(grid, "1 d h w -> 1 (h w) d").to(pos_embed.dtype)
    return torch.cat([prefix, patches], dim=1)


INTERPOLATION_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")


def _check_resize_args(pos_embed, new_grid, num_prefix_tokens, mode, antialias) -> tuple[int, int]:
    """resize_pos_embed's argument checks; -> new_grid as (rows, cols)."""
    check_tensor(pos_embed, "pos_embed", "(1, T, D)")
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1 or 0 in pos_embed.shape:
        fix = "; add the batch axis with pos_embed[None]" if pos_embed.ndim == 2 else ""
        raise ValueError(f"expected position embeddings of shape (1, T, D), got {tuple(pos_embed.shape)}{fix}")
    check_float(pos_embed, "pos_embed")
    if isinstance(new_grid, (tuple, list)) and len(new_grid) == 2:
        new_grid = tuple(new_grid)
    else:
        check_int(new_grid, "new_grid")
        new_grid = (new_grid, new_grid)
    for side in new_grid:
        check_int(side, "new_grid")  # patches per side of the new grid, >= 1
    check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    if num_prefix_tokens >= pos_embed.shape[1]:
        raise ValueError(f"num_prefix_tokens ({num_prefix_tokens}) leaves no patch rows in pos_embed of shape "
                         f"{tuple(pos_embed.shape)}; use 1 for a [class] token, 0 for none")
    check_choice(mode, "mode", INTERPOLATION_MODES)
    check_flag(antialias, "antialias")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"antialias=True works with mode 'bilinear' or 'bicubic' only, got mode {mode!r}")
    return new_grid
