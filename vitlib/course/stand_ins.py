"""vitlib's own version of an exercise's function, for the cells that use it before the student has written it.

In the student edition (`make student`, tools/student_edition.py) the reference solution below a "Your
turn" cell is gone. Where later cells call the student's function, its place is taken by one line,

    split_heads = until_written(split_heads)

so that those cells still run top to bottom: while the student's function raises NotImplementedError,
each cell that calls it says so in one line and uses the stand-in below; once the student has written
it (and run its cell again), the cells use the student's own function. A wrong answer is never replaced:
its mistakes show in the cells that use it.

STAND_INS maps an exercise's function name to a stand-in with the same arguments and results;
tests/course/test_discrimination.py checks that every stand-in passes its exercise's checker.
"""

from __future__ import annotations

import functools

import torch
from einops import rearrange

from ..attention import scaled_dot_product_attention
from ..embeddings import resize_pos_embed
from ..masked import patch_targets
from ..patches import patchify
from ..probes import mean_attention_distance, pos_embed_similarity

__all__ = ["STAND_INS", "until_written"]


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, heads, T, D / heads), each head a contiguous block of channels."""
    return rearrange(x, "b t (h d) -> b h t d", h=heads)


def block_forward(z, norm1, attn, norm2, mlp):
    """The pre-norm encoder block of Eq. 2-3, as notebook 04's checker computes it."""
    from .nb04_encoder import _block_pre_norm

    return _block_pre_norm(z, norm1, attn, norm2, mlp)


def vit_forward(images, params):
    """Eq. 1-4 and the head from `vit_weights(model)` -> (z0, z_L, y, logits), as notebook 04's checker computes it."""
    from .nb04_encoder import _forward

    return _forward(images, params)


def head_distance(attn_head: torch.Tensor, patch_size: int) -> torch.Tensor:
    """One head's (T, T) weights -> its mean attention distance in pixels (vitlib.probes' convention)."""
    return mean_attention_distance(attn_head[None, None], patch_size)[0]


def my_patch_targets(images: torch.Tensor, patch_size: int, bits: int) -> torch.Tensor:
    """Each patch's mean colour as one class, (B, C, H, W) -> (B, N): vitlib.masked.patch_targets with cells=1."""
    return patch_targets(images, patch_size, bits)[..., 0]


STAND_INS = {
    "my_patchify": patchify,
    "pos_similarity": pos_embed_similarity,
    "attention": scaled_dot_product_attention,
    "split_heads": split_heads,
    "block_forward": block_forward,
    "vit_forward": vit_forward,
    "head_distance": head_distance,
    "resize_pos": resize_pos_embed,
    "my_patch_targets": my_patch_targets,
}


def _cell_number() -> int | None:
    """The running notebook cell's execution count (None outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell.execution_count if shell is not None else None


def until_written(fn):
    """`fn`, or vitlib's version of it while `fn` still raises NotImplementedError (saying so once per cell)."""
    name = getattr(fn, "__name__", "")
    if name not in STAND_INS:
        raise KeyError(f"no stand-in for {name!r}: add vitlib's version of it to STAND_INS in {__name__}")
    stand_in = STAND_INS[name]
    said_in = set()

    @functools.wraps(fn)
    def yours_or_vitlibs(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            cell = _cell_number()
            if cell not in said_in:  # once per cell (once in all outside IPython)
                said_in.add(cell)
                print(f"(`{name}` is not written yet, so this cell uses vitlib's version; write yours in its "
                      "\"Your turn\" cell and run that cell again)")
            return stand_in(*args, **kwargs)

    return yours_or_vitlibs
