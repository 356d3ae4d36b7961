"""The paper's hybrid (Section 3.1, "Hybrid Architecture"): a ViT whose tokens come from a CNN feature map.

Everything after the token embedding is the ViT of model.py; only Eq. 1's x_p E changes:

    ViT:     images (B, C, H, W) -> P x P patches -> linear P*P*C -> D               -> tokens (B, N, D)
    hybrid:  images (B, C, H, W) -> CNN stem -> feature map (B, C', H', W')
             -> 1 x 1 patches: rearrange 'b c h w -> b (h w) c' -> linear C' -> D    -> tokens (B, N, D)

The stem is a SmallResNet (vitlib.baselines) without its head. Each of its stages after the first
halves the resolution, so one feature-map pixel, i.e. one token, stands for a square of
stride = 2^(stages - 1) input pixels per side: the hybrid's `patch_size` in its ViTConfig.

Usage:
    cfg = ViTConfig(image_size=32, patch_size=8, in_channels=1, num_classes=10, dim=64, depth=4, heads=4,
                    mlp_dim=128)
    model = hybrid_vit(cfg, stem_widths=(8, 16, 32, 32))  # 4 stages: stride 8 = cfg.patch_size
    logits, attn = model(images, return_attention=True)   # a ViT in every other respect

Cost: `vitlib.cost` counts plain ViTs from their config; the config does not describe the stem, so
count a hybrid's parameters by summing them (`sum(p.numel() for p in model.parameters())`) and its
FLOPs with `torch.utils.flop_counter.FlopCounterMode` (notebook 08 does both).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from .baselines import SmallResNet
from .model import ViT, ViTConfig
from .validate import check_widths

__all__ = ["CNNStemEmbedding", "hybrid_vit", "stem_stride"]


def stem_stride(stem_widths) -> int:
    """Input pixels per feature-map pixel, per side, of a stem with one stage per width: 2^(stages - 1)."""
    return 2 ** (len(check_widths(stem_widths)) - 1)


class CNNStemEmbedding(nn.Module):
    """The hybrid's token embedding: images (B, C, H, W) -> tokens (B, N, D), N = (H / stride)^2.

    A drop-in replacement for `PatchEmbed` in `ViT(cfg, patch_embed=...)`: it has the same
    `image_size`, `patch_size` (here the stem's stride), `in_channels`, `grid_size`, `num_patches`
    and `check_input`.
    """

    def __init__(self, image_size: int, in_channels: int, dim: int, stem_widths=(32, 64), stem_blocks: int = 1):
        super().__init__()
        self.stem = SmallResNet(in_channels, num_classes=0, widths=stem_widths, blocks=stem_blocks)
        self.proj = nn.Linear(self.stem.out_channels, dim)  # E for 1 x 1 patches of the feature map: C' -> D
        self.patch_size = self.stem.reduction  # = stem_stride(stem_widths)
        if image_size < self.patch_size or image_size % self.patch_size:
            raise ValueError(f"image size {image_size} is not divisible by the stem's stride {self.patch_size} "
                             f"({len(self.stem.cfg['widths'])} stages); use a multiple of {self.patch_size}, "
                             f"or fewer stem widths")
        self.image_size, self.in_channels = image_size, in_channels
        self.grid_size = image_size // self.patch_size
        self.num_patches = self.grid_size**2
        self.cfg = dict(stem_widths=list(self.stem.cfg["widths"]), stem_blocks=stem_blocks)  # what hybrid_vit needs

    def check_input(self, images: torch.Tensor) -> None:
        """ValueError naming the fix unless images are (B, in_channels, image_size, image_size)."""
        if images.ndim != 4:
            raise ValueError(f"expected images of shape (B, C, H, W), got shape {tuple(images.shape)}")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {images.shape[1]} (images of shape "
                             f"{tuple(images.shape)}); build the hybrid with in_channels={images.shape[1]}")
        if images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"expected {self.image_size}x{self.image_size} images, got "
                             f"{images.shape[-2]}x{images.shape[-1]}; resize them or set image_size in the ViTConfig")

    def tokens_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """feature map (B, C', H', W') -> tokens (B, H'W', D), in raster order (row by row)."""
        tokens = rearrange(features, "b c h w -> b (h w) c")  # (B, N, C'): each feature pixel is a 1 x 1 patch
        return self.proj(tokens)  # (B, N, D)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        features = self.stem.features(images)  # (B, C', H / stride, W / stride)
        return self.tokens_from_features(features)  # (B, N, D)


def hybrid_vit(cfg: ViTConfig, stem_widths=(32, 64), stem_blocks: int = 1) -> ViT:
    """A ViT(cfg) whose token embedding is a CNN stem (`CNNStemEmbedding`): the paper's hybrid.

    cfg.patch_size must be the stem's stride, 2^(len(stem_widths) - 1): the input pixels per side that
    one token covers, so that cfg.num_patches is the number of feature-map pixels.
    cfg.patch_embed_norm (a variant of the patch projection) does not apply.
    """
    stride = stem_stride(stem_widths)
    if cfg.patch_size != stride:
        stages = cfg.patch_size.bit_length()  # log2(P) + 1 stages give stride P, if P is a power of 2
        fix = (f"use {stages} stem widths for stride {cfg.patch_size}"
               if cfg.patch_size == 2 ** (stages - 1) else "the stem's stride is always a power of 2")
        raise ValueError(f"cfg.patch_size is {cfg.patch_size}, but the stem's stride is {stride} "
                         f"({len(tuple(stem_widths))} stem widths, each after the first halves the resolution); "
                         f"set patch_size={stride} in the ViTConfig, or {fix}")
    stem = CNNStemEmbedding(cfg.image_size, cfg.in_channels, cfg.dim, stem_widths, stem_blocks)
    return ViT(cfg, patch_embed=stem)
