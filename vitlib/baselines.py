"""Convolutional baselines for the ViT-vs-CNN comparison (Section 4).

    SmallCNN      conv-BN-ReLU blocks and max-pooling, global average pooling, a linear head
    SmallResNet   a ResNet (He et al. 2016) in miniature: basic residual blocks in stages; without
                  its head it is the CNN stem of the paper's hybrid (vitlib.hybrid)

Both take images (B, C, H, W) and return logits (B, K); they are sized for 8x8 to 32x32 inputs
(the digits, CIFAR). Convolutions build in locality and translation equivariance, the inductive
biases a ViT lacks and has to learn from data.
"""

from __future__ import annotations

import torch
from torch import nn

from .validate import check_images, check_int, check_rate, check_widths

__all__ = ["conv_bn_relu", "SmallCNN", "BasicBlock", "SmallResNet"]


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
        widths = check_widths(widths)
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
        widths = check_widths(widths)
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
