"""The three switches every notebook honours, read from the environment in one place.

    VITLIB_QUICK=1        quick mode (set by `make test` and CI): small data, few epochs, claims not checked
    VITLIB_SEED=1000      an integer added to every seed a notebook uses (default 0): a finding must hold for
                          other seeds, not only for the committed run's
    VITLIB_PRECISION=fp32 the precision of every training run in a notebook: auto (default; bf16 or fp16
                          where the hardware computes it natively), fp32, bf16 or fp16

Each notebook prints `banner()` in its setup cell, so its output says which mode, seeds and precision
produced it. Only the notebooks read these; the library itself takes seeds and precisions as arguments.
"""

from __future__ import annotations

import os

from ..precision import PRECISIONS, autocast_dtype, pick_device

__all__ = ["QUICK", "SEED", "PRECISION", "pick", "seeds", "banner", "read_seed", "read_precision"]


def read_quick(environ=os.environ) -> bool:
    """VITLIB_QUICK as a bool: anything but '', '0', 'false' or 'no' means quick."""
    return environ.get("VITLIB_QUICK", "0").strip().lower() not in ("", "0", "false", "no")


def read_seed(environ=os.environ) -> int:
    """VITLIB_SEED as an int (default 0); a clear error for anything else."""
    raw = environ.get("VITLIB_SEED", "0").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"VITLIB_SEED must be an integer seed offset such as 1000, got {raw!r}") from None


def read_precision(environ=os.environ) -> str:
    """VITLIB_PRECISION, one of vitlib.precision.PRECISIONS (default 'auto'); a clear error for anything else."""
    raw = environ.get("VITLIB_PRECISION", "auto").strip().lower() or "auto"
    if raw not in PRECISIONS:
        raise ValueError(f"VITLIB_PRECISION must be one of {', '.join(PRECISIONS)}, got {raw!r}; "
                         "fp32 gives the committed (exactly comparable) runs")
    return raw


QUICK: bool = read_quick()
SEED: int = read_seed()
PRECISION: str = read_precision()


def pick(quick, full):
    """`quick` in quick mode, `full` otherwise."""
    return quick if QUICK else full


def seeds(*base: int) -> tuple[int, ...]:
    """The notebook's seeds shifted by VITLIB_SEED: seeds(0, 1, 2) is (1000, 1001, 1002) with VITLIB_SEED=1000."""
    return tuple(SEED + s for s in base)


def banner() -> str:
    """One line saying which mode, seed offset and precision this run uses (and what 'auto' became here)."""
    mode = "QUICK mode (VITLIB_QUICK=1): small data, few epochs" if QUICK else "FULL mode"
    dtype = autocast_dtype(pick_device(), PRECISION)
    computed = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    return f"vitlib: {mode}; seed offset {SEED} (VITLIB_SEED); precision {PRECISION} -> {computed} (VITLIB_PRECISION)"
