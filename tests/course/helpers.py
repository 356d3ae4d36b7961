"""Helpers for the headless widget tests: did a figure change, what does it say, is an error shown?"""

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


def texts(fig: Figure) -> str:
    """Every title, suptitle and axis label of a figure, joined."""
    parts = [fig.get_suptitle()]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " | ".join(parts)


def shows_error(widget, words: str) -> bool:
    """True if `widget` shows a message containing `words` in place of its figure, and no traceback."""
    return (words in widget.message.value and "Traceback" not in widget.message.value
            and widget.canvas.layout.display == "none")
