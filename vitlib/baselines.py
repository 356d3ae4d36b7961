"""Convolutional baselines and the paper's hybrid, for the ViT-vs-CNN comparison (Section 3.1, 4).

    SmallCNN      conv-BN-ReLU blocks and max-pooling, global average pooling, a linear head
    SmallResNet   a ResNet (He et al. 2016) in miniature: basic residual blocks in stages
    HybridViT     "Hybrid Architecture": a CNN stem whose feature map (B, C', H', W') is cut into
                  1x1 patches, i.e. flattened into H'W' tokens, projected to D, and fed to the ViT
                  encoder with a [class] token and position embeddings

All take images (B, C, H, W) and return logits (B, K); they are sized for 8x8 to 32x32 inputs
(the digits, CIFAR). Convolutions build in locality and translation equivariance, the inductive
biases a ViT lacks and has to learn from data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from einops import rearrange
from torch import nn

from .attention import check_heads
from .embeddings import POS_EMBED_KINDS, ClassToken, PositionEmbedding
from .encoder import Encoder
from .validate import check_fields, check_images, check_int, check_rate

__all__ = ["conv_bn_relu", "SmallCNN", "BasicBlock", "SmallResNet", "HybridConfig", "HybridViT"]


def _check_widths(widths) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be a non-empty sequence of positive integers, got {widths!r}; e.g. (32, 64)")
    return widths


def _check_input(images: torch.Tensor, in_channels: int, min_size: int, like: torch.Tensor) -> None:
    check_images(images, channels=in_channels, like=like)  # type, dtype, layout and channels
    if min(images.shape[-2:]) < min_size:
        raise ValueError(f"images of {images.shape[-2]}x{images.shape[-1]} are too small for this model; "
                         f"use at least {min_size}x{min_size} (upsample them) or fewer stages")


def _check_sizes(in_channels: int, num_classes: int) -> None:
    check_int(in_channels, "in_channels")
    check_int(num_classes, "num_classes", minimum=0)


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A plain CNN: per width, two conv-BN-ReLU layers; 2x2 max-pooling between stages.

    (B, C, H, W) -> stages -> (B, widths[-1], H / 2^(S-1), W / 2^(S-1)) -> global average pool
    -> (B, widths[-1]) -> dropout -> linear -> (B, K).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths=(32, 64), dropout: float = 0.0):
        super().__init__()
        widths = _check_widths(widths)
        _check_sizes(in_channels, num_classes)
        check_rate(dropout, "dropout")
        self.cfg = dict(in_channels=in_channels, num_classes=num_classes, widths=list(widths), dropout=dropout)
        layers, c = [], in_channels
        for i, w in enumerate(widths):
            if i > 0:
                layers.append(nn.MaxPool2d(2))  # halve the resolution between stages
            layers += [conv_bn_relu(c, w), conv_bn_relu(w, w)]
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))
        self.min_size = 2 ** (len(widths) - 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_input(images, self.cfg["in_channels"], self.min_size, like=self.head[1].weight)
        x = self.features(images)  # (B, C', H', W')
        x = self.pool(x).flatten(1)  # (B, C')
        return self.head(x)  # (B, K)


class BasicBlock(nn.Module):
    """ResNet's basic block: y = ReLU(x' + BN(conv(ReLU(BN(conv(x)))))), (B, C_in, H, W) -> (B, C_out, H/s, W/s).

    x' is x itself, or a 1x1 strided conv + BN when the shape changes (the projection shortcut).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, out_channels, stride)
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.conv2(self.conv1(x)))


