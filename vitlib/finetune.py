"""Fine-tuning helpers (Section 3.2): new head, higher resolution, frozen parts, layer-wise lr decay.

The paper's recipe: remove the pretraining head, attach a zero-initialised D x K
layer (`ViT.reset_head`), fine-tune, often at a higher resolution than in
pretraining: keep the patch size, so the sequence grows, and resize the
pretrained position embeddings by 2D interpolation (`at_resolution`).
"""

from __future__ import annotations

import copy

from .embeddings import resize_pos_embed
from .model import ViT

__all__ = ["at_resolution", "freeze", "weight_decay_applies", "param_groups_lrd"]


def at_resolution(model: ViT, image_size: int, mode: str = "bilinear", align_corners: bool | None = True) -> ViT:
    """A copy of `model` for `image_size` x `image_size` images, E_pos resized over the patch grid.

    The patch size stays, so the grid grows from G to image_size / P. Learned
    position embeddings are interpolated (see `resize_pos_embed` for the modes);
    fixed sin-cos ones are regenerated for the new grid.
    """
    cfg = model.cfg.replace(image_size=image_size)
    new = ViT(cfg).to(next(model.parameters()).device)
    state = copy.deepcopy(model.state_dict())
    if model.cfg.pos_embed == "learned":
        state["pos_embed.pos_embed"] = resize_pos_embed(state["pos_embed.pos_embed"], cfg.grid_size,
                                                        num_prefix_tokens=cfg.num_prefix_tokens,
                                                        mode=mode, align_corners=align_corners)
    new.load_state_dict(state)
    return new


def freeze(model: ViT, trainable: str = "head") -> ViT:
    """Freeze all but a part: trainable="head" (linear probe), "all", or "last:N" (the last N blocks,
    the final norm and the head). Returns the model."""
    if trainable == "all":
        keep = lambda name: True  # noqa: E731
    elif trainable == "head":
        keep = lambda name: name.startswith("head.")  # noqa: E731
    elif isinstance(trainable, str) and trainable.startswith("last:"):
        n = trainable.split(":")[1]
        if not n.isdigit() or not 0 <= int(n) <= model.cfg.depth:
            raise ValueError(f"trainable={trainable!r}: N in 'last:N' must be a whole number from 0 to the "
                             f"depth ({model.cfg.depth}), e.g. 'last:2'")
        n = int(n)
        first = model.cfg.depth - n
        keep = lambda name: (name.startswith(("head.", "norm.")) or  # noqa: E731
                             (name.startswith("encoder.blocks.") and int(name.split(".")[2]) >= first))
    else:
        raise ValueError(f"unknown trainable part {trainable!r}; use 'head', 'all' or 'last:N'")
    for name, p in model.named_parameters():
        p.requires_grad_(keep(name))
    return model


def weight_decay_applies(name: str, param) -> bool:
    """The one weight-decay rule (`fit` and `param_groups_lrd`): AdamW's weight decay goes on weight
    matrices and conv kernels only; not on biases and norm scales (1-D), nor on the class token and
    the position embeddings (parameters named ...token and ...pos_embed, e.g. cls_token.token)."""
    return param.ndim >= 2 and name.rsplit(".", 1)[-1] not in ("token", "pos_embed")


def param_groups_lrd(model: ViT, lr: float, decay: float = 0.75, weight_decay: float = 0.05) -> list[dict]:
    """AdamW parameter groups with layer-wise learning-rate decay (BEiT, MAE).

    Layer 0 is the embeddings, layers 1..L the blocks, L+1 the final norm and head;
    layer i gets lr * decay^(L+1-i): its group's "lr", and "lr_scale" = decay^(L+1-i), the factor
    `fit(..., layer_decay=decay)` multiplies its schedule's learning rate by, every step.
    Weight decay where `weight_decay_applies`. Only parameters that require grad are included.
    """
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    depth = model.cfg.depth
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith(("head.", "norm.")):
            layer = depth + 1
        else:
            layer = 0
        no_decay = not weight_decay_applies(name, p)
        scale = decay ** (depth + 1 - layer)
        group = groups.setdefault((layer, no_decay), {
            "params": [], "lr": lr * scale, "lr_scale": scale, "weight_decay": 0.0 if no_decay else weight_decay,
            "layer": layer})
        group["params"].append(p)
    return [groups[k] for k in sorted(groups)]
