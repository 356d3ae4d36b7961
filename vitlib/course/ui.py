"""The one widget style of the course: controls above a figure that is redrawn from their values.

    widget = SliderFigure({"layer": int_slider("layer", 1, 12, 1)}, draw)

`draw(values)` gets the controls' values as a dict and returns (Figure, message HTML); it raises
ValueError for a combination it cannot draw, and the widget shows that message instead of a
traceback (hiding the stale figure). Heavy work happens once, when a widget is built; a control
only picks among precomputed arrays and redraws. Every widget builder in the course is named
`..._widget` and returns a SliderFigure (or a subclass), so tests drive any of them the same way:
`.controls` (name -> ipywidget), `.set(**values)`, `.figure`, `.message`, `.canvas` (the PNG shown).

Before its cell runs (a notebook opened fresh in JupyterLab, on GitHub, in nbviewer) a widget cannot
render: there is no kernel to hold its state. So the container a SliderFigure displays, `.ui` (a
`FigureBox`), puts a static PNG of the figure it showed into the output next to the live widget view;
a front end with a running widget manager shows the widget, any other shows the picture. Nothing
to do in a notebook: `widget.ui` or `widget` as the cell's last line commits both.

Also here: the one widget that two notebooks share (`pos_similarity_widget`, notebooks 06 and 07).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io

import ipywidgets as widgets

from ..probes import pos_embed_similarity, pos_similarity_structure
from . import figures

__all__ = ["SliderFigure", "FigureBox", "int_slider", "image_layer_sliders", "as_model_dict", "pos_similarity_widget"]


class FigureBox(widgets.VBox):
    """A VBox whose output also carries a still picture: the PNG of `canvas` (an `ipywidgets.Image`).

    Its `_repr_mimebundle_` returns the widget view (what JupyterLab, Colab and VS Code draw when the
    cell has run) plus `image/png` and a `text/plain` line, the fallbacks for a renderer that cannot
    draw widgets: an unrun notebook in JupyterLab (its outputs are untrusted, so the widget renderer
    is skipped), GitHub, nbviewer. Without the PNG they show `VBox(children=(HBox(...`.
    """

    def __init__(self, children, canvas: widgets.Image, **kwargs):
        super().__init__(children, **kwargs)
        self._canvas = canvas

    def _repr_mimebundle_(self, **kwargs):
        parent = getattr(super(), "_repr_mimebundle_", None)
        if parent is not None:  # ipywidgets 8
            bundle = parent(**kwargs)
        else:  # ipywidgets 7 (Colab) has no such hook: the same widget view, built as its display does
            bundle = {"application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
                                                                   "model_id": self._model_id}}
        shown = self._canvas.layout.display != "none" and self._canvas.value
        if shown:
            bundle["image/png"] = base64.b64encode(self._canvas.value).decode("ascii")
            bundle["text/plain"] = "[interactive figure: run the cell to move its controls]"
        else:
            bundle["text/plain"] = "[interactive figure: run the cell to see it]"
        return bundle

    if hasattr(widgets.Widget, "_ipython_display_"):  # ipywidgets 7 displays through this hook, not the bundle
        def _ipython_display_(self, **kwargs):
            from IPython.display import display

            display(self._repr_mimebundle_(), raw=True)
            self._handle_displayed(**kwargs)


class SliderFigure:
    """Named controls above a message line and a matplotlib figure, drawn as a PNG in an `ipywidgets.Image`.

    Drawing into an Image widget (not an Output widget) works the same in JupyterLab, Colab and a
    headless test. `rows` lays the controls out (lists of names, default one row); `watch` names
    the controls whose changes redraw (default all). Attributes: `ui` (the container to display),
    `controls`, `figure` (the Figure now shown), `message` (the HTML line), `canvas`.
    """

    dpi = 72

    def __init__(self, controls: dict, draw, rows=None, watch=None):
        self.controls, self._draw, self._hold = controls, draw, False
        self.message = widgets.HTML(value="")
        self.canvas = widgets.Image(format="png")
        rows = rows or [list(controls)]
        self.ui = FigureBox([widgets.HBox([controls[name] for name in row]) for row in rows]
                            + [self.message, self.canvas], canvas=self.canvas)
        self.figure = None
        for name in watch if watch is not None else controls:
            controls[name].observe(self._changed, names="value")
        self.update()

    def _changed(self, _change=None) -> None:
        if not self._hold:
            self.update()

    def set(self, **values) -> None:
        """Set several controls at once, then redraw once."""
        with self.held():
            for name, value in values.items():
                self.controls[name].value = value
        self.update()

    @contextlib.contextmanager
    def held(self):
        """Change controls (values, ranges) inside `with widget.held():` without a redraw per change."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> None:
        """Redraw from the controls' values (or show draw's ValueError as the message)."""
        try:
            figure, message = self._draw(self.values)
        except ValueError as error:
            self.say(str(error), error=True)
            return
        self.show(figure, message)

    def show(self, figure, message: str = "") -> None:
        """Show `figure` (a matplotlib Figure) and `message` (HTML) below the controls."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self.dpi)
        self.figure = figure
        self.canvas.value = buffer.getvalue()
        self.canvas.layout.display = None
        self.message.value = message

    def say(self, text: str, error: bool = False) -> None:
        """Show plain `text` above the figure; an error also hides the (now stale) figure."""
        if error:
            self.canvas.layout.display = "none"
            self.message.value = f'<p style="color:#b00020"><b>{html.escape(text)}</b></p>'
        else:
            self.message.value = f"<p>{html.escape(text)}</p>" if text else ""

    def _repr_mimebundle_(self, **kwargs):
        """Displaying the SliderFigure displays `.ui`: the live widget, and a still PNG for renderers without
        widgets."""
        return self.ui._repr_mimebundle_(**kwargs)


def int_slider(name: str, lo: int, hi: int, value: int, width: str = "280px") -> widgets.IntSlider:
    """An integer slider that redraws when released (continuous_update=False keeps moves cheap)."""
    return widgets.IntSlider(value=value, min=lo, max=hi, description=name, continuous_update=False,
                             layout=widgets.Layout(width=width))


def image_layer_sliders(num_images: int, depth: int, width: str = "280px") -> dict:
    """The two controls every attention widget starts with: `image` (0..num_images-1) and `layer` (1..depth).

    Returns {"image": IntSlider, "layer": IntSlider}, both starting at their first value; a widget
    adds its own controls after them: `{**image_layer_sliders(len(images), cfg.depth), "head": ...}`.
    """
    return {"image": int_slider("image", 0, num_images - 1, 0, width),
            "layer": int_slider("layer", 1, depth, 1, width)}


def as_model_dict(models) -> dict:
    """A dict name -> model; a single model becomes {"model": model}."""
    if isinstance(models, dict):
        if not models:
            raise ValueError("give at least one model, e.g. {'random init': model0, 'trained': model}")
        return dict(models)
    return {"model": models}


def pos_similarity_widget(models) -> SliderFigure:
    """Figure 7 (centre): position-embedding cosine similarity of each model, as a G x G grid of tiles.

    models: a ViT or a dict name -> ViT (e.g. random init, trained, `finetune.at_resolution(trained, 48)`);
    the grids may differ. Similarities are computed once here; the `model` dropdown picks one.
    """
    models = as_model_dict(models)
    sims = {}
    for name, model in models.items():
        try:
            sims[name] = pos_embed_similarity(model)
        except ValueError as error:  # pos_embed="none": nothing to compare; say so when chosen
            sims[name] = error

    def draw(values):
        name = values["model"]
        sim = sims[name]
        if isinstance(sim, Exception):
            raise ValueError(f"{name}: {sim}")
        g = sim.shape[0]
        fig = figures.plot_pos_similarity(sim, title=f"Position embedding similarity: {name} ({g} x {g} patches)")
        kinds = pos_similarity_structure(sim) if g >= 3 else {}
        message = f"{g} x {g} grid. Mean cosine similarity of pairs of patches: " + ", ".join(
            f"{kind} {value:+.2f}" for kind, value in kinds.items()) + (
            ". The paper's 2D locality: neighbours high, far pairs low; same row and same column a little "
            "above other pairs. A model that cannot tell left from right makes left-right mirrors high.")
        return fig, message

    controls = {"model": widgets.Dropdown(options=list(models), description="E_pos of",
                                          layout=widgets.Layout(width="420px"))}
    return SliderFigure(controls, draw)
