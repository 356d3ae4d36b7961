"""Tests of the one widget style (vitlib.course.ui): SliderFigure redraws, shows errors, and reads well unrun."""

import base64

import ipywidgets as widgets
from matplotlib.figure import Figure

from vitlib.course.ui import FigureBox, SliderFigure, image_layer_sliders, int_slider

from helpers import shows_error  # tests/course/helpers.py

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _line_widget():
    def draw(values):
        if values["n"] == 3:
            raise ValueError("3 is not allowed here; pick 2 or 4")
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot(range(values["n"] + 1))
        return fig, f"n = {values['n']}"

    return SliderFigure({"n": int_slider("n", 1, 4, 2)}, draw)


def test_slider_figure_redraws_and_shows_errors():
    widget = _line_widget()
    first = bytes(widget.canvas.value)
    assert first.startswith(PNG_MAGIC) and widget.message.value == "n = 2"
    widget.set(n=4)
    assert bytes(widget.canvas.value) != first and widget.message.value == "n = 4"
    widget.set(n=3)
    assert shows_error(widget, "pick 2 or 4")


def test_output_carries_the_live_widget_and_a_still_picture():
    widget = _line_widget()
    assert isinstance(widget.ui, FigureBox) and isinstance(widget.ui, widgets.VBox)
    for shown in (widget.ui, widget):  # `widget.ui` and `widget` as a cell's last line give the same output
        bundle = shown._repr_mimebundle_()
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.ui.model_id
        assert base64.b64decode(bundle["image/png"]) == bytes(widget.canvas.value)  # the figure now shown
        assert "VBox" not in bundle["text/plain"] and "run the cell" in bundle["text/plain"]


def test_still_picture_follows_the_controls_and_is_left_out_on_an_error():
    widget = _line_widget()
    widget.set(n=4)
    assert base64.b64decode(widget.ui._repr_mimebundle_()["image/png"]) == bytes(widget.canvas.value)
    widget.set(n=3)  # an error hides the stale figure: no picture in the output either
    bundle = widget.ui._repr_mimebundle_()
    assert "image/png" not in bundle and "application/vnd.jupyter.widget-view+json" in bundle


def test_ipython_formatter_sees_all_three_formats():
    from IPython.core.formatters import DisplayFormatter

    data, _metadata = DisplayFormatter().format(_line_widget())
    assert {"image/png", "text/plain", "application/vnd.jupyter.widget-view+json"} <= set(data)


def test_image_layer_sliders():
    controls = image_layer_sliders(5, 12, "300px")
    assert list(controls) == ["image", "layer"]
    assert (controls["image"].min, controls["image"].max, controls["image"].value) == (0, 4, 0)
    assert (controls["layer"].min, controls["layer"].max, controls["layer"].value) == (1, 12, 1)
    assert all(c.layout.width == "300px" and not c.continuous_update for c in controls.values())
