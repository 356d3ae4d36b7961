"""Controls for the claims of notebooks 05-08: the same measurement where there is nothing to find.

A probe read out of a trained model means something only if it reads differently on a model that has not
learned the thing claimed. These make those null models, as samples of several random draws:

    random_filter_shares     PCA of random Gaussian filters: not flat (the Marchenko-Pastur edge)
    random_subspace_overlap  overlap of two random k-dim subspaces: about k / d
    random_pos_table         an untrained position-embedding table (normal, std 0.02, as initialised)
    locality                 neighbour minus other similarity of a table: its 2D locality in one number
    permute_patches          one fixed shuffle of the patch grid, for every image: a task with the same
                             content that a ViT with learned E_pos solves as before, but where a CNN's
                             locality prior is wrong at every patch border
    shuffle_patches_per_image  every image's patches in its own random order: where a patch sits carries
                             no information, so position embeddings have nothing to add
    permute_within_patches   one fixed shuffle of the pixels inside every patch: a ViT's linear patch
                             embedding is blind to it, a convolution's 3 x 3 neighbourhoods become noise

Tensors in, numbers out; `vitlib.course.claims.check` compares them with the trained model's.
"""

from __future__ import annotations

import numpy as np
import torch
from einops import rearrange

from ..embeddings import resize_pos_embed
from ..probes import embedding_filter_pcs, pos_embed_similarity, pos_similarity_structure

__all__ = ["random_filter_shares", "random_subspace_overlap", "random_pos_table", "locality", "permute_patches",
           "shuffle_patches_per_image", "permute_within_patches"]


def random_filter_shares(like: torch.Tensor, draws: int = 10, seed: int = 0) -> torch.Tensor:
    """Explained-variance shares of the filter PCA of `draws` random Gaussian filter banks shaped like `like`.

    like: a patch-embedding weight (D, C, P, P). -> (draws, n) with n = min(D, P*P*C), PC 1 first.
    Random filters are the control for "trained filters have a preferred direction": even pure noise gives
    PC 1 well above 1/n, because D samples cannot estimate n directions exactly.
    """
    gen = torch.Generator().manual_seed(seed)
    d, c, p, _ = like.shape
    n = min(d, p * p * c)
    shares = [embedding_filter_pcs(torch.randn(like.shape, generator=gen), n=n, return_variance=True)[1]
              for _ in range(draws)]
    return torch.stack(shares)  # (draws, n)


def random_subspace_overlap(k: int, d: int, draws: int = 20, seed: int = 0) -> np.ndarray:
    """Overlaps ||A B^T||^2 / k of `draws` pairs of random orthonormal k-dim subspaces of R^d: (draws,), mean k/d."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(draws):
        a = torch.linalg.qr(torch.randn(d, k, generator=gen)).Q.T  # (k, d) orthonormal rows
        b = torch.linalg.qr(torch.randn(d, k, generator=gen)).Q.T
        out.append(float((a @ b.T).square().sum() / k))
    return np.array(out)


def random_pos_table(like: torch.Tensor, seed: int = 0, std: float = 0.02) -> torch.Tensor:
    """An untrained position-embedding table shaped like `like` (1, 1 + N, D): normal(0, std), as ViT starts."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(like.shape, generator=gen) * std


def locality(pos_embed: torch.Tensor, new_grid: int | None = None) -> float:
    """2D locality of a position table (1, 1 + G*G, D): mean cosine of neighbours minus that of 'other' pairs.

    new_grid: resize the table to that grid first (vitlib's bilinear 2D interpolation). Interpolation alone
    makes neighbours similar, so a claim about a resized table needs a resized random table as its control.
    """
    table = pos_embed.detach().float()
    if new_grid is not None:
        table = resize_pos_embed(table, new_grid)
    kinds = pos_similarity_structure(pos_embed_similarity(table))
    return kinds["neighbour"] - kinds["other"]


def permute_patches(images: torch.Tensor, patch_size: int, seed: int = 0) -> torch.Tensor:
    """The same fixed permutation of the patch grid applied to every image: (B, C, H, W) -> (B, C, H, W).

    The permutation depends only on `seed` and the grid, so training and test images get the same one. A ViT
    with learned 1D position embeddings is blind to it (its patches are a set with learned labels, and any
    fixed relabelling is as easy to learn), while a CNN sees broken shapes at every patch border.
    """
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not divisible by patch size {patch_size}")
    rows, cols = h // patch_size, w // patch_size
    perm = torch.randperm(rows * cols, generator=torch.Generator().manual_seed(seed))
    patches = rearrange(images, "b c (gh p) (gw q) -> b (gh gw) c p q", p=patch_size, q=patch_size)  # [B, N, C, P, P]
    return rearrange(patches[:, perm], "b (gh gw) c p q -> b c (gh p) (gw q)", gh=rows)  # [B, C, H, W]


def shuffle_patches_per_image(images: torch.Tensor, patch_size: int, seed: int = 0) -> torch.Tensor:
    """Each image's patches in a random order of its own (drawn by `seed`): (B, C, H, W) -> (B, C, H, W)."""
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not divisible by patch size {patch_size}")
    rows = h // patch_size
    patches = rearrange(images, "b c (gh p) (gw q) -> b (gh gw) c p q", p=patch_size, q=patch_size)  # [B, N, C, P, P]
    order = torch.rand(b, patches.shape[1], generator=torch.Generator().manual_seed(seed)).argsort(dim=1)  # [B, N]
    shuffled = patches[torch.arange(b)[:, None], order]  # [B, N, C, P, P], image i's patches in order[i]
    return rearrange(shuffled, "b (gh gw) c p q -> b c (gh p) (gw q)", gh=rows)


def permute_within_patches(images: torch.Tensor, patch_size: int, seed: int = 0) -> torch.Tensor:
    """One fixed permutation of the P*P pixel positions, applied inside every patch of every image:
    (B, C, H, W) -> (B, C, H, W). The patches stay where they are and keep their pixels; only the order of
    the pixels within a patch changes, which a linear map of the flattened patch (a ViT's E) can undo."""
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not divisible by patch size {patch_size}")
    perm = torch.randperm(patch_size * patch_size, generator=torch.Generator().manual_seed(seed))
    pixels = rearrange(images, "b c (gh p) (gw q) -> b c gh gw (p q)", p=patch_size, q=patch_size)  # [B, C, G, G, P*P]
    return rearrange(pixels[..., perm], "b c gh gw (p q) -> b c (gh p) (gw q)", p=patch_size)  # [B, C, H, W]
