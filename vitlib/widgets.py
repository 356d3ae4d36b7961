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

import html  # noqa: E402
import io  # noqa: E402

import ipywidgets as widgets  # noqa: E402
import torch  # noqa: E402

from . import plots  # noqa: E402
from .patches import check_patch_size  # noqa: E402

__all__ += ["PlotWidget", "patch_explorer", "pos_embed_explorer", "prediction_explorer"]


class PlotWidget:
    """Controls above a message line and a matplotlib figure, drawn as a PNG in an `ipywidgets.Image`.

    Drawing into an Image widget (not an Output widget) works the same in JupyterLab, Colab and a
    headless test. Subclasses call `_show(figure)` after each change, or `_say(text, error=True)`.
    `.ui` is the container to display, `.figure` the matplotlib Figure now shown, `.message` the HTML line.
    """

    dpi = 72

    def __init__(self, controls: list):
        self.message = widgets.HTML(value="")
        self.canvas = widgets.Image(format="png")
        self.ui = widgets.VBox([widgets.HBox(controls), self.message, self.canvas])
        self.figure = None

    def _show(self, figure, note: str = "") -> None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=self.dpi)
        self.figure = figure
        self.canvas.value = buffer.getvalue()
        self.canvas.layout.display = None
        self._say(note)

    def _say(self, text: str, error: bool = False) -> None:
        """Show `text` above the figure; an error also hides the (now stale) figure."""
        if error:
            self.canvas.layout.display = "none"
            self.message.value = f'<p style="color:#b00020"><b>{html.escape(text)}</b></p>'
        else:
            self.message.value = f"<p>{html.escape(text)}</p>" if text else ""

    def _ipython_display_(self):
        from IPython.display import display

        display(self.ui)


