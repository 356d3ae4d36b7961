"""Auto-checkers for the "Your turn" exercises.

Each checker compares a student's answer with vitlib's reference and raises an
`ExerciseError` whose message says *what* is wrong (shape, order, scale, ...),
not just "wrong"; on success it prints a short confirmation and returns True.
"""

from __future__ import annotations

import torch

__all__ = ["ExerciseError", "check_close"]


class ExerciseError(AssertionError):
    """A wrong exercise answer; the message explains what differs and how to fix it."""


def check_close(name: str, got, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Raise ExerciseError unless `got` is a tensor with `expected`'s shape and values."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name}: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != expected.shape:
        raise ExerciseError(f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if not torch.allclose(got.float(), expected.float(), atol=atol, rtol=rtol):
        diff = (got.float() - expected.float()).abs().max().item()
        raise ExerciseError(f"{name}: right shape, wrong values (max difference {diff:.3g})")


# --- notebooks 00-02 (patching, class token, position embeddings) -------------------------


# --- notebooks 03-04 (attention, encoder) -------------------------------------------------
