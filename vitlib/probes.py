"""Probes: numbers read out of a (trained) ViT, for the figures of Section 4.5 / Figure 7.

    embedding_filter_pcs     principal components of the patch-embedding filters (Figure 7, left)
    pos_embed_similarity     cosine similarity of the position embeddings (Figure 7, centre)
    mean_attention_distance  how far each head looks, in pixels (Figure 7, right)
    attention_rollout        attention flow from the [class] token to the patches (Figure 6)
    attention_maps           where each head looks from one query patch
    run_with_attention       one eval-mode pass of a model over images, keeping every layer's attention
    few_shot_linear          the paper's few-shot linear evaluation of frozen features (with frozen_features,
                             and nearest_neighbour on raw pixels as the floor)

Tensor functions: they take a model or arrays and return arrays; the course's figures draw
them. The conventions of Appendix D.7 are stated at each function (the paper does not say how
it treats the class token in the attention distance: excluding it and renormalising is ours).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .patches import patch_distances
from .validate import check_int, check_tensor

__all__ = ["embedding_filter_pcs", "pos_embed_similarity", "mean_attention_distance", "attention_rollout",
           "attention_maps", "run_with_attention", "pos_similarity_structure", "patch_pcs",
           "POSITION_RELATIONS"]


def _as_array(x, name: str, shape: str) -> torch.Tensor:
    """A tensor from a tensor or numpy array of real numbers (the probes read arrays of either kind)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    check_tensor(x, name, shape)
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got {x.dtype}")
    return x


def _pos_embed_table(pos_embed_or_model) -> torch.Tensor:
    """The (T, D) position-embedding table of a tensor (1, T, D) / (T, D) or of a ViT."""
    if isinstance(pos_embed_or_model, nn.Module):
        module = getattr(pos_embed_or_model, "pos_embed", pos_embed_or_model)
        table = getattr(module, "pos_embed", None)
        if table is None:
            raise ValueError(
                "this model has no position embeddings (pos_embed='none'), so there is nothing to compare; "
                "use a model with pos_embed='learned' or 'sincos2d'"
            )
    else:
        table = _as_array(pos_embed_or_model, "pos_embed_or_model", "(1, T, D)")
    table = table.detach().float()
    if table.ndim == 3 and table.shape[0] == 1:
        table = table[0]
    if table.ndim != 2:
        raise ValueError(f"expected position embeddings of shape (1, T, D) or (T, D), got {tuple(table.shape)}")
    return table