class PatchExplorer(PlotWidget):
    """Notebook 01: a patch-size slider over one image; shows the grid, N = HW/P^2 and the patch sequence."""

    def __init__(self, image, patch_size: int = 16, min_size: int = 2, max_size: int = 64):
        self.image = plots.as_hwc(image)  # (H, W, C), converted once
        h, w, _ = self.image.shape
        self.valid = [p for p in range(min_size, max_size + 1) if h % p == 0 and w % p == 0]
        self.slider = widgets.IntSlider(value=patch_size, min=min_size, max=max_size, description="patch size P",
                                        continuous_update=False, style={"description_width": "initial"})
        super().__init__([self.slider])
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        self.update(patch_size)

    def update(self, patch_size: int) -> None:
        h, w, c = self.image.shape
        try:
            check_patch_size(h, patch_size)
            check_patch_size(w, patch_size)
        except ValueError as error:
            self._say(f"{error}. The patches would not tile the image. Patch sizes that do: "
                      f"{', '.join(map(str, self.valid))}.", error=True)
            return
        n = (h // patch_size) * (w // patch_size)
        self._show(plots.plot_patching(self.image, patch_size),
                   note=f"N = HW/P² = {h}·{w}/{patch_size}² = {n} patches, each a vector of "
                        f"P²C = {patch_size}²·{c} = {patch_size * patch_size * c} numbers.")


def patch_explorer(image, patch_size: int = 16, min_size: int = 2, max_size: int = 64) -> PatchExplorer:
    """Slider over the patch size P for `image` ((C, H, W) or (H, W, C), values in [0, 1])."""
    return PatchExplorer(image, patch_size, min_size, max_size)


POS_EMBED_CHOICES = (("learned (at random init)", "learned"), ("fixed 2D sin-cos", "sincos2d"), ("none", "none"))


class PosEmbedExplorer(PlotWidget):
    """Notebook 02: Figure 7 (centre) for each kind of position embedding and grid size G.

    All similarities are computed when the widget is built; the dropdown and slider only pick one.
    """

    def __init__(self, dim: int = 64, grid_size: int = 7, min_grid: int = 2, max_grid: int = 14, seed: int = 0):
        from .embeddings import PositionEmbedding
        from .probes import pos_embed_similarity

        self.dim = dim
        self.similarity = {}  # (kind, G) -> (G, G, G, G)
        for g in range(min_grid, max_grid + 1):
            for kind in ("learned", "sincos2d"):
                with torch.random.fork_rng():  # the same random init every time, global RNG untouched
                    torch.manual_seed(seed)
                    table = PositionEmbedding(g * g, dim, kind=kind).pos_embed  # (1, 1+G*G, D)
                self.similarity[kind, g] = pos_embed_similarity(table, num_prefix_tokens=1)
        self.kind = widgets.Dropdown(options=POS_EMBED_CHOICES, value="sincos2d", description="E_pos")
        self.grid = widgets.IntSlider(value=grid_size, min=min_grid, max=max_grid, description="grid G",
                                      continuous_update=False)
        super().__init__([self.kind, self.grid])
        self.kind.observe(lambda change: self.update(), names="value")
        self.grid.observe(lambda change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        kind, g = self.kind.value, self.grid.value
        if kind == "none":
            self._say("pos_embed='none': no position embeddings are added, so there is nothing to compare. "
                      "The encoder then sees only what is in each patch, not where it is: shuffling the "
                      "patches does not change the [class] token's output.", error=True)
            return
        label = dict((v, k) for k, v in POS_EMBED_CHOICES)[kind]
        title = f"Position embedding similarity\n{label}, {g} x {g} patches, D = {self.dim}"
        self._show(plots.plot_pos_similarity(self.similarity[kind, g], title=title))


def pos_embed_explorer(dim: int = 64, grid_size: int = 7, min_grid: int = 2, max_grid: int = 14,
                       seed: int = 0) -> PosEmbedExplorer:
    """Dropdown over the kind of E_pos (learned at init, sincos2d, none) and a slider over the grid size G."""
    return PosEmbedExplorer(dim, grid_size, min_grid, max_grid, seed)


class PredictionExplorer(PlotWidget):
    """Notebook 00: step through classified test images with their attention maps (all precomputed)."""

    def __init__(self, images, labels, probs, attention, class_names=None,
                 attention_title: str = "class-token attention"):
        n = len(labels)
        if not (len(images) == len(probs) == len(attention) == n) or n == 0:
            raise ValueError(f"need as many images ({len(images)}), labels ({n}), probabilities ({len(probs)}) "
                             f"and attention maps ({len(attention)}), at least one")
        self.images, self.labels = images, [int(y) for y in labels]
        self.probs, self.attention = probs, attention
        self.class_names, self.attention_title = class_names, attention_title
        self.mistakes = [i for i in range(n) if int(torch.as_tensor(probs[i]).argmax()) != self.labels[i]]
        self.shown = list(range(n))  # the images the slider steps through
        self.index = widgets.IntSlider(value=0, min=0, max=n - 1, description="test image",
                                       continuous_update=False)
        self.only_mistakes = widgets.Checkbox(value=False, description="only mistakes")
        super().__init__([self.index, self.only_mistakes])
        self.index.observe(lambda change: self.update(), names="value")
        self.only_mistakes.observe(lambda change: self._choose(), names="value")
        self.update()

    def _choose(self) -> None:
        """Step through all images, or only the misclassified ones."""
        shown = self.mistakes if self.only_mistakes.value else list(range(len(self.labels)))
        if not shown:
            self._say("no mistakes: every test image here is classified correctly.", error=True)
            return
        self.shown = shown
        with self.index.hold_trait_notifications():
            self.index.value = 0
            self.index.max = len(shown) - 1
        self.update()

    def update(self) -> None:
        i = self.shown[min(self.index.value, len(self.shown) - 1)]
        fig = plots.plot_prediction(self.images[i], self.attention[i], self.probs[i], label=self.labels[i],
                                    class_names=self.class_names, attention_title=self.attention_title)
        note = f"test image {i}"
        if self.only_mistakes.value:
            note += f" (mistake {self.index.value + 1} of {len(self.mistakes)})"
        self._show(fig, note=note)


def prediction_explorer(images, labels, probs, attention, class_names=None,
                        attention_title: str = "class-token attention") -> PredictionExplorer:
    """Slider over precomputed predictions: images (B, C, H, W), labels (B,), probs (B, K), attention (B, G, G)."""
    return PredictionExplorer(images, labels, probs, attention, class_names, attention_title)


# --- notebooks 03-04 (attention, encoder) -------------------------------------------------

import ipywidgets as _w  # noqa: E402

import numpy as _np  # noqa: E402
import torch as _torch  # noqa: E402

from . import plots as _plots  # noqa: E402

__all__ += ["SliderFigure", "softmax_scale_widget", "attention_head_widget", "vit_cost_widget"]


def _int_slider(name: str, lo: int, hi: int, value: int, width: str = "280px"):
    """An integer slider that redraws when released (continuous_update=False keeps moves cheap)."""
    return _w.IntSlider(value=value, min=lo, max=hi, description=name, continuous_update=False,
                        layout=_w.Layout(width=width))


class SliderFigure(PlotWidget):
    """A PlotWidget driven by a dict of named controls and one `draw` function.

    `draw(values)` gets the controls' values as a dict and returns (Figure, message HTML); a
    ValueError it raises is shown as the message instead of a traceback (and the stale figure is
    hidden). Attributes: `ui`, `figure`, `message` (as PlotWidget), `controls` (name -> widget).
    `rows` lays the controls out (lists of names); `watch` names the controls that redraw (default all).
    """

    def __init__(self, controls: dict, draw, rows=None, watch=None):
        rows = rows or [list(controls)]
        super().__init__([controls[name] for name in rows[0]])
        self.controls, self._draw, self._hold = controls, draw, False
        self.ui.children = tuple(_w.HBox([controls[name] for name in row]) for row in rows) + (self.message, self.canvas)
        for name in watch if watch is not None else controls:
            controls[name].observe(self._changed, names="value")
        self.update()

    def _changed(self, _change=None):
        if not self._hold:
            self.update()

    def set(self, **values) -> None:
        """Set several controls at once, then redraw once."""
        self._hold = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._hold = False
        self.update()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> None:
        try:
            figure, message = self._draw(self.values)
        except ValueError as error:
            self._say(str(error), error=True)
            return
        self._show(figure)
        self.message.value = message


def _entropy_bits(p: _torch.Tensor) -> _torch.Tensor:
    """Entropy in bits of each row of p (..., T)."""
    return -(p * p.clamp_min(1e-30).log2()).sum(-1)


def softmax_scale_widget(d: int = 64, tokens: int = 16, seed: int = 0) -> SliderFigure:
    """Notebook 03: how the scale s in softmax(s q k^T) makes attention spread out or saturate.

    q and k are (tokens, d) with independent N(0, 1) entries, so q.k has variance d. Controls:
    `d` (head size, any integer from 2 to 4096), `exponent` a with s = d^(-a): a = 0 is no
    scaling, a = 0.5 is the paper's 1/sqrt(d), a = 1 is 1/d.
    """
    cache = {}

    def curves(dim: int):
        if dim not in cache:
            gen = _torch.Generator().manual_seed(seed)
            q, k = _torch.randn(tokens, dim, generator=gen), _torch.randn(tokens, dim, generator=gen)
            scores = (q @ k.T).double()  # (T, T), entries of variance d
            exponents = _torch.linspace(0.0, 1.0, 81, dtype=_torch.float64)
            weights = (dim ** -exponents[:, None, None] * scores).softmax(-1)  # (S, T, T)
            cache[dim] = (scores, exponents, _entropy_bits(weights).mean(-1), weights.amax(-1).mean(-1))
        return cache[dim]

    def draw(values):
        dim, a = values["d"], float(values["exponent"])
        if not 2 <= dim <= 4096:  # at d = 1 every d^-a is 1, and there is nothing to see
            raise ValueError(f"head size d = {dim} is out of range; use 2 <= d <= 4096 (ViT-B has d = 64)")
        scores, exponents, entropy, max_weight = curves(dim)
        s = dim**-a
        weights = (s * scores).softmax(-1)
        scales = dim ** -exponents.numpy()
        fig = _plots.plot_softmax_scale(weights[0].numpy(), scales, entropy.numpy(), max_weight.numpy(), s, dim)
        std = (s * scores).std().item()
        message = (f"s = d<sup>-{a:.2f}</sup> = {s:.4g}: the scaled scores have std {std:.2f} "
                   f"(unscaled: {scores.std().item():.2f} &asymp; sqrt(d) = {dim**0.5:.2f}); rows have mean entropy "
                   f"{_entropy_bits(weights).mean().item():.2f} of {_np.log2(tokens):.2f} bits, mean largest "
                   f"weight {weights.amax(-1).mean().item():.2f}.")
        return fig, message

    controls = {
        "d": _w.IntText(value=d, description="head size d", style={"description_width": "initial"},
                        layout=_w.Layout(width="170px")),
        "exponent": _w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="s = d^-a, a",
                                   continuous_update=False, readout_format=".2f",
                                   style={"description_width": "initial"}, layout=_w.Layout(width="420px")),
    }
    return SliderFigure(controls, draw)


def attention_head_widget(model, images, labels=None, class_names=None) -> SliderFigure:
    """Notebook 03: pick a query patch and see where each head of a trained ViT attends.

    model:  a vitlib ViT; images (B, C, H, W) matching it; labels (B,) optional.
    The model runs once here, with return_attention=True; the controls (`image`, `layer`
    (1..L), `row`, `col`, `cls_query`, `shared_scale`) only pick rows of the stored (L, B, heads, T, T)
    weights and redraw.
    """
    cfg = model.cfg
    images = _torch.as_tensor(images)
    model.patch_embed.check_input(images)  # ValueError naming the fix, at build time
    was_training = model.training
    model.eval()
    with _torch.no_grad():
        logits, attentions = model(images, return_attention=True)
    model.train(was_training)
    attn = _torch.stack(attentions).numpy()  # (L, B, heads, T, T)
    preds = logits.argmax(-1).tolist()
    g, p = cfg.grid_size, cfg.patch_size
    names = class_names or [str(i) for i in range(max(cfg.num_classes, 1))]

    def draw(values):
        b, layer, r, c, cls_query = values["image"], values["layer"], values["row"], values["col"], values["cls_query"]
        if not (0 <= b < len(images) and 1 <= layer <= cfg.depth and 0 <= r < g and 0 <= c < g):
            raise ValueError(f"image must be in 0..{len(images) - 1}, layer in 1..{cfg.depth}, "
                             f"row and col in 0..{g - 1}")
        query = 0 if cls_query else 1 + r * g + c  # token index: the class token is token 0
        rows = attn[layer - 1, b, :, query, :]  # (heads, T): this query's weights over all keys
        maps = rows[:, 1:].reshape(-1, g, g)  # over the patch keys, on the patch grid
        who = "the [class] token" if cls_query else f"patch (row {r}, col {c}) = token {query}"
        truth = f"label {names[int(labels[b])]}, " if labels is not None else ""
        title = f"image {b} ({truth}predicted {names[preds[b]]}): layer {layer}, query = {who}"
        fig = _plots.plot_head_attention(images[b], maps, p, query=None if cls_query else (r, c),
                                         cls_weights=rows[:, 0], shared_scale=values["shared_scale"], title=title)
        message = (f"Query {who}. Each panel is one head's attention row: {g * g} patch weights plus "
                   f"the [class] key; together they sum to 1. Averaged over heads, the [class] key gets "
                   f"{rows[:, 0].mean():.0%}.")
        return fig, message

    controls = {
        "image": _int_slider("image", 0, len(images) - 1, 0, "260px"),
        "layer": _int_slider("layer", 1, cfg.depth, 1, "260px"),
        "row": _int_slider("query row", 0, g - 1, g // 2, "260px"),
        "col": _int_slider("query col", 0, g - 1, g // 2, "260px"),
        "cls_query": _w.Checkbox(value=False, description="query = [class] token", indent=False),
        "shared_scale": _w.Checkbox(value=False, description="one colour scale for all heads", indent=False),
    }
    return SliderFigure(controls, draw, rows=[["image", "layer", "shared_scale"], ["row", "col", "cls_query"]])


def _cost_parts(cfg):
    """(T, params, FLOPs in the T x T matmuls, all forward FLOPs, attention memory) of one image."""
    from .cost import attention_memory_bytes, count_params, forward_flops

    t = cfg.num_patches + 1
    attention_matmuls = cfg.depth * 2 * (2 * t * t * cfg.dim)  # q k^T and A v, over all heads
    return t, count_params(cfg), attention_matmuls, forward_flops(cfg), attention_memory_bytes(cfg)


def vit_cost_widget(image_size: int = 224, patch_size: int = 16, dim: int = 768, depth: int = 12,
                    heads: int = 12, mlp_ratio: float = 4.0, in_channels: int = 3,
                    num_classes: int = 1000) -> SliderFigure:
    """Notebook 04: what a ViT's hyperparameters cost: sequence length, parameters, FLOPs, attention memory.

    Controls: `preset` (Table 1 variants, or custom), `image_size`, `patch_size`, `dim`, `depth`,
    `heads`, `mlp_ratio` (mlp_dim = round(mlp_ratio * dim)). An invalid combination (dim not divisible
    by heads, image size not divisible by patch size, ...) shows ViTConfig's message instead of a figure.
    Counts come from vitlib.cost, analytically, so even ViT-H costs nothing to show.
    """
    from .model import PRESETS, ViTConfig

    def config(values):
        mlp_dim = int(round(values["mlp_ratio"] * values["dim"]))
        return ViTConfig(image_size=values["image_size"], patch_size=values["patch_size"], in_channels=in_channels,
                         num_classes=num_classes, dim=values["dim"], depth=values["depth"],
                         heads=values["heads"], mlp_dim=mlp_dim)

    def draw(values):
        if values["mlp_ratio"] <= 0:
            raise ValueError(f"MLP ratio must be positive, got {values['mlp_ratio']}; the paper uses 4")
        if values["image_size"] > 4096:
            raise ValueError(f"image size {values['image_size']} is too large for this widget; use at most 4096")
        cfg = config(values)  # ValueError with ViTConfig's message if the combination is invalid
        t, params, fa, flops, memory = _cost_parts(cfg)
        sizes = [q for q in range(1, cfg.image_size + 1) if cfg.image_size % q == 0 and (cfg.image_size // q) ** 2 + 1 <= 20000]
        parts = [_cost_parts(cfg.replace(patch_size=q)) for q in sizes]
        fig = _plots.plot_vit_cost([x[0] for x in parts], [x[2] for x in parts], [x[3] - x[2] for x in parts],
                                   [x[4] for x in parts], t, labels=[f"P={q}" for q in sizes],
                                   title=f"{cfg.image_size} px images, D = {cfg.dim}, {cfg.depth} layers, "
                                         f"{cfg.heads} heads, MLP {cfg.mlp_dim}: cost as the patch size changes")
        rows = [
            ("patches N = (H/P)<sup>2</sup>", f"{cfg.grid_size} x {cfg.grid_size} = {cfg.num_patches:,}"),
            ("sequence length T = N + 1", f"{t:,}"),
            ("head size D<sub>h</sub> = D / heads", f"{cfg.dim // cfg.heads}"),
            ("MLP size", f"{cfg.mlp_dim:,}"),
            ("parameters", f"{params:,} ({params / 1e6:.1f} M)"),
            ("forward FLOPs per image", f"{flops / 1e9:.2f} G ({fa / flops:.0%} in q k<sup>T</sup> and A v)"),
            ("attention matrices, one image", f"{memory / 2**20:.2f} MiB (float32; x B for a batch of B)"),
        ]
        table = "".join(f"<tr><td style='padding-right:1em'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows)
        return fig, f"<table>{table}</table>"

    def text(name, value, width="190px"):
        return _w.IntText(value=value, description=name, style={"description_width": "initial"},
                          layout=_w.Layout(width=width))

    controls = {
        "preset": _w.Dropdown(options=["custom", *PRESETS], value="custom", description="preset"),
        "image_size": text("image size", image_size),
        "patch_size": text("patch size", patch_size),
        "dim": text("dim D", dim),
        "depth": _w.IntSlider(value=depth, min=1, max=48, description="depth", continuous_update=False),
        "heads": _w.IntSlider(value=heads, min=1, max=32, description="heads", continuous_update=False),
        "mlp_ratio": _w.FloatSlider(value=mlp_ratio, min=0.5, max=8.0, step=0.5, description="MLP ratio",
                                    continuous_update=False),
    }
    app = SliderFigure(controls, draw, rows=[["preset", "image_size", "patch_size", "dim"],
                                             ["depth", "heads", "mlp_ratio"]],
                       watch=[name for name in controls if name != "preset"])

    def preset_chosen(change):
        if change["new"] == "custom" or app._hold:
            return
        layers, d, mlp, h = PRESETS[change["new"]]
        app.set(image_size=224, patch_size=int(change["new"].split("/")[1]), dim=d, depth=layers, heads=h,
                mlp_ratio=mlp / d)  # one redraw; `edited` leaves the preset's name shown while _hold is set

    def edited(change):
        if not app._hold and app.controls["preset"].value != "custom":
            app._hold = True
            app.controls["preset"].value = "custom"
            app._hold = False

    controls["preset"].observe(preset_chosen, names="value")
    for name in ("image_size", "patch_size", "dim", "depth", "heads", "mlp_ratio"):
        controls[name].observe(edited, names="value")
    return app


# --- notebooks 05 and 08 (training, hybrid and scale) ---

__all__ += ["TrainingWidget", "training_widget", "compute_budget_widget"]


class TrainingWidget(SliderFigure):
    """Notebook 05: sliders for a ViT's hyperparameters and a Train button that trains it on the digits.

    Moving a slider only redraws a cheap preview (a digit cut into patches, and the config's size and
    cost); the Train button runs `vitlib.train.fit` and shows the loss and accuracy curves, updated
    after every epoch. An invalid combination shows ViTConfig's message. `.train()` is what the button
    calls; `.history` holds the last run's History.
    """

    def __init__(self, image_size: int = 32, patch_size: int = 8, dim: int = 64, depth: int = 4, heads: int = 4,
                 epochs: int = 10, lr: float = 2e-3, train_fraction: float = 1.0, seed: int = 0, fit_kwargs=None):
        from .data import load_digits

        self.image_size, self.seed = image_size, seed
        self.fit_kwargs = dict(batch_size=64, weight_decay=0.05, warmup_epochs=2, label_smoothing=0.1, shift=2)
        self.fit_kwargs.update(fit_kwargs or {})
        self._train_full = load_digits(image_size=image_size, channels=1, seed=seed)
        self._data_cache: dict = {}
        self.history = None

        def slider(cls, name, value, **kw):
            return cls(value=value, description=name, continuous_update=False, style={"description_width": "initial"}, **kw)

        controls = {
            "patch_size": slider(_w.IntSlider, "patch size", patch_size, min=1, max=image_size),
            "dim": slider(_w.IntSlider, "dim D", dim, min=8, max=256, step=8),
            "depth": slider(_w.IntSlider, "depth", depth, min=1, max=8),
            "heads": slider(_w.IntSlider, "heads", heads, min=1, max=8),
            "epochs": slider(_w.IntSlider, "epochs", epochs, min=1, max=100),
            "lr": slider(_w.FloatLogSlider, "learning rate", lr, base=10, min=-4, max=-1.5, step=0.25,
                         readout_format=".1e"),
            "train_fraction": slider(_w.FloatSlider, "train fraction", train_fraction, min=0.05, max=1.0, step=0.05),
        }
        self.button = _w.Button(description="Train", button_style="primary", icon="play")
        self.button.on_click(lambda _button: self.train())
        super().__init__(controls, self._preview, rows=[["patch_size", "dim", "depth", "heads"],
                                                        ["epochs", "lr", "train_fraction"]])
        self.ui.children = self.ui.children[:2] + (self.button,) + self.ui.children[2:]

    def config(self, values=None):
        from .model import ViTConfig

        v = values or self.values
        return ViTConfig(image_size=self.image_size, patch_size=v["patch_size"], in_channels=1, num_classes=10,
                         dim=v["dim"], depth=v["depth"], heads=v["heads"], mlp_dim=2 * v["dim"])

    def data(self, fraction: float):
        """(x_train, y_train, x_test, y_test) with a stratified `fraction` of the training split."""
        from .data import load_digits

        key = round(float(fraction), 4)
        if key >= 1:
            return self._train_full
        if key not in self._data_cache:
            self._data_cache[key] = load_digits(image_size=self.image_size, channels=1, seed=self.seed,
                                                train_size=key)
        return self._data_cache[key]

    def _preview(self, values):
        from .cost import count_params, train_flops

        cfg = self.config(values)  # ValueError with ViTConfig's message if the combination is invalid
        n_train = max(10, round(values["train_fraction"] * len(self._train_full[1])))
        flops = train_flops(cfg) * n_train * values["epochs"]
        fig = _plots.plot_digit_patches(self._train_full[0][0], cfg.patch_size,
                                        title=f"P = {cfg.patch_size}: {cfg.num_patches} patches + [class] = "
                                              f"{cfg.num_patches + 1} tokens")
        message = (f"{count_params(cfg):,} parameters; {n_train} training images x {values['epochs']} epochs = "
                   f"{flops / 1e9:,.0f} GFLOPs of training. Press <b>Train</b> to train this model.")
        return fig, message

    def train(self):
        """Train the current configuration (fit with the sliders' settings); -> History, or None if invalid."""
        from .model import ViT
        from .train import fit

        v = self.values
        try:
            cfg = self.config(v)
        except ValueError as error:
            self._say(str(error), error=True)
            return None
        x_train, y_train, x_test, y_test = self.data(v["train_fraction"])
        _torch.manual_seed(self.seed)
        model = ViT(cfg)
        title = (f"P={cfg.patch_size}, D={cfg.dim}, depth {cfg.depth}, {cfg.heads} heads, lr {v['lr']:.1e}, "
                 f"{len(y_train)} training images")

        def progress(epoch, history, _model):
            self._show(history.plot(title=title))
            self.message.value = (f"epoch {epoch}/{v['epochs']}: train loss {history.train_loss[-1]:.3f}, "
                                  f"test accuracy {history.test_acc[-1]:.1%}")

        self.button.disabled = True
        try:
            self.history = fit(model, (x_train, y_train), (x_test, y_test), epochs=v["epochs"], lr=v["lr"],
                               seed=self.seed, progress=False, on_epoch_end=progress,
                               **{**self.fit_kwargs, "warmup_epochs": min(self.fit_kwargs.get("warmup_epochs", 0),
                                                                          v["epochs"])})
        except ValueError as error:
            self._say(str(error), error=True)
            return None
        finally:
            self.button.disabled = False
        h = self.history
        self.message.value = (f"done: {h.epochs} epochs in {h.total_seconds:.1f} s; final test accuracy "
                              f"{h.test_acc[-1]:.1%} (best {h.best_test_acc:.1%}). Move a slider to preview another config.")
        return h


def training_widget(**kwargs) -> TrainingWidget:
    """Notebook 05: hyperparameter sliders + Train button on the digits (see TrainingWidget)."""
    return TrainingWidget(**kwargs)


def compute_budget_widget(curves: dict, finals: dict | None = None) -> SliderFigure:
    """Notebook 08: which model family is best for a given training-compute budget?

    curves: {family: {label: (cumulative training FLOPs per epoch (E,), test accuracy per epoch (E,))}}.
    finals: {family: [(label, flops, accuracy), ...]} to plot (default: each curve's last point).
    The slider sets the budget (log10 FLOPs); the figure marks it, and the message lists, per family,
    the best test accuracy any of its models had reached within the budget (from the per-epoch curves).
    """
    import numpy as np

    if finals is None:
        finals = {fam: [(label, float(f[-1]), float(a[-1])) for label, (f, a) in runs.items()]
                  for fam, runs in curves.items()}
    all_flops = np.concatenate([np.asarray(f, dtype=float) for runs in curves.values() for f, _ in runs.values()])
    lo, hi = np.floor(np.log10(all_flops.min()) * 4) / 4, np.ceil(np.log10(all_flops.max()) * 4) / 4

    def draw(values):
        budget = 10 ** values["log10_budget"]
        fig = _plots.plot_accuracy_vs_compute(finals, budget=budget,
                                              title=f"best accuracy within {budget:.2g} training FLOPs")
        rows = []
        for fam, runs in curves.items():
            best, which = None, None
            for label, (f, a) in runs.items():
                reached = [acc for fl, acc in zip(f, a) if fl <= budget]
                if reached and (best is None or max(reached) > best):
                    best, which = max(reached), label
            rows.append(f"<b>{fam}</b>: " + (f"{best:.1%} ({which})" if best is not None else "no epoch fits"))
        return fig, "within budget: " + "; ".join(rows)

    controls = {"log10_budget": _w.FloatSlider(value=float((lo + hi) / 2), min=float(lo), max=float(hi), step=0.25,
                                               description="log10 FLOPs", continuous_update=False)}
    return SliderFigure(controls, draw)


# --- notebook 06 (inside a ViT: Figure 7, attention maps) ---------------------------------

__all__ += ["filter_pcs_widget", "pos_similarity_widget", "attention_distance_widget", "attention_maps_widget"]


def _as_model_dict(models) -> dict:
    """A dict name -> model; a single model becomes {"model": model}."""
    if isinstance(models, dict):
        if not models:
            raise ValueError("give at least one model, e.g. {'random init': model0, 'trained': model}")
        return dict(models)
    return {"model": models}


def _run_with_attention(model, images, batch_size: int = 64):
    """One eval-mode pass: -> (logits (B, K), attention (L, B, H, T, T)), in batches, the model's mode restored."""
    images = _torch.as_tensor(images)
    model.patch_embed.check_input(images)  # a ValueError naming the fix, at build time
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    logits, attn = [], []
    try:
        with _torch.no_grad():
            for start in range(0, len(images), batch_size):
                out, layers = model(images[start:start + batch_size].to(device), return_attention=True)
                logits.append(out.float().cpu())
                attn.append(_torch.stack([a.float().cpu() for a in layers]))  # (L, b, H, T, T)
    finally:
        model.train(was_training)
    return _torch.cat(logits), _torch.cat(attn, dim=1)


def filter_pcs_widget(models, components: int | None = None, max_components: int = 28) -> SliderFigure:
    """Figure 7 (left): principal components of each model's patch-embedding filters, 4 x 7 grid.

    models: a ViT or a dict name -> ViT or patch-embedding weight (D, C, P, P), e.g. {"random init": m0,
    "trained on digits": m, "what training added": w - w0}. The PCA of every entry runs once here; the
    controls `model` (dropdown) and `components` (slider, 1..max_components) only pick what to draw.
    Filters of P*P*C values have at most P*P*C components; asking for more shows a message.
    """
    from .probes import embedding_filter_pcs

    models = _as_model_dict(models)
    pcs = {}
    for name, model in models.items():
        weight = model.patch_embed.proj.weight if isinstance(model, _torch.nn.Module) else _torch.as_tensor(model)
        if weight.ndim != 4:
            raise ValueError(f"{name}: expected a ViT or a patch-embedding weight (D, C, P, P), got shape "
                             f"{tuple(weight.shape)}")
        d, c, p, _ = weight.shape
        k = min(d, p * p * c, max_components)
        pcs[name] = (*embedding_filter_pcs(weight, n=k, return_variance=True), d, p, c)

    def draw(values):
        name, n = values["model"], values["components"]
        comps, ratio, d, p, c = pcs[name]
        if not 1 <= n <= len(comps):
            raise ValueError(f"{name}: {d} filters of P*P*C = {p}*{p}*{c} = {p * p * c} values have at most "
                             f"{len(comps)} principal components (up to {max_components} are shown); "
                             f"choose 1..{len(comps)}")
        fig = _plots.plot_filter_pcs(comps, n=n, variance=ratio,
                                     title=f"{name}: first {n} principal components of the {d} embedding filters "
                                           f"({p} x {p} x {c})")
        message = (f"The first {n} components explain {float(ratio[:n].sum()):.0%} of the filters' variance "
                   f"(PC 1 alone {float(ratio[0]):.0%}). Each tile is scaled to its own min..max.")
        return fig, message

    first = next(iter(pcs.values()))[0]
    controls = {
        "model": _w.Dropdown(options=list(models), description="model"),
        "components": _w.IntSlider(value=min(components or len(first), len(first)), min=1, max=max_components,
                                   description="components", continuous_update=False),
    }
    return SliderFigure(controls, draw)


def pos_similarity_widget(models) -> SliderFigure:
    """Figure 7 (centre): position-embedding cosine similarity of each model, as a G x G grid of tiles.

    models: a ViT or a dict name -> ViT (e.g. random init, trained, `finetune.at_resolution(trained, 48)`);
    the grids may differ. Similarities are computed once here; the `model` dropdown picks one.
    """
    from .probes import pos_embed_similarity

    models = _as_model_dict(models)
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
        fig = _plots.plot_pos_similarity(sim, title=f"Position embedding similarity: {name} ({g} x {g} patches)")
        flat = sim.reshape(g * g, g * g)
        off = flat[~_torch.eye(g * g, dtype=_torch.bool)]
        near = [float(sim[i, j, i, j + 1]) for i in range(g) for j in range(g - 1)]
        message = (f"{g} x {g} grid. Mean similarity of horizontal neighbours {_np.mean(near):.2f}, "
                   f"of all pairs of different patches {float(off.mean()):.2f}.")
        return fig, message

    controls = {"model": _w.Dropdown(options=list(models), description="E_pos of",
                                     layout=_w.Layout(width="420px"))}
    return SliderFigure(controls, draw)


def attention_distance_widget(models, images, num_images: int | None = None) -> SliderFigure:
    """Figure 7 (right): mean attention distance per head against depth, averaged over the first n images.

    models: a ViT or a dict name -> ViT (same image size); images (B, C, H, W). Each model runs once
    here, and the distance of every head is computed per image, with and without renormalising over the
    patch keys (`probes.mean_attention_distance`). Controls: `model`, `images` (how many to average,
    1..B), `head` (-1 = none, else the head to highlight), `compare` (also draw the unrenormalised
    convention as hollow markers).
    """
    from .probes import attention_distance_per_image, patch_distances

    models = _as_model_dict(models)
    images = _torch.as_tensor(images)
    per_image = {}  # name -> (renormalised (B, L, H), unrenormalised (B, L, H), cfg)
    for name, model in models.items():
        _, attn = _run_with_attention(model, images)  # (L, B, H, T, T)
        cfg = model.cfg
        both = [attention_distance_per_image(attn, cfg.patch_size, renormalise=r).transpose(0, 1).numpy()
                for r in (True, False)]  # each (B, L, H)
        per_image[name] = (*both, cfg)
    most_heads = max(v[2].heads for v in per_image.values())

    def draw(values):
        name, n, head = values["model"], values["images"], values["head"]
        renorm, raw, cfg = per_image[name]
        if not 1 <= n <= len(renorm):
            raise ValueError(f"average over 1..{len(renorm)} images, not {n}")
        if head >= cfg.heads:
            raise ValueError(f"{name} has {cfg.heads} heads (0..{cfg.heads - 1}); there is no head {head}")
        d = renorm[:n].mean(0)  # (L, H)
        uniform = float(patch_distances(cfg.grid_size, cfg.patch_size).mean())  # every patch key weighted 1/N
        fig = _plots.plot_attention_distance(d, cfg.patch_size, cfg.image_size, highlight=None if head < 0 else head,
                                             uniform=uniform,
                                             compare=raw[:n].mean(0) if values["compare"] else None,
                                             num_images=n,
                                             title=f"{name}: mean attention distance, {n} image{'s' * (n != 1)}")
        first, last = d[0], d[-1]
        message = (f"Uniform attention would give {uniform:.1f} px. "
                   f"Layer 1: heads from {first.min():.1f} to {first.max():.1f} px; layer {len(d)}: "
                   f"{last.min():.1f} to {last.max():.1f} px (mean {first.mean():.1f} -> {last.mean():.1f} px). "
                   f"A {cfg.image_size} px image with {cfg.patch_size} px patches.")
        if head >= 0:
            message += " Head " + str(head) + ": " + ", ".join(f"{x:.1f}" for x in d[:, head]) + " px by layer."
        return fig, message

    b = len(images)
    controls = {
        "model": _w.Dropdown(options=list(models), description="model"),
        "images": _w.IntSlider(value=min(num_images or b, b), min=1, max=b, description="images averaged",
                               continuous_update=False, style={"description_width": "initial"}),
        "head": _w.Dropdown(options=[("none", -1)] + [(f"head {h}", h) for h in range(most_heads)], value=-1,
                            description="highlight"),
        "compare": _w.Checkbox(value=False, description="also without renormalising", indent=False),
    }
    return SliderFigure(controls, draw, rows=[["images", "head"], ["model", "compare"]])


def attention_maps_widget(model, images, labels=None, class_names=None) -> SliderFigure:
    """Attention maps and attention rollout (Figure 6) of one model over a few images.

    The model runs once here; attention rollout (`probes.attention_rollout`) is computed once per image.
    Controls: `image`, `layer` (1..L), `head` (0..H-1), `query` (a patch index in raster order, or -1 for
    the [class] token). Panels: the input, the chosen head's map from the query (`probes.attention_maps`),
    the rollout over the image and the image masked by it. Moving `layer`, `head` or `query` updates the
    head panel of the current figure in place (so `.figure` may stay the same object; `.canvas.value`,
    the PNG shown, changes); moving `image` builds a new figure.
    """
    from .probes import attention_maps, attention_rollout

    cfg = model.cfg
    images = _torch.as_tensor(images)
    logits, attn = _run_with_attention(model, images)  # (L, B, H, T, T)
    rollout = attention_rollout(list(attn)).numpy()  # (B, G, G)
    preds = logits.argmax(-1).tolist()
    g, p, n = cfg.grid_size, cfg.patch_size, cfg.num_patches
    names = class_names or [str(i) for i in range(max(cfg.num_classes, 1))]

    shown = {"image": None, "figure": None}  # the figure of the current image, updated in place

    def draw(values):
        b, layer, head, query = values["image"], values["layer"], values["head"], values["query"]
        if not (0 <= b < len(images) and 1 <= layer <= cfg.depth and 0 <= head < cfg.heads and -1 <= query < n):
            raise ValueError(f"image must be in 0..{len(images) - 1}, layer in 1..{cfg.depth}, head in "
                             f"0..{cfg.heads - 1}, query in -1..{n - 1} (-1 = the [class] token)")
        maps = attention_maps(attn[layer - 1, b:b + 1, head:head + 1], query)[0, 0].numpy()  # (G, G)
        where = None if query == -1 else divmod(query, g)
        who = "[class]" if query == -1 else f"patch {query} (row {where[0]}, col {where[1]})"
        head_title = f"layer {layer}, head {head}\nquery {who}"
        if shown["image"] != b:  # a new image: a new figure (the rollout panels change)
            truth = f"label {names[int(labels[b])]}, " if labels is not None else ""
            shown["figure"] = _plots.plot_attention_rollout(
                images[b], rollout[b], p, head_map=maps, query=where or (0, 0), head_title=head_title,
                title=f"image {b} ({truth}predicted {names[preds[b]]})")
            shown["image"] = b
        fig = shown["figure"]
        # the same image: only the head panel changes. Updating its artists is several times faster than
        # building a new figure (creating axes and tick labels is most of matplotlib's time here).
        ax = fig.axes[1]
        overlay, box = ax.images[1], ax.patches[0]
        overlay.set_data(maps)
        overlay.set_clim(0, max(float(maps.max()), 1e-8))
        box.set_visible(where is not None)
        if where is not None:
            box.set_xy((where[1] * p - 0.5, where[0] * p - 0.5))
        ax.set_title(head_title, fontsize=10)
        row = attn[layer - 1, b, head, 0 if query == -1 else 1 + query]  # (T,)
        message = (f"Layer {layer}, head {head}, query {who}: {float(row[1:].sum()):.0%} of the weight on the "
                   f"{n} patches, {float(row[0]):.0%} on the [class] key. Rollout: all {cfg.depth} layers, heads "
                   "averaged, residual added (A + I, rows renormalised), multiplied through.")
        return fig, message

    controls = {
        "image": _int_slider("image", 0, len(images) - 1, 0, "300px"),
        "layer": _int_slider("layer", 1, cfg.depth, 1, "300px"),
        "head": _int_slider("head", 0, cfg.heads - 1, 0, "300px"),
        "query": _int_slider("query patch", -1, n - 1, (g // 2) * g + g // 2, "300px"),
    }
    return SliderFigure(controls, draw, rows=[["image", "layer"], ["head", "query"]])


# --- notebook 07 (fine-tuning) ---

__all__ += ["finetune_results_widget"]


def _mean_std(mean: float, std: float, seeds: int) -> str:
    """'85.1 ± 1.2%', or '85.1%' for one seed."""
    return f"{mean:.1f} ± {std:.1f}%" if seeds > 1 else f"{mean:.1f}%"


def finetune_results_widget(results: dict) -> SliderFigure:
    """Notebook 07: pretrained vs from scratch, for each label budget and image size of a sweep.

    results: {(init, image_size, labels_per_class): [final test accuracy per seed]}, what
    `vitlib.finetune.sweep` returns (labels_per_class None = all labels). Controls: `labels_per_class`
    (a slider over the budgets run, "all" last) and `image_size`. Drawn with
    `plots.plot_finetune_results`; the message gives both means (± std over seeds) and the difference.
    A cell that was not run for an init shows a message instead of the figure.
    """
    inits = _plots._finetune_inits(results)  # ValueError for an empty or malformed dict
    budgets = sorted({b for _, _, b in results}, key=_plots._budget_order)
    sizes = sorted({s for _, s, _ in results})
    names = {"pretrained": "pretrained", "scratch": "from scratch"}

    def draw(values):
        b = None if values["labels_per_class"] == "all" else values["labels_per_class"]
        size = values["image_size"]
        fig = _plots.plot_finetune_results(results, size, b)  # ValueError naming a missing cell
        cell = {init: results[init, size, b] for init in inits}
        what = "all labels" if b is None else f"{b} label{'s' * (b != 1)} per class"
        stats = {init: (100 * float(_np.mean(acc)), 100 * float(_np.std(acc)), len(acc)) for init, acc in cell.items()}
        counts = {n for _, _, n in stats.values()}
        parts = [f"{names.get(init, init)} {_mean_std(*stats[init])}" + ("" if len(counts) == 1 else
                 f" ({stats[init][2]} seed{'s' * (stats[init][2] != 1)})") for init in inits]
        message = f"{what} at {size} px: " + ", ".join(parts)
        if len(counts) == 1:
            n = counts.pop()
            message += f" ({n} seed{'s' * (n != 1)})"
        if "pretrained" in stats and "scratch" in stats:
            message += f": {stats['pretrained'][0] - stats['scratch'][0]:+.1f} points"
        return fig, html.escape(message)

    options = [(str(b), b) for b in budgets if b is not None] + ([("all", "all")] if None in budgets else [])
    default = 10 if 10 in budgets else options[0][1]
    controls = {
        "labels_per_class": _w.SelectionSlider(options=options, value=default, description="labels/class",
                                               continuous_update=False, layout=_w.Layout(width="360px")),
        "image_size": _w.SelectionSlider(options=[(f"{s} px", s) for s in sizes], value=sizes[0],
                                         description="image size", continuous_update=False,
                                         layout=_w.Layout(width="300px")),
    }
    return SliderFigure(controls, draw)