class SmallResNet(nn.Module):
    """A small ResNet: a 3x3 stem, then one stage per width of `blocks` basic blocks;
    every stage after the first halves the resolution (stride 2 in its first block).

    (B, C, H, W) -> stem (B, widths[0], H, W) -> stages -> (B, widths[-1], H / 2^(S-1), W / 2^(S-1))
    -> `features`, or global average pool -> linear -> (B, K).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths=(32, 64, 128), blocks: int = 1):
        super().__init__()
        widths = _check_widths(widths)
        _check_sizes(in_channels, num_classes)
        check_int(blocks, "blocks (per stage)")
        self.cfg = dict(in_channels=in_channels, num_classes=num_classes, widths=list(widths), blocks=blocks)
        self.stem = conv_bn_relu(in_channels, widths[0])
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(blocks):
                stages.append(BasicBlock(c, w, stride=2 if (i > 0 and j == 0) else 1))
                c = w
        self.stages = nn.Sequential(*stages)
        self.out_channels = c
        self.reduction = 2 ** (len(widths) - 1)  # input pixels per feature-map pixel, per side
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> feature map (B, C', H / reduction, W / reduction)."""
        _check_input(images, self.cfg["in_channels"], self.reduction, like=self.stem[0].weight)
        return self.stages(self.stem(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(images)).flatten(1)  # (B, C')
        return self.head(x)  # (B, K)


@dataclass
class HybridConfig:
    """A CNN stem (a SmallResNet without its head) + a ViT encoder on its feature map.

    stem_widths: one ResNet stage per width; each stage after the first halves the resolution, so the
                 feature map is image_size / 2^(len(stem_widths) - 1) pixels per side and gives that
                 squared tokens (e.g. 16x16 images, widths (32, 64) -> 8x8 = 64 tokens).
    The encoder fields mean what they mean in ViTConfig.
    """

    image_size: int = 16
    in_channels: int = 1
    num_classes: int = 10
    stem_widths: tuple[int, ...] = (32, 64)
    stem_blocks: int = 1
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 128
    pos_embed: str = "learned"
    dropout: float = 0.0
    drop_path: float = 0.0
    norm_eps: float = 1e-6

    def __post_init__(self):
        check_fields(self, sizes=("image_size", "in_channels", "stem_blocks", "dim", "depth", "heads", "mlp_dim"),
                     counts=("num_classes",), rates=("dropout", "drop_path"), positive=("norm_eps",))
        self.stem_widths = _check_widths(self.stem_widths)
        reduction = 2 ** (len(self.stem_widths) - 1)
        if self.image_size < reduction or self.image_size % reduction:
            raise ValueError(
                f"image size {self.image_size} is not divisible by the stem's reduction {reduction} "
                f"({len(self.stem_widths)} stages); use an image size that is a multiple of {reduction}, or fewer stages"
            )
        check_heads(self.dim, self.heads)
        if self.pos_embed not in POS_EMBED_KINDS:
            raise ValueError(f"unknown pos_embed {self.pos_embed!r}; use one of {POS_EMBED_KINDS}")

    @property
    def grid_size(self) -> int:
        """Feature-map pixels per side = tokens per side."""
        return self.image_size // 2 ** (len(self.stem_widths) - 1)

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    def replace(self, **changes) -> "HybridConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stem_widths"] = list(self.stem_widths)
        return d


class HybridViT(nn.Module):
    """The paper's hybrid (Section 3.1): the input sequence is made from a CNN feature map.

    images (B, C, H, W) -> stem (B, C', H', W') -> 1x1 patches: rearrange 'b c h w -> b (h w) c'
    -> linear C' -> D: tokens (B, N = H'W', D) -> [class] token + E_pos (B, 1+N, D) -> Encoder
    -> LayerNorm -> class token (B, D) -> linear head (B, K).
    The token part is vitlib's own ClassToken, PositionEmbedding and Encoder.
    """

    def __init__(self, cfg: HybridConfig):
        super().__init__()
        self.cfg = cfg
        self.stem = SmallResNet(cfg.in_channels, num_classes=0, widths=cfg.stem_widths, blocks=cfg.stem_blocks)
        self.proj = nn.Linear(self.stem.out_channels, cfg.dim)  # E for 1x1 patches of the feature map
        self.cls_token = ClassToken(cfg.dim)
        self.pos_embed = PositionEmbedding(cfg.num_patches, cfg.dim, kind=cfg.pos_embed)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg.depth, cfg.dim, cfg.heads, cfg.mlp_dim, drop_path=cfg.drop_path,
                               dropout=cfg.dropout, norm_eps=cfg.norm_eps)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> patch tokens (B, N, D) from the CNN feature map."""
        check_images(images, channels=self.cfg.in_channels, like=self.proj.weight)
        if images.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"expected {self.cfg.image_size}x{self.cfg.image_size} images, got shape "
                             f"{tuple(images.shape)}; resize them or set image_size in HybridConfig")
        features = self.stem.features(images)  # (B, C', H', W')
        tokens = rearrange(features, "b c h w -> b (h w) c")  # (B, N, C'): each feature pixel is a patch
        return self.proj(tokens)  # (B, N, D)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        x = self.cls_token(self.tokens(images))  # (B, 1+N, D)
        x = self.dropout(self.pos_embed(x))  # z0
        x, attentions = self.encoder(x, return_attention)  # (B, 1+N, D)
        logits = self.head(self.norm(x)[:, 0])  # (B, K)
        return (logits, attentions) if return_attention else logits
