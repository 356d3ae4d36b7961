"""Notebook 02 (class token and position embeddings): the widget and exercise checkers the notebook uses.

    pos_embed_widget       Figure 7 (centre) for learned, sin-cos and no position embeddings, any grid
    check_embed_tokens     exercise: z0 = [x_class; x_p E] + E_pos (Eq. 1)
    check_pos_similarity   exercise: the cosine similarity of the position embeddings, (G, G, G, G)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ipywidgets import widgets

from ..embeddings import PositionEmbedding
from ..probes import pos_embed_similarity
from . import figures
from .exercise import ExerciseError, checker, matches, passed, require_tensor, run_answer
# shared with other notebooks, used here too
from .figures import plot_architecture, plot_images, plot_maps, plot_pos_similarity
from .ui import SliderFigure

__all__ = ["plot_architecture", "plot_images", "plot_maps", "plot_pos_similarity", "POS_EMBED_CHOICES",
           "pos_embed_widget", "check_embed_tokens", "check_pos_similarity"]


# ------------------------------ widgets


POS_EMBED_CHOICES = (("learned (at random init)", "learned"), ("fixed 2D sin-cos", "sincos2d"), ("none", "none"))


def pos_embed_widget(dim: int = 64, grid_size: int = 7, min_grid: int = 2, max_grid: int = 14,
                     seed: int = 0) -> SliderFigure:
    """Figure 7 (centre) for each kind of position embedding (learned at init, sincos2d, none) and grid size G.

    All similarities are computed when the widget is built; the dropdown (`kind`) and the slider
    (`grid`) only pick one.
    """
    similarity = {}  # (kind, G) -> (G, G, G, G)
    for g in range(min_grid, max_grid + 1):
        for kind in ("learned", "sincos2d"):
            with torch.random.fork_rng():  # the same random init every time, global RNG untouched
                torch.manual_seed(seed)
                table = PositionEmbedding(g * g, dim, kind=kind).pos_embed  # (1, 1+G*G, D)
            similarity[kind, g] = pos_embed_similarity(table, num_prefix_tokens=1)
    labels = {value: label for label, value in POS_EMBED_CHOICES}

    def draw(values):
        kind, g = values["kind"], values["grid"]
        if kind == "none":
            raise ValueError("pos_embed='none': no position embeddings are added, so there is nothing to compare. "
                             "The encoder then sees only what is in each patch, not where it is: shuffling the "
                             "patches does not change the [class] token's output.")
        sim = similarity[kind, g]
        title = f"Position embedding similarity: {labels[kind]}, {g} x {g} patches, D = {dim}"
        off = sim.reshape(g * g, g * g)[~torch.eye(g * g, dtype=torch.bool)]  # pairs of different patches
        note = (f"Similarities of different patches range from {off.min():.2f} to {off.max():.2f}. Left: the "
                "paper's scale, -1 to 1. Right: the same numbers on their own range, which shows the structure "
                "when they are all alike.")
        return figures.plot_pos_similarity(sim, title=title, data_range=True), f"<p>{note}</p>"

    controls = {
        "kind": widgets.Dropdown(options=POS_EMBED_CHOICES, value="sincos2d", description="E_pos"),
        "grid": widgets.IntSlider(value=grid_size, min=min_grid, max=max_grid, description="grid G",
                                  continuous_update=False),
    }
    return SliderFigure(controls, draw)


# ------------------------------ exercise checkers


def _embed_reference(x: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    return torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1) + pos


@checker
def check_embed_tokens(fn) -> bool:
    """Exercise (02): fn(patch tokens (B, N, D), class token (1, 1, D), E_pos (1, 1+N, D)) -> z0 (B, 1+N, D), Eq. 1."""
    name = getattr(fn, "__name__", "your function")
    g = torch.Generator().manual_seed(0)
    b, n, d = 2, 4, 6
    x, cls = torch.randn(b, n, d, generator=g), torch.randn(1, 1, d, generator=g)
    pos = torch.randn(1, 1 + n, d, generator=g)
    attempted, got = run_answer(fn, x, cls, pos)
    if not attempted:
        return False
    expected = _embed_reference(x, cls, pos)
    where = f"{name}(tokens {(b, n, d)}, cls {(1, 1, d)}, pos {(1, 1 + n, d)})"
    require_tensor(got, where)
    if matches(got, expected):
        return passed(name, "z0 = [x_class; x_p E] + E_pos, the class token first (Eq. 1)")
    cls_b = cls.expand(b, -1, -1)
    if got.shape == (b, n, d):
        raise ExerciseError(f"{where} has shape {(b, n, d)}: the [class] token is missing; prepend it with "
                            f"torch.cat along the token axis (dim=1) to get (B, 1+N, D) = {(b, 1 + n, d)}")
    if got.shape == (1, 1 + n, d):
        raise ExerciseError(f"{where} has shape {(1, 1 + n, d)}: one sequence for a batch of {b}; expand the class "
                            "token to the batch first: cls.expand(B, -1, -1)")
    if got.shape != expected.shape:
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected (B, 1+N, D) = {(b, 1 + n, d)}")
    mistakes = {
        "the [class] token is at the end; it goes first, z0^0 = x_class, the token the head reads":
            torch.cat([x, cls_b], dim=1) + pos,
        "the position embeddings are missing: add E_pos (pos) to the whole sequence":
            torch.cat([cls_b, x], dim=1),
        "the [class] token is at the end and the position embeddings are missing":
            torch.cat([x, cls_b], dim=1),
        "the [class] token did not get its own position embedding (row 0 of E_pos): prepend the token "
        "first, then add all 1+N rows of E_pos":
            torch.cat([cls_b, x + pos[:, 1:]], dim=1),
        "the patches got rows 0..N-1 of E_pos, but row 0 belongs to the [class] token: prepend the token "
        "first, then add E_pos to the whole (B, 1+N, D) sequence, row for row":
            torch.cat([cls_b, x + pos[:, :-1]], dim=1),
    }
    for message, candidate in mistakes.items():
        if matches(got, candidate):
            raise ExerciseError(f"{where}: right shape, but {message}")
    raise ExerciseError(f"{where}: right shape, wrong values; z0 = torch.cat([cls.expand(B, -1, -1), x], dim=1) + pos")


@checker
def check_pos_similarity(fn) -> bool:
    """Exercise (02): fn(pos_embed (1, 1+G*G, D)) -> (G, G, G, G) cosine similarities, class token excluded."""
    name = getattr(fn, "__name__", "your function")
    g = torch.Generator().manual_seed(0)
    side, d = 3, 8
    pos = torch.randn(1, 1 + side * side, d, generator=g) + 0.5  # nonzero mean: dot products differ from cosines
    pos[0, 0] = 5.0  # a class-token row that stands out
    attempted, got = run_answer(fn, pos)
    if not attempted:
        return False
    expected = pos_embed_similarity(pos)
    n = side * side
    where = f"{name}(pos_embed of shape {tuple(pos.shape)}, a {side} x {side} grid)"
    require_tensor(got, where)
    if matches(got, expected):
        return passed(name, "sim[i, j, k, l] = cos(E_pos of patch (i, j), E_pos of patch (k, l)), class token excluded")
    grid = (side, side, side, side)
    if got.shape in ((1 + n, 1 + n), (1, 1 + n, 1 + n)):
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}: the [class] token's row is included; drop it "
                            f"(pos_embed[0, 1:]) and reshape the {n} x {n} result to (G, G, G, G) = {grid}")
    if got.shape in ((n, n), (1, n, n)):
        if matches(got.reshape(n, n), expected.reshape(n, n)):
            raise ExerciseError(f"{where} has shape {tuple(got.shape)}: right numbers; now reshape to (G, G, G, G) "
                                f"= {grid}, so sim[i, j] is the G x G map of patch (i, j)")
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected (G, G, G, G) = {grid}")
    if got.shape != expected.shape:
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected (G, G, G, G) = {grid}")
    patches = pos[0, 1:]
    mistakes = {
        "these are raw dot products, not cosine similarities: normalise each embedding to length 1 first "
        "(F.normalize(e, dim=-1)); cosines lie in [-1, 1] and each patch has similarity 1 with itself":
            (patches @ patches.T).reshape(grid),
        "the embeddings were normalised along the wrong axis: normalise each D-dimensional embedding "
        "(dim=-1), not each feature across the patches":
            (F.normalize(patches, dim=0) @ F.normalize(patches, dim=0).T).reshape(grid),
        "the rows and columns of the grid are swapped: patch n sits at row n // G, column n % G; use "
        "rearrange(sim, '(i j) (k l) -> i j k l', i=G, k=G)":
            expected.permute(1, 0, 3, 2),
        "the last row was dropped instead of the [class] token (row 0): use pos_embed[0, 1:]":
            F.normalize(pos[0, :-1], dim=-1).matmul(F.normalize(pos[0, :-1], dim=-1).T).reshape(grid),
    }
    for message, candidate in mistakes.items():
        if matches(got, candidate, atol=1e-4):
            raise ExerciseError(f"{where}: right shape, but {message}")
    raise ExerciseError(f"{where}: right shape, wrong values; expected the cosine similarity of every pair of "
                        "patch position embeddings, class token excluded")
