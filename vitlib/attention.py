"""Multi-head self-attention (Section 3.1; Vaswani et al. 2017).

    A = softmax(q k^T / sqrt(D_h))      (T, T) per head, rows sum to 1
    SA(z) = A v
    MSA(z) = [SA_1(z); ...; SA_k(z)] U_msa

`scaled_dot_product_attention` is the formula written out; it returns the
attention weights, which the probes need. `MultiHeadSelfAttention` uses it when
weights are asked for, and otherwise a fast kernel that computes the same thing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = ["scaled_dot_product_attention", "fast_attention", "MultiHeadSelfAttention", "check_heads"]


def check_heads(dim: int, heads: int) -> None:
    """Raise a ValueError naming the fix unless `heads` divides `dim` (each head gets D / heads channels)."""
    if heads < 1 or dim % heads:
        divisors = [h for h in range(1, dim + 1) if dim % h == 0]
        near = sorted(sorted(divisors, key=lambda h: abs(h - heads))[:3])
        raise ValueError(f"dim {dim} is not divisible by heads {heads}; "
                         f"use heads in {near} or a dim that is a multiple of {heads}")


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v, written out.

    q, k, v (B, H, T, d) -> output (B, H, T, d), weights (B, H, T, T).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    weights = scores.softmax(dim=-1)  # each row sums to 1
    out = F.dropout(weights, dropout_p) @ v if dropout_p > 0 else weights @ v  # (B, H, T, d)
    return out, weights


def fast_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """The same output as `scaled_dot_product_attention`, computed by the fastest kernel.

    q, k, v (B, H, T, d) -> (B, H, T, d). PyTorch's fused kernel never materialises
    the weights. On CPU under bf16 autocast, two plain matmuls with a softmax in
    between were faster than the fused kernel on the CPUs we measured, so we use
    those there.
    """
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and dropout_p == 0.0:
        scores = (q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1)  # (B, H, T, T)
        return scores.softmax(dim=-1) @ v
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


class MultiHeadSelfAttention(nn.Module):
    """MSA: tokens (B, T, D) -> tokens (B, T, D), and the weights (B, H, T, T) if asked.

    q, k and v come from one fused linear layer `qkv` (D -> 3D), split into
    `heads` heads of D_h = D / heads dimensions; `proj` is U_msa.
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, attention_dropout: float = 0.0):
        super().__init__()
        check_heads(dim, heads)
        self.heads, self.attention_dropout = heads, attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        qkv = self.qkv(x)  # (B, T, 3D)
        q, k, v = rearrange(qkv, "b t (three h d) -> three b h t d", three=3, h=self.heads)  # each (B, H, T, D_h)
        p = self.attention_dropout if self.training else 0.0
        if return_attention:
            out, weights = scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:
            out, weights = fast_attention(q, k, v, dropout_p=p), None
        out = rearrange(out, "b h t d -> b t (h d)")  # concatenate the heads: (B, T, D)
        return self.proj(out), weights
