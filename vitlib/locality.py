"""Local attention: how to measure it, where it comes from, and a start that has it (Figure 7, right).

The paper finds that some heads in the lowest layers of a ViT pretrained on JFT-300M attend to
nearby patches only, like a convolution, while others look across the whole image. Trained on
ImageNet alone, ViTs do not grow those local heads (Raghu et al. 2021), and on our scale no
recipe we tried did either: every head stays at the distance that uniform attention gives.

This module holds the three pieces notebook 06 uses to teach that as a result about scale:
  uniform_attention_distance(G, P)  the distance a head that attends uniformly has: the reference line
  position_only_attention(model)    the attention that E_pos alone produces in a layer: does the model
                                     route attention by where a patch is, or by what it shows?
  seed_locality(model)              put local heads in by hand (mimetic initialisation, Trockman &
                                     Kolter 2023): what large-scale pretraining produces, so that a
                                     small run can show what training does with it.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from .embeddings import sincos_2d
from .patches import patch_distances
from .validate import check_int, check_number

__all__ = ["uniform_attention_distance", "position_only_attention", "seed_locality"]


def uniform_attention_distance(grid_size: int, patch_size: int) -> float:
    """Mean attention distance (pixels) of a head whose query spreads its weight evenly over all G*G patches."""
    return float(patch_distances(grid_size, patch_size).mean())


def _vit_parts(model: nn.Module) -> tuple[torch.Tensor, int, nn.ModuleList]:
    """(E_pos table (T, D), number of prefix tokens, encoder blocks) of a ViT with learned position embeddings."""
    pos = getattr(getattr(model, "pos_embed", None), "pos_embed", None)
    blocks = getattr(getattr(model, "encoder", None), "blocks", None)
    if pos is None or blocks is None:
        raise ValueError(f"expected a vitlib ViT with position embeddings, got a {type(model).__name__}; "
                         "a model with pos_embed='none' has no position to attend by")
    return pos[0], model.pos_embed.num_prefix_tokens, blocks


@torch.no_grad()
def position_only_attention(model: nn.Module, layer: int = 0) -> torch.Tensor:
    """Attention weights (1, H, N, N) that layer `layer` computes from the position embeddings alone.

    The patch tokens are replaced by E_pos (no image content, no class token), passed through the
    layer's LayerNorm and its query/key maps: softmax(q k^T / sqrt(D_h)) over the N patches. If these
    weights are local, the model could route attention by position; if they are uniform, whatever
    locality its attention has comes from the image content, not from where a patch is.
    """
    table, prefix, blocks = _vit_parts(model)
    check_int(layer, "layer", minimum=0)
    if layer >= len(blocks):
        raise ValueError(f"layer {layer} does not exist: the model has layers 0..{len(blocks) - 1}")
    block = blocks[layer]
    x = block.norm1(table[prefix:])[None]  # (1, N, D): position only
    q, k, _ = rearrange(block.attn.qkv(x), "b n (three h d) -> three b h n d", three=3, h=block.attn.heads)
    return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)  # (1, H, N, N)


@torch.no_grad()
def seed_locality(model: nn.Module, temperature: float = 10.0, qk_gain: float = 1.5, seed: int = 0) -> nn.Module:
    """Give a fresh ViT local attention heads by hand, in place -> the model (a locality-seeded start).

    1. E_pos of the patches starts as 2D sin-cos features with a low `temperature` (10 instead of
       10,000): high frequencies, so nearby patches have similar embeddings and far ones do not.
    2. Every head's query and key maps start equal (mimetic initialisation: W_q = W_k, a random
       D -> D_h projection times `qk_gain`), so q_i . k_j is large when tokens i and j are similar:
       with position dominating the tokens at the start, a patch attends to its neighbours.
    Everything else keeps the standard initialisation, and all of it stays trainable.
    """
    table, prefix, blocks = _vit_parts(model)
    check_number(temperature, "temperature")
    check_number(qk_gain, "qk_gain")
    if temperature <= 1 or qk_gain <= 0:
        raise ValueError(f"temperature must be > 1 and qk_gain > 0, got {temperature} and {qk_gain}")
    n, dim = table.shape[0] - prefix, table.shape[1]
    grid = math.isqrt(n)
    if grid * grid != n or dim % 4:
        raise ValueError(f"seed_locality needs a square grid of patches and dim divisible by 4, got {n} patches, dim "
                         f"{dim}")
    table[prefix:] = sincos_2d(grid, dim, temperature=temperature)  # (N, D)
    generator = torch.Generator().manual_seed(seed)
    for block in blocks:
        qkv = block.attn.qkv.weight  # (3D, D): rows 0..D-1 make q, D..2D-1 make k
        w = torch.randn(dim, dim, generator=generator) * (qk_gain / math.sqrt(dim))  # (D out, D in)
        qkv[:dim] = w  # W_q
        qkv[dim:2 * dim] = w  # W_k = W_q, head by head
        if block.attn.qkv.bias is not None:
            block.attn.qkv.bias[: 2 * dim] = 0.0
    return model

