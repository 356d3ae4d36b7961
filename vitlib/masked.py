"""Masked patch prediction: the paper's self-supervised pretraining (Section 4.6, Appendix B.1.2).

BERT hides some of a sentence's words and trains the model to fill them in. The paper does the same
with patches: it corrupts 50% of an image's patch embeddings (80% of those are replaced by a learned
[mask] embedding, 10% by the embedding of another patch, 10% kept as they are) and trains the ViT to
predict, from each corrupted patch's output token, the patch's mean colour in 3 bits per channel
(8 x 8 x 8 = 512 classes for RGB). No label is read: the images are the only input.

    model = MaskedPatchPrediction(ViT(cfg))                 # a ViT plus a [mask] embedding and a predictor
    history = train_masked(model, images, heldout_images)   # images (B, C, H, W) in [0, 1]
    backbone = model.vit                                    # fine-tune it or probe it like any ViT

    python -m vitlib.pretrain --objective masked --name masked-vit   # the bundled self-supervised ViT

The pieces, each a function you can call on its own:
    choose_corrupted(B, N, rate)        which patches are corrupted: (B, N) bool, round(rate * N) per image
    corrupt(tokens, mask, corrupted)    the 80/10/10 replacement of the chosen patch tokens
    patch_targets(images, P, bits)      what to predict: each patch's quantised mean colour (B, N, S)
The paper also tried predicting a downsized patch (a 4 x 4 grid of 3-bit colours per 16 x 16 patch):
`cells=2` predicts a 2 x 2 grid of each patch's colours (S = 4 predictions per patch); and regressing the
whole patch with a squared error: `target="pixels"` (the P * P * C pixel values, as MAE later did).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from . import checkpoints
from .augment import augment
from .batches import global_batches
from .finetune import weight_decay_applies
from .model import ViT
from .patches import PatchEmbed, patchify
from .precision import autocast, autocast_dtype, pick_device
from .train import History, lr_at

__all__ = ["REPLACEMENT", "TARGETS", "choose_corrupted", "corrupt", "patch_targets", "MaskedPatchPrediction",
           "masked_accuracy", "train_masked"]

REPLACEMENT = (0.8, 0.1, 0.1)  # of the corrupted patches: [mask] embedding, another patch's embedding, kept
TARGETS = ("colours", "pixels")  # classify quantised colours (the paper's choice), or regress the pixels
KEPT, MASKED, SWAPPED, UNCHANGED = 0, 1, 2, 3  # what `corrupt` did to each patch ("kept" = chosen, left as is)


def choose_corrupted(batch: int, num_patches: int, rate: float, generator: torch.Generator | None = None):
    """-> (B, N) bool: exactly round(rate * N) patches of every image, chosen at random."""
    if not 0 < rate <= 1:
        raise ValueError(f"the mask rate must be in (0, 1] (the paper corrupts 0.5 of the patches), got {rate}")
    count = round(rate * num_patches)
    ranks = torch.rand(batch, num_patches, generator=generator).argsort(dim=1).argsort(dim=1)  # (B, N)
    return ranks < count  # each image's `count` patches with the smallest random scores


def corrupt(tokens: torch.Tensor, mask_embedding: torch.Tensor, corrupted: torch.Tensor,
            generator: torch.Generator | None = None, replacement=REPLACEMENT):
    """Corrupt the chosen patch tokens as BERT corrupts words.

    tokens (B, N, D), mask_embedding (D,), corrupted (B, N) bool -> (tokens (B, N, D), how (B, N) long):
    of the corrupted patches a share replacement[0] become the [mask] embedding, replacement[1] the
    embedding of another patch (any patch of any image in the batch) and replacement[2] stay as they were;
    how says which: UNCHANGED (not chosen), MASKED, SWAPPED or KEPT.
    """
    if len(replacement) != 3 or min(replacement) < 0 or abs(sum(replacement) - 1) > 1e-6:
        raise ValueError(f"replacement must be three shares ([mask], another patch, kept) summing to 1, "
                         f"got {replacement}")
    b, n, d = tokens.shape
    if corrupted.shape != (b, n):
        raise ValueError(f"corrupted must be (B, N) = {(b, n)} like the tokens, got {tuple(corrupted.shape)}")
    draw = torch.rand(b, n, generator=generator).to(tokens.device)  # which replacement, per patch
    donor = torch.randint(0, b * n, (b, n), generator=generator).to(tokens.device)  # whose embedding a swap takes
    corrupted = corrupted.to(tokens.device)
    to_mask = corrupted & (draw < replacement[0])
    to_swap = corrupted & (draw >= replacement[0]) & (draw < replacement[0] + replacement[1])
    others = rearrange(tokens, "b n d -> (b n) d")[donor]  # (B, N, D): another patch's token for every place
    out = torch.where(to_mask[..., None], mask_embedding.to(tokens.dtype).expand(b, n, d), tokens)
    out = torch.where(to_swap[..., None], others, out)
    how = torch.full((b, n), UNCHANGED, dtype=torch.long, device=tokens.device)
    how[corrupted] = KEPT
    how[to_mask], how[to_swap] = MASKED, SWAPPED
    return out, how


def patch_targets(images: torch.Tensor, patch_size: int, bits: int = 3, cells: int = 1) -> torch.Tensor:
    """What the model predicts: images (B, C, H, W) in [0, 1] -> (B, N, S) class indices, S = cells ** 2.

    Each patch is cut into a cells x cells grid (cells=1: the whole patch); each cell's mean colour is
    quantised to 2**bits levels per channel and the channels' levels combined into one of 2**(bits * C)
    colours: 512 for RGB at 3 bits (the paper), 8 for grey images. Patches run in the order of
    `patchify` (row by row).
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if patch_size % cells:
        raise ValueError(f"cells={cells} must divide the patch size {patch_size} (each cell is a square of pixels)")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"colour targets need pixel values in [0, 1], got {images.min():.3g} to {images.max():.3g}; "
                         "undo any normalisation before computing them")
    levels = 2**bits
    q = patch_size // cells  # pixels per cell side
    means = reduce(images.float(), "b c (h s1 q1) (w s2 q2) -> b (h w) (s1 s2) c", "mean",
                   s1=cells, s2=cells, q1=q, q2=q)  # (B, N, S, C)
    quantised = (means * levels).floor().clamp(max=levels - 1).long()  # (B, N, S, C), 0 .. levels - 1
    place = levels ** torch.arange(images.shape[1], device=images.device)  # (C,): channel c counts levels**c
    return (quantised * place).sum(dim=-1)  # (B, N, S)


