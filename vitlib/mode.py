"""Quick or full mode, read in one place.

VITLIB_QUICK=1 (set by `make test` and CI) shrinks data, epochs and models so the
whole series runs in minutes; unset, notebooks run the full versions whose
outputs are committed.
"""

import os

__all__ = ["QUICK", "banner", "pick"]

QUICK: bool = os.environ.get("VITLIB_QUICK", "0").strip().lower() not in ("", "0", "false", "no")


def pick(quick, full):
    """`quick` in quick mode, `full` otherwise."""
    return quick if QUICK else full


def banner() -> str:
    """One line saying which mode this run is in."""
    return "vitlib: QUICK mode (VITLIB_QUICK=1): small data, few epochs" if QUICK else "vitlib: FULL mode"
