"""ipywidgets UIs built on `vitlib.plots`.

Heavy work happens once when a widget is built; a slider move only indexes
precomputed arrays and redraws. Each builder returns an object with the
`ipywidgets` container (`.ui`) and a `.figure` attribute so tests can drive the
sliders headless and check that the figure changed. Invalid values show a
message in the UI instead of a traceback.
"""

from __future__ import annotations

__all__: list[str] = []


# --- notebooks 00-02 (patching, class token, position embeddings) -------------------------


# --- notebooks 03-04 (attention, encoder) -------------------------------------------------