class MaskedPatchPrediction(nn.Module):
    """A ViT with what masked patch prediction adds: a learned [mask] embedding and a linear predictor
    of each patch's colours from its output token. `vit` is trained in place; the rest is dropped after."""

    def __init__(self, vit: ViT, mask_rate: float = 0.5, bits: int = 3, cells: int = 1,
                 replacement=REPLACEMENT, target: str = "colours"):
        super().__init__()
        if not isinstance(vit.patch_embed, PatchEmbed):
            raise ValueError("masked patch prediction needs a ViT whose tokens are patches (PatchEmbed); "
                             "a hybrid's tokens are CNN features, which have no patch colour to predict")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        choose_corrupted(1, 1, mask_rate)  # checks the rate
        self.vit, self.mask_rate, self.bits, self.cells, self.replacement = vit, mask_rate, bits, cells, replacement
        self.target = target
        self.mask_embedding = nn.Parameter(torch.zeros(vit.cfg.dim))  # the [mask] embedding (D,)
        nn.init.trunc_normal_(self.mask_embedding, std=0.02)
        p, c = vit.cfg.patch_size, vit.cfg.in_channels
        self.colours = 2 ** (bits * c)  # V, the classes of one prediction ("colours")
        outputs = p * p * c if target == "pixels" else cells**2 * self.colours  # P*P*C values, or S * V logits
        self.predictor = nn.Linear(vit.cfg.dim, outputs)

    def head_state(self) -> dict:
        """What the ViT does not hold, as plain values for a checkpoint's metadata: the settings, the [mask]
        embedding and the predictor. `from_head_state` rebuilds the model from the ViT and this."""
        return dict(mask_rate=self.mask_rate, bits=self.bits, cells=self.cells, target=self.target,
                    replacement=list(self.replacement), mask_embedding=self.mask_embedding.tolist(),
                    predictor_weight=self.predictor.weight.tolist(), predictor_bias=self.predictor.bias.tolist())

    @classmethod
    def from_head_state(cls, vit: ViT, state: dict) -> "MaskedPatchPrediction":
        """The model `head_state` described, around `vit` (e.g. checkpoints.pretrained("masked-vit"))."""
        model = cls(vit, mask_rate=state["mask_rate"], bits=state["bits"], cells=state["cells"],
                    replacement=tuple(state["replacement"]), target=state["target"])
        with torch.no_grad():
            model.mask_embedding.copy_(torch.tensor(state["mask_embedding"]))
            model.predictor.weight.copy_(torch.tensor(state["predictor_weight"]))
            model.predictor.bias.copy_(torch.tensor(state["predictor_bias"]))
        return model.eval()

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None):
        """images (B, C, H, W) in [0, 1] -> (logits (B, N, S, V), targets (B, N, S), how (B, N));
        target="pixels": (predicted pixels (B, N, P*P*C), the pixels (B, N, P*P*C), how (B, N))."""
        tokens = self.vit.patch_embed(images)  # (B, N, D)
        chosen = choose_corrupted(tokens.shape[0], tokens.shape[1], self.mask_rate, generator)
        tokens, how = corrupt(tokens, self.mask_embedding, chosen, generator, self.replacement)
        out, _ = self.vit.encode(tokens)  # (B, T, D)
        patch_out = out[:, self.vit.cfg.num_prefix_tokens:]  # (B, N, D): the class token predicts nothing
        if self.target == "pixels":
            return self.predictor(patch_out), patchify(images, self.vit.cfg.patch_size), how  # (B, N, P*P*C) x 2
        logits = rearrange(self.predictor(patch_out), "b n (s v) -> b n s v", s=self.cells**2)  # (B, N, S, V)
        return logits, patch_targets(images, self.vit.cfg.patch_size, self.bits, self.cells), how

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, how: torch.Tensor) -> torch.Tensor:
        """Over the corrupted patches only (the others are visible: nothing to predict): cross-entropy, or
        for target="pixels" the mean squared error."""
        corrupted = how != UNCHANGED  # (B, N)
        if self.target == "pixels":
            return F.mse_loss(logits[corrupted].float(), targets[corrupted].float())
        return F.cross_entropy(logits[corrupted].flatten(0, 1).float(), targets[corrupted].flatten())

    def score(self, logits: torch.Tensor, targets: torch.Tensor, how: torch.Tensor) -> tuple[float, int]:
        """-> (the summed score of the corrupted patches, how many predictions it sums): colours predicted
        exactly; for target="pixels" the squared error (lower is better)."""
        corrupted = how != UNCHANGED
        if self.target == "pixels":
            return (logits[corrupted].float() - targets[corrupted]).pow(2).sum().item(), targets[corrupted].numel()
        return (logits[corrupted].argmax(-1) == targets[corrupted]).sum().item(), targets[corrupted].numel()


