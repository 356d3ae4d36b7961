"""What a ViT costs: parameters, FLOPs and attention memory, from its config alone.

Counts are analytical, so they can be shown for models far too big to build
(the hyperparameter widget, Table 1). A FLOP is one multiply or one add, so a
(m x k) @ (k x n) matmul costs 2mkn. Only matmuls are counted (the usual
convention); LayerNorm, softmax and GELU add a few percent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import ViTConfig

__all__ = ["count_params", "forward_flops", "train_flops", "attention_matmul_flops", "attention_memory_bytes",
           "CostSummary", "summary"]


def count_params(cfg: ViTConfig) -> int:
    """Number of parameters of ViT(cfg), without building it."""
    d, m, k = cfg.dim, cfg.mlp_dim, cfg.num_classes
    patch = cfg.patch_size**2 * cfg.in_channels
    embed = patch * d + d  # E and its bias
    if cfg.patch_embed_norm:
        embed += 2 * patch + 2 * d
    if cfg.class_token:
        embed += d
    if cfg.pos_embed == "learned":
        embed += cfg.num_tokens * d  # one row per token: 1 + N, or N without a class token
    qkv = 3 * d * d + (3 * d if cfg.qkv_bias else 0)
    block = 2 * d + qkv + d * d + d + 2 * d + d * m + m + m * d + d  # LN, qkv, U_msa, LN, MLP
    head = 0
    if k:
        h = cfg.head_hidden_dim or d
        head = d * k + k if cfg.head == "linear" else d * h + h + h * k + k
    return embed + cfg.depth * block + 2 * d + head


def forward_flops(cfg: ViTConfig) -> int:
    """Matmul FLOPs of one forward pass for one image."""
    n, t, d, m = cfg.num_patches, cfg.num_tokens, cfg.dim, cfg.mlp_dim
    embed = 2 * n * cfg.patch_size**2 * cfg.in_channels * d
    attention = 2 * t * d * 3 * d + 2 * t * t * d * 2 + 2 * t * d * d  # qkv, q k^T and A v, U_msa
    mlp = 2 * t * d * m * 2
    return embed + cfg.depth * (attention + mlp) + 2 * d * cfg.num_classes


def train_flops(cfg: ViTConfig) -> int:
    """FLOPs of one training step for one image: forward + backward (about twice the forward)."""
    return 3 * forward_flops(cfg)


def attention_matmul_flops(cfg: ViTConfig) -> int:
    """FLOPs of one image's forward pass spent in the two T x T matmuls, q k^T and A v, over all
    heads and layers: the part of `forward_flops` that grows as T^2."""
    t = cfg.num_tokens
    return cfg.depth * 2 * (2 * t * t * cfg.dim)


def attention_memory_bytes(cfg: ViTConfig, batch_size: int = 1, bytes_per_value: int = 4) -> int:
    """Memory of the attention matrices (B, H, T, T) of all layers, as kept for backward."""
    t = cfg.num_tokens
    return cfg.depth * batch_size * cfg.heads * t * t * bytes_per_value


@dataclass(frozen=True)
class CostSummary:
    """What one image costs a ViT (see `summary`)."""

    tokens: int  # sequence length T: N + 1 with a class token, N without
    params: int
    forward_flops: int
    attention_matmul_flops: int  # the part of forward_flops in q k^T and A v
    attention_memory_bytes: int  # the attention matrices of all layers, float32


def summary(cfg: ViTConfig) -> CostSummary:
    """Sequence length, parameters, forward FLOPs (and their T^2 part) and attention memory of one image."""
    return CostSummary(tokens=cfg.num_tokens, params=count_params(cfg), forward_flops=forward_flops(cfg),
                       attention_matmul_flops=attention_matmul_flops(cfg),
                       attention_memory_bytes=attention_memory_bytes(cfg))
