"""The Transformer encoder (Section 3.1, Eq. 2-3).

    z'_l = MSA(LN(z_{l-1})) + z_{l-1}          (Eq. 2)
    z_l  = MLP(LN(z'_l)) + z'_l                (Eq. 3)

LayerNorm comes *before* each sub-layer (pre-norm), and each sub-layer is added
to a residual stream that runs unchanged from the embeddings to the output.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadSelfAttention
from .validate import check_int, check_rate

__all__ = ["MLP", "DropPath", "EncoderBlock", "Encoder"]


class MLP(nn.Module):
    """Two linear layers with a GELU between: (B, T, D) -> (B, T, hidden) -> (B, T, D).

    gelu="exact" is erf-GELU (timm, Hugging Face); gelu="tanh" is the tanh
    approximation that the paper's JAX code uses.
    """

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0, gelu: str = "exact"):
        super().__init__()
        check_rate(dropout, "dropout")
        if gelu not in ("exact", "tanh"):
            raise ValueError(f"unknown GELU kind {gelu!r}; use 'exact' or 'tanh'")
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="none" if gelu == "exact" else "tanh")
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a residual branch for a whole sample with probability p.

    Kept samples are scaled by 1/(1-p) so the expected value is unchanged. (B, ...) -> (B, ...).
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        check_rate(p, "drop_path")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.ndim - 1)), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class EncoderBlock(nn.Module):
    """One pre-norm encoder layer, Eq. 2-3: (B, T, D) -> (B, T, D)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
        gelu: str = "exact",
        norm_eps: float = 1e-6,
        qkv_bias: bool = True,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = MultiHeadSelfAttention(dim, heads, qkv_bias=qkv_bias, attention_dropout=attention_dropout)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = MLP(dim, mlp_dim, dropout=dropout, gelu=gelu)
        self.drop = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, z: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, weights = self.attn(self.norm1(z), return_attention)
        z = z + self.drop_path(self.drop(a))  # Eq. 2
        z = z + self.drop_path(self.mlp(self.norm2(z)))  # Eq. 3
        return z, weights


class Encoder(nn.Module):
    """`depth` encoder blocks: (B, T, D) -> (B, T, D), plus each block's attention (B, H, T, T) if asked.

    drop_path grows linearly from 0 in the first block to `drop_path` in the last.
    """

    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int, drop_path: float = 0.0, **block_kwargs):
        super().__init__()
        check_int(depth, "depth")
        check_rate(drop_path, "drop_path")
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, heads, mlp_dim, drop_path=rate, **block_kwargs) for rate in rates
        )

    def forward(self, z: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        attentions = []
        for block in self.blocks:
            z, weights = block(z, return_attention)
            if return_attention:
                attentions.append(weights)
        return z, attentions