@torch.no_grad()
def masked_accuracy(model: MaskedPatchPrediction, images: torch.Tensor, seed: int = 0, batch_size: int = 256,
                    precision: str = "fp32") -> float:
    """The share of the corrupted patches' colours predicted exactly (target="pixels": their mean squared
    error) on `images` (B, C, H, W), with the corruption drawn from `seed` (the same patches every call)."""
    model.eval()
    device = next(model.parameters()).device
    dtype = autocast_dtype(device, precision)
    generator = torch.Generator().manual_seed(seed)
    right = total = 0
    for start in range(0, len(images), batch_size):
        with autocast(device, dtype):
            logits, targets, how = model(images[start:start + batch_size].to(device), generator)
        score, count = model.score(logits, targets, how)
        right, total = right + score, total + count
    return right / total


def train_masked(model: MaskedPatchPrediction, images: torch.Tensor, heldout: torch.Tensor | None = None,
                 epochs: int = 14, lr: float = 2e-3, batch_size: int = 256, weight_decay: float = 0.05,
                 warmup_epochs: float = 1, shift: int = 2, grad_clip: float | None = 1.0, seed: int = 0,
                 precision: str = "auto", device=None, checkpoint_dir=None, progress: bool = True) -> History:
    """Pretrain with masked patch prediction: AdamW, linear warmup and cosine decay (`lr_at`), random
    shifts of up to `shift` pixels; the corruption is drawn anew for every batch. Images only, no labels.

    -> History: train_loss (cross-entropy on the corrupted patches), train_acc and test_acc (the share of
    corrupted patches' colours predicted exactly; test_acc on `heldout`, the same patches every epoch).
    With checkpoint_dir, the whole model (ViT, [mask] embedding, predictor) is written to last.pt after
    every epoch, atomically, so an interrupted run keeps its last finished epoch (read it back with
    `checkpoints.read_checkpoint`).
    """
    device = pick_device(device)
    model.to(device)
    dtype = autocast_dtype(device, precision)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    decay = [p for name, p in model.named_parameters() if weight_decay_applies(name, p)]
    rest = [p for name, p in model.named_parameters() if not weight_decay_applies(name, p)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=lr)
    steps_per_epoch = -(-len(images) // batch_size)
    total, warmup = epochs * steps_per_epoch, round(warmup_epochs * steps_per_epoch)
    history, step = History(), 0
    for epoch in range(1, epochs + 1):
        start, loss_sum, right, seen = time.perf_counter(), 0.0, 0, 0
        model.train()
        for index in global_batches(len(images), batch_size, generator):
            x = augment(images[index], shift=shift, generator=generator).to(device)  # (b, C, H, W)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, lr, warmup)
            with autocast(device, dtype):
                logits, targets, how = model(x, generator)
                loss = model.loss(logits, targets, how)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            score, n = model.score(logits.detach(), targets, how)
            loss_sum, right, seen, step = loss_sum + loss.item() * n, right + score, seen + n, step + 1
        history.train_loss.append(loss_sum / seen)
        history.train_acc.append(right / seen)
        history.test_acc.append(masked_accuracy(model, heldout, precision=precision) if heldout is not None
                                else float("nan"))
        history.test_loss.append(float("nan"))
        history.lr.append(lr_at(step - 1, total, lr, warmup))
        history.seconds.append(time.perf_counter() - start)
        if progress:
            print(f"epoch {epoch}/{epochs}: loss {history.train_loss[-1]:.3f}, corrupted patches right "
                  f"{history.train_acc[-1]:.3f} (held out {history.test_acc[-1]:.3f}), {history.seconds[-1]:.0f} s")
        if checkpoint_dir is not None:
            checkpoints.save(model, Path(checkpoint_dir) / "last.pt", history=history.to_dict(), epoch=epoch)
    model.eval()
    return history
