"""Matplotlib figures: pure functions that take arrays and return a `Figure`.

Nothing here computes a model; probes compute, plots draw, widgets wire sliders to both.
"""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["Figure"]


# --- notebooks 00-02 (patching, class token, position embeddings) -------------------------


# --- notebooks 03-04 (attention, encoder) -------------------------------------------------
