"""Findings a student can trust: every claim a notebook makes, checked on seeds and against a control.

A claim says that some measured quantity is above a threshold: "layer 1's heads are more local than
uniform attention" is `uniform - distance > 0`. One run proves little, so a claim is checked on the values
of several seeds (or of several random draws, for a training-free measurement):

    holds   when  mean - 2 * standard error > threshold        (a margin of at least two standard errors)

and every claim has a **control**, the same measurement where the claim should *not* hold (random filters,
an untrained table, a shuffled input). The control is checked too: if it also "holds", the measurement
cannot tell the claim from its absence, and the notebook stops.

    claims.check("06.filters", "trained filters are less even than random ones",
                 values=[...], threshold=0.0, control="random Gaussian filters", control_values=[...])

Each check prints one line (`CLAIM ...`) with the estimate, the margin in standard errors and the control's
result; with VITLIB_CLAIMS_LOG=path it also appends the claim as a JSON line to that file, which
`make claims` (tools/claims.py) collects. In quick mode the numbers are printed but not asserted, unless the
claim is marked `quick=True` (a measurement that needs no training).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from . import mode

__all__ = ["Claim", "ClaimFailed", "check", "MIN_SEEDS", "SE_MARGIN"]

MIN_SEEDS = 3  # a finding rests on at least this many seeds (or random draws)
SE_MARGIN = 2.0  # ... and clears its threshold by at least this many standard errors


class ClaimFailed(AssertionError):
    """A claim did not hold on these seeds, or its control passed too (the measurement cannot tell)."""


@dataclass
class Claim:
    """One checked claim: the statement, the evidence and the control, as `docs/claims.md` lists them."""

    id: str
    statement: str
    mean: float
    se: float
    n: int
    threshold: float
    holds: bool
    control: str | None = None
    control_mean: float | None = None
    control_se: float | None = None
    control_holds: bool | None = None
    unit: str = ""
    checked: bool = True
    seed_offset: int = 0
    precision: str = "auto"

    @property
    def margin(self) -> float:
        """How many standard errors the mean clears the threshold by (inf for identical values)."""
        gap = self.mean - self.threshold
        return gap / self.se if self.se > 0 else math.copysign(math.inf, gap)

    def line(self) -> str:
        """The one line a notebook prints."""
        unit = f" {self.unit}" if self.unit else ""
        margin = "exact" if math.isinf(self.margin) else f"{self.margin:.1f} SE"
        text = (f"CLAIM {self.id}: {self.statement}: {self.mean:.3g} ± {self.se:.2g}{unit} (mean ± SE, n={self.n}) "
                f"vs threshold {self.threshold:g}{unit}: margin {margin}, {'holds' if self.holds else 'DOES NOT HOLD'}")
        if self.control is not None:
            text += (f"; control ({self.control}): {self.control_mean:.3g} ± {self.control_se:.2g}{unit}, "
                     f"{'PASSES TOO' if self.control_holds else 'fails, as it should'}")
        if not self.checked:
            text += " [quick mode: not checked]"
        return text


def _mean_se(values) -> tuple[float, float, int]:
    """Mean, standard error of the mean (ddof=1) and count of `values`."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"a claim needs finite values, got {v.tolist()}")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return float(v.mean()), se, int(v.size)


def _clears(mean: float, se: float, threshold: float) -> bool:
    return mean - SE_MARGIN * se > threshold


def check(claim_id: str, statement: str, values, threshold: float = 0.0, *, control: str | None = None,
          control_values=None, unit: str = "", quick: bool = False, min_seeds: int = MIN_SEEDS) -> Claim:
    """Check that `values` (one per seed) clear `threshold` by SE_MARGIN standard errors, and that the control's
    values do not; print the claim's line, log it, and raise ClaimFailed if either check fails.

    quick=True: the claim needs no training, so it is asserted in quick mode too.
    min_seeds: at least this many values (1 only for a measurement of one fixed object, e.g. a bundled
    checkpoint, which has no seeds; its control must then still be a sample of several draws).
    """
    mean, se, n = _mean_se(values)
    if n < min_seeds:
        raise ValueError(f"claim {claim_id}: {n} value(s) where at least {min_seeds} seeds are needed")
    if (control is None) != (control_values is None):
        raise ValueError(f"claim {claim_id}: give both the control's name and its values, or neither")
    claim = Claim(claim_id, statement, mean, se, n, float(threshold), _clears(mean, se, threshold), unit=unit,
                  checked=quick or not mode.QUICK, seed_offset=mode.SEED, precision=mode.PRECISION)
    if control is not None:
        c_mean, c_se, _ = _mean_se(control_values)
        claim.control, claim.control_mean, claim.control_se = control, c_mean, c_se
        claim.control_holds = _clears(c_mean, c_se, threshold)
    print(claim.line())
    log = os.environ.get("VITLIB_CLAIMS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({**asdict(claim), "margin": claim.margin}, default=str) + "\n")
    if claim.checked and not claim.holds:
        raise ClaimFailed(f"claim {claim_id} does not hold on these seeds: {claim.line()}")
    if claim.checked and claim.control_holds:
        raise ClaimFailed(f"claim {claim_id}: its control passes too, so the measurement cannot tell: {claim.line()}")
    return claim