def pos_embed_similarity(pos_embed_or_model, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Cosine similarity between the position embeddings of every pair of patches (Figure 7, centre).

    pos_embed_or_model: E_pos as (1, prefix + G*G, D) or (prefix + G*G, D), or a ViT (its E_pos).
    num_prefix_tokens: leading rows that are not patches (the [class] token); they are excluded.
    Returns sim (G, G, G, G) in [-1, 1]: sim[i, j, k, l] = cos(E_pos of patch (i, j), E_pos of patch (k, l)),
    so sim[i, j] is the G x G map that Figure 7 draws as the tile at row i, column j.
    """
    check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    table = _pos_embed_table(pos_embed_or_model)
    patches = table[num_prefix_tokens:]  # (N, D), class token dropped
    side = math.isqrt(patches.shape[0])
    if side * side != patches.shape[0] or side == 0:
        raise ValueError(
            f"{patches.shape[0]} patch position embeddings (after {num_prefix_tokens} prefix tokens) do not form "
            "a square grid; check num_prefix_tokens"
        )
    unit = F.normalize(patches, dim=-1)  # each embedding scaled to length 1
    sim = unit @ unit.T  # (N, N) cosine similarities
    return rearrange(sim, "(i j) (k l) -> i j k l", i=side, k=side)  # (G, G, G, G)


POSITION_RELATIONS = ("neighbour", "left-right mirror", "top-bottom mirror", "same row", "same column", "other")


def pos_similarity_structure(sim) -> dict[str, float]:
    """Summarise a position-similarity table (G, G, G, G): the mean cosine over each kind of patch pair.

    Every ordered pair of distinct patches (r, c), (r2, c2) counts in the first kind it fits:
      neighbour:          |r - r2| + |c - c2| == 1         (the paper's 2D locality makes these high)
      left-right mirror:  same row, c2 == G-1-c            (high if the model cannot tell left from right)
      top-bottom mirror:  same column, r2 == G-1-r
      same row, same column: the other pairs in one row / one column (the paper's row/column structure)
      other:              every remaining pair
    Returns {kind: mean cosine}, in POSITION_RELATIONS order.
    """
    sim = _as_array(sim, "sim", "(G, G, G, G)").float()
    side = sim.shape[0]
    if sim.ndim != 4 or set(sim.shape) != {side} or side < 3:
        raise ValueError(f"expected a similarity table of shape (G, G, G, G) with G >= 3, got {tuple(sim.shape)}; "
                         "make it with pos_embed_similarity")
    r, c, r2, c2 = torch.meshgrid(*[torch.arange(side)] * 4, indexing="ij")  # each (G, G, G, G)
    free = (r != r2) | (c != c2)  # pairs not yet counted: distinct patches to start with
    masks = []
    for kind in (
        (r - r2).abs() + (c - c2).abs() == 1,  # neighbour
        (r == r2) & (c2 == side - 1 - c),  # left-right mirror
        (c == c2) & (r2 == side - 1 - r),  # top-bottom mirror
        r == r2,  # same row
        c == c2,  # same column
        torch.ones_like(free),  # other
    ):
        masks.append(kind & free)
        free = free & ~kind
    return {name: float(sim[mask].mean()) for name, mask in zip(POSITION_RELATIONS, masks)}


def embedding_filter_pcs(weight_or_model, n: int = 28, return_variance: bool = False):
    """Principal components of the patch-embedding filters (Figure 7, left).

    weight_or_model: the conv weight (D, C, P, P) of a PatchEmbed, or a ViT.
    The D filters are the samples, each a point in R^{P*P*C}; scikit-learn's PCA centres
    them and finds the directions of largest variance. Returns pcs (n, P, P, C), component 0
    first (unscaled: display scaling belongs to the plot), and with return_variance also the
    explained-variance ratio (n,).
    """
    check_int(n, "n")
    weight = weight_or_model
    if isinstance(weight_or_model, nn.Module):
        if not hasattr(weight_or_model, "patch_embed"):
            raise TypeError(f"a {type(weight_or_model).__name__} has no patch embedding; pass a ViT or its "
                            "patch-embedding weight model.patch_embed.proj.weight (D, C, P, P)")
        weight = weight_or_model.patch_embed.proj.weight
    weight = _as_array(weight, "weight_or_model", "(D, C, P, P)").detach().float().cpu()
    if weight.ndim != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f"expected a patch-embedding weight (D, C, P, P), got shape {tuple(weight.shape)}")
    d, c, p, _ = weight.shape
    filters = rearrange(weight, "d c p1 p2 -> d (p1 p2 c)")  # (D, P*P*C): one sample per filter
    if not 1 <= n <= min(d, p * p * c):
        raise ValueError(f"n={n} components, but {d} filters of {p * p * c} values allow at most {min(d, p * p * c)}")
    pcs, ratio = _pca(filters, n, p)
    return (pcs, ratio) if return_variance else pcs


def patch_pcs(images, patch_size: int, n: int = 16, return_variance: bool = False):
    """Principal components of the images' own patches: what the filters of Figure 7 (left) are compared with.

    images (B, C, H, W); every non-overlapping P x P patch is a sample in R^{P*P*C}, the same layout as
    a patch-embedding filter. Returns pcs (n, P, P, C), component 0 first, and with return_variance the
    explained-variance ratio (n,). A linear patch embedding trained by gradient descent changes its
    filters by sums of such patches (dL/dE = sum over patches of patch x gradient), so these are the
    directions long training on these images can write into the filters.
    """
    check_int(patch_size, "patch_size")
    check_int(n, "n")
    images = _as_array(images, "images", "(B, C, H, W)").detach().float().cpu()
    if images.ndim != 4 or images.shape[-1] % patch_size or images.shape[-2] % patch_size:
        raise ValueError(f"expected images (B, C, H, W) with H and W multiples of patch_size {patch_size}, "
                         f"got shape {tuple(images.shape)}")
    patches = rearrange(images, "b c (h p1) (w p2) -> (b h w) (p1 p2 c)", p1=patch_size, p2=patch_size)  # (S, P*P*C)
    if not 1 <= n <= min(patches.shape):
        raise ValueError(f"n={n} components, but {patches.shape[0]} patches of {patches.shape[1]} values allow at "
                         f"most {min(patches.shape)}")
    pcs, ratio = _pca(patches, n, patch_size)
    return (pcs, ratio) if return_variance else pcs


def _pca(samples: torch.Tensor, n: int, patch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA of samples (S, P*P*C) -> components (n, P, P, C) and their explained-variance ratios (n,)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n).fit(samples.numpy())
    pcs = rearrange(torch.from_numpy(pca.components_).float(), "n (p1 p2 c) -> n p1 p2 c", p1=patch_size,
                    p2=patch_size)
    return pcs, torch.from_numpy(pca.explained_variance_ratio_).float()


def _check_attention(attn, name: str) -> torch.Tensor:
    """One layer's attention weights as a float tensor (B, H, T, T) (a numpy array is fine too)."""
    attn = _as_array(attn, name, "(B, H, T, T)").detach().float()
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2] or 0 in attn.shape:
        raise ValueError(f"expected {name} of shape (B, H, T, T) (B images, H heads, T tokens), got shape "
                         f"{tuple(attn.shape)}")
    return attn


def _check_layers(attentions) -> list[torch.Tensor]:
    """A list of L layers (B, H, T, T) of one shape (or a stacked (L, B, H, T, T) array) -> list of tensors."""
    if isinstance(attentions, (torch.Tensor, np.ndarray)) and attentions.ndim == 4:
        raise ValueError(f"attentions must be a list of L layers (B, H, T, T), got one tensor of shape "
                         f"{tuple(attentions.shape)}; for a single layer pass [attn]")
    if isinstance(attentions, (torch.Tensor, np.ndarray)) and attentions.ndim != 5:
        raise ValueError(f"attentions must be a list of L layers (B, H, T, T), got shape {tuple(attentions.shape)}")
    if not isinstance(attentions, (list, tuple, torch.Tensor, np.ndarray)):
        raise TypeError(f"attentions must be a list of L layers (B, H, T, T), got a {type(attentions).__name__}; "
                        "use the list that model(images, return_attention=True) returns")
    if not len(attentions):
        raise ValueError("attentions must hold at least one layer of attention weights (B, H, T, T)")
    layers = [_check_attention(a, f"attentions[{i}]") for i, a in enumerate(attentions)]
    if any(a.shape != layers[0].shape for a in layers):
        raise ValueError(f"all layers of attentions must have one shape (B, H, T, T), got "
                         f"{sorted({tuple(a.shape) for a in layers})}")
    return layers


def _grid_side(tokens: int, num_prefix_tokens: int) -> int:
    n = tokens - num_prefix_tokens
    side = math.isqrt(max(n, 0))
    if n <= 0 or side * side != n:
        raise ValueError(f"{tokens} tokens minus {num_prefix_tokens} prefix tokens do not form a square grid of "
                         "patches")
    return side


def mean_attention_distance(attn, patch_size: int, num_prefix_tokens: int = 1, renormalise: bool = True):
    """Mean attention distance in pixels (Figure 7, right; Appendix D.7).

    attn: one layer's weights (B, H, T, T) -> (H,), or a list of L layers -> (L, H).
    For each query patch, the distance to every key patch (between patch centres, in
    pixels) is weighted by the attention weight, then averaged over queries and images.
    The [class] token is excluded as query and as key; with renormalise=True (our convention: the
    paper's Appendix D.7 does not say how it treats the class token) each query's weights are
    renormalised over the patch keys. renormalise=False
    reproduces the common community convention (drop the class-token column, keep the
    weights as they are), which pulls heads that attend to the class token toward 0.
    """
    if isinstance(attn, (list, tuple)):
        _check_layers(attn)
        return torch.stack([mean_attention_distance(a, patch_size, num_prefix_tokens, renormalise) for a in attn])
    # average over the images: (B, H) -> (H,), or a stacked (L, B, H) -> (L, H)
    return attention_distance_per_image(attn, patch_size, num_prefix_tokens, renormalise).mean(dim=-2)


def attention_rollout(attentions) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020; the paper's Figure 6, Appendix D.8).

    attentions: a list of L layers (B, H, T, T), first layer first, one [class] token first.
    Per layer: average the heads, add the identity (the residual path), renormalise the rows;
    multiply across layers, R = A_L ... A_1. Returns the [class] token's row over the
    patches, reshaped to the grid: (B, G, G), each map summing to at most 1.
    """
    attentions = _check_layers(attentions)
    rollout = None
    for attn in attentions:
        a = attn.detach().float().mean(dim=1)  # (B, T, T), heads averaged
        a = a + torch.eye(a.shape[-1], device=a.device)
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout  # R = A_l R
    side = _grid_side(rollout.shape[-1], 1)
    return rearrange(rollout[:, 0, 1:], "b (h w) -> b h w", h=side)  # (B, G, G)


def attention_maps(attn, query: int, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Where each head looks from one query: attn (B, H, T, T) -> (B, H, G, G).

    query is a patch index in raster order (0 .. N-1), or -1 for the [class] token.
    The maps are the query's attention weights over the patch keys (the class-token
    key is left out, so a map sums to at most 1).
    """
    attn = _check_attention(attn, "attn")
    check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    check_int(query, "query", minimum=-1)
    side = _grid_side(attn.shape[-1], num_prefix_tokens)
    if not -1 <= query < side * side:
        raise ValueError(f"query {query} is outside the {side}x{side} grid; use 0..{side * side - 1}, or -1 for "
                         "[class]")
    row = attn[:, :, 0 if query == -1 else num_prefix_tokens + query, num_prefix_tokens:]  # (B, H, N)
    return rearrange(row, "b h (gh gw) -> b h gh gw", gh=side)


# --- notebook 06 ---------------------------------------------------------------------------

__all__ += ["attention_distance_per_image"]


def attention_distance_per_image(attn, patch_size: int, num_prefix_tokens: int = 1, renormalise: bool = True):
    """`mean_attention_distance` before the average over images: (B, H, T, T) -> (B, H) pixels.

    A list of L layers gives (L, B, H). Averaging over the images (dim -2) gives exactly
    mean_attention_distance, since every image has the same number of query patches; widgets use
    this to average over the first n images without running the model again.
    """
    if isinstance(attn, (list, tuple)) or (isinstance(attn, (torch.Tensor, np.ndarray)) and attn.ndim == 5):
        return torch.stack([attention_distance_per_image(a, patch_size, num_prefix_tokens, renormalise)
                            for a in _check_layers(attn)])
    attn = _check_attention(attn, "attn")
    check_int(patch_size, "patch_size")
    check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    side = _grid_side(attn.shape[-1], num_prefix_tokens)
    a = attn[:, :, num_prefix_tokens:, num_prefix_tokens:]  # (B, H, N, N): patch queries, patch keys
    if renormalise:
        a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    dist = patch_distances(side, patch_size).to(a.device)  # (N, N)
    return (a * dist).sum(dim=-1).mean(dim=-1)  # (B, H): averaged over the query patches


def run_with_attention(model: nn.Module, images: torch.Tensor, batch_size: int = 64):
    """One eval-mode pass without gradients, in batches, the model's train/eval mode restored after.

    images (B, C, H, W) -> (logits (B, K), attention (L, B, H, T, T)), both float32 on the CPU.
    """
    images = torch.as_tensor(images)
    model.patch_embed.check_input(images)  # a ValueError naming the fix, before any work
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    logits, attn = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                out, layers = model(images[start:start + batch_size].to(device), return_attention=True)
                logits.append(out.float().cpu())
                attn.append(torch.stack([a.float().cpu() for a in layers]))  # (L, b, H, T, T)
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(attn, dim=1)  # (B, K), (L, B, H, T, T)


__all__ += ["attention_entropy"]


def attention_entropy(attn, num_prefix_tokens: int = 1) -> torch.Tensor:
    """How spread each head's attention is: normalised entropy of the patch queries' weights over the patch keys.

    attn: one layer's weights (B, H, T, T) -> (H,), or a list of L layers -> (L, H). The [class] token is
    excluded and the weights renormalised over the N patch keys (as in mean_attention_distance); each
    query's entropy -sum(a log a) is divided by log N, so 1 is uniform attention over all patches and 0 is
    attention on a single patch; then averaged over queries and images.
    Mean attention distance alone cannot say this: sharp attention to far patches and uniform attention
    can give the same distance.
    """
    if isinstance(attn, (list, tuple)) or (isinstance(attn, (torch.Tensor, np.ndarray)) and attn.ndim == 5):
        return torch.stack([attention_entropy(a, num_prefix_tokens) for a in _check_layers(attn)])
    attn = _check_attention(attn, "attn")
    check_int(num_prefix_tokens, "num_prefix_tokens", minimum=0)
    side = _grid_side(attn.shape[-1], num_prefix_tokens)
    a = attn[:, :, num_prefix_tokens:, num_prefix_tokens:]  # (B, H, N, N): patch queries, patch keys
    a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    entropy = -(a * a.clamp_min(1e-12).log()).sum(dim=-1)  # (B, H, N): one per query
    return (entropy / math.log(side * side)).mean(dim=(0, 2)) if side > 1 else torch.zeros(attn.shape[1])


# --- the paper's few-shot linear evaluation (Section 4.1), notebook 07 ------------------------

__all__ += ["frozen_features", "few_shot_linear", "nearest_neighbour"]


def frozen_features(model: nn.Module, images: torch.Tensor, batch_size: int = 256, pool: str = "model") -> torch.Tensor:
    """The frozen representation of a ViT: (B, C, H, W) -> (B, D). pool="model": what the model's head reads
    (the [class] token after the final LayerNorm, for pool="cls"); pool="mean": the mean of the patch tokens
    after the final LayerNorm (for a model whose class token was never trained, as in masked patch prediction)."""
    if pool not in ("model", "mean"):
        raise ValueError(f"pool must be 'model' (what the head reads) or 'mean' (the patch tokens' mean), got {pool!r}")

    def features(x):
        if pool == "model":
            return model.forward_features(x)[0]
        tokens, _ = model.encode(model.patch_embed(x))  # (b, T, D)
        return tokens[:, model.cfg.num_prefix_tokens:].mean(dim=1)  # (b, D)

    model.eval()
    with torch.no_grad():
        return torch.cat([features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])  # [B, D]


def few_shot_linear(train_features, y_train, test_features, y_test, l2: float = 1.0) -> float:
    """The paper's few-shot linear evaluation (Section 4.1): regularised least squares from frozen features to
    {-1, 1}^K targets, solved in closed form (scikit-learn's RidgeClassifier), -> test accuracy."""
    from sklearn.linear_model import RidgeClassifier

    clf = RidgeClassifier(alpha=l2).fit(np.asarray(train_features), np.asarray(y_train))
    return float((clf.predict(np.asarray(test_features)) == np.asarray(y_test)).mean())


def nearest_neighbour(x_train, y_train, x_test, y_test) -> float:
    """1-nearest-neighbour on raw pixels (Euclidean), -> test accuracy: the floor any learned model should beat."""
    from sklearn.neighbors import KNeighborsClassifier

    flat = lambda x: np.asarray(x).reshape(len(x), -1)  # noqa: E731  (B, C, H, W) -> (B, C*H*W)
    return float((KNeighborsClassifier(1).fit(flat(x_train), np.asarray(y_train)).predict(flat(x_test))
                  == np.asarray(y_test)).mean())
