"""Helpers for the headless widget tests: did a figure change?"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def pixels(fig: Figure) -> np.ndarray:
    """The figure rendered to RGBA pixels."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def changed(before: Figure, after: Figure) -> bool:
    """True if the two figures render differently."""
    a, b = pixels(before), pixels(after)
    return a.shape != b.shape or not np.array_equal(a, b)
