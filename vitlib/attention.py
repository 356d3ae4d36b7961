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

from .validate import check_float, check_int, check_rate, check_tensor, check_tokens

__all__ = ["scaled_dot_product_attention", "fast_attention", "MultiHeadSelfAttention", "check_heads"]


def check_heads(dim: int, heads: int) -> None:
    """Raise a ValueError naming the fix unless `heads` divides `dim` (each head gets D / heads channels)."""
    check_int(dim, "dim")
    check_int(heads, "heads")
    if dim % heads:
        divisors = [h for h in range(1, dim + 1) if dim % h == 0]
        near = sorted(sorted(divisors, key=lambda h: abs(h - heads))[:3])
        raise ValueError(f"dim {dim} is not divisible by heads {heads}; "
                         f"use heads in {near} or a dim that is a multiple of {heads}")


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v, written out.

    q, k, v (B, H, T, d) -> output (B, H, T, d), weights (B, H, T, T).
    (Any leading axes work: q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v).)
    """
    check_qkv(q, k, v, dropout_p)
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
    check_qkv(q, k, v, dropout_p)
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and dropout_p == 0.0:
        scores = (q * (q.shape[-1] ** -0.5)) @ k.transpose(-2, -1)  # (B, H, T, T)
        return scores.softmax(dim=-1) @ v
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


def check_qkv(q, k, v, dropout_p: float = 0.0) -> None:
    """q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v): float tensors of one dtype and device, matching axes."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(x, name, "(B, H, T, d)")
    if not (q.dtype == k.dtype == v.dtype and q.device == k.device == v.device):
        raise TypeError(f"q, k and v must share one dtype and device, got {q.dtype}, {k.dtype}, {v.dtype} on "
                        f"{q.device}, {k.device}, {v.device}; convert with .to(q)")
    check_float(q, "q")
    ok = q.ndim == k.ndim == v.ndim >= 2 and q.shape[-1] >= 1 and k.shape[-2] >= 1
    if not ok or q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q, k and v do not match: expected q (B, H, T_q, d), k (B, H, T_k, d), v (B, H, T_k, d_v) "
                         f"with T_k, d >= 1, got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    check_rate(dropout_p, "dropout_p")


class MultiHeadSelfAttention(nn.Module):
    """MSA: tokens (B, T, D) -> tokens (B, T, D), and the weights (B, H, T, T) if asked.

    q, k and v come from one fused linear layer `qkv` (D -> 3D), split into
    `heads` heads of D_h = D / heads dimensions; `proj` is U_msa.
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, attention_dropout: float = 0.0):
        super().__init__()
        check_heads(dim, heads)
        check_rate(attention_dropout, "attention_dropout")
        self.heads, self.attention_dropout = heads, attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_tokens(x, "x", self.proj.in_features, like=self.proj.weight)
        qkv = self.qkv(x)  # (B, T, 3D)
        q, k, v = rearrange(qkv, "b t (three h d) -> three b h t d", three=3, h=self.heads)  # each (B, H, T, D_h)
        p = self.attention_dropout if self.training else 0.0
        if return_attention:
            out, weights = scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:
            out, weights = fast_attention(q, k, v, dropout_p=p), None
        out = rearrange(out, "b h t d -> b t (h d)")  # concatenate the heads: (B, T, D)
        return self.proj(out), weights
