"""Tests of notebook 02 (class token and position): the position-embedding widget and checkers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb02_class_token_and_position import (
    check_embed_tokens,
    check_pos_similarity,
    plot_pos_similarity,
    pos_embed_widget,
)
from vitlib.embeddings import PositionEmbedding
from vitlib.probes import pos_embed_similarity


def test_pos_embed_widget():
    w = pos_embed_widget(dim=32, grid_size=4, max_grid=6)
    assert "sin-cos" in w.figure.get_suptitle()
    paper, data = w.figure.axes[0].images[0], w.figure.axes[1].images[0]  # the two panels, then their bars
    assert paper.get_clim() == (-1, 1)  # the paper's scale
    low, high = data.get_clim()
    assert -1 < low < high <= 1 and (low, high) != (-1, 1)  # the data's own range, where the structure shows
    assert "range from" in w.message.value
    first = w.figure.axes[0].images[0].get_array().copy()
    w.controls["grid"].value = 5
    assert w.figure.axes[0].images[0].get_array().shape == (5 * 6 - 1, 5 * 6 - 1)
    w.controls["kind"].value = "learned"
    learned = w.figure.axes[0].images[0].get_array()
    assert "learned" in w.figure.get_suptitle()
    sincos = pos_embed_similarity(PositionEmbedding(25, 32, kind="sincos2d").pos_embed)
    assert not np.ma.allclose(learned, plot_pos_similarity(sincos).axes[0].images[0].get_array())
    assert first.shape == (19, 19)
    figure = w.figure
    w.controls["kind"].value = "none"
    assert "nothing to compare" in w.message.value and w.canvas.layout.display == "none"
    assert w.figure is figure  # nothing was drawn
    w.controls["kind"].value = "sincos2d"
    assert "nothing to compare" not in w.message.value and w.canvas.layout.display is None


def test_pos_embed_widget_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    pos_embed_widget(dim=8, grid_size=2, max_grid=3)
    assert torch.equal(torch.rand(3), expected)


def test_embed_tokens_right():
    assert check_embed_tokens(lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1), x], 1) + pos) is True
    assert check_embed_tokens(
        lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1) + pos[:, :1], x + pos[:, 1:]], 1)
    ) is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda x, cls, pos: x + pos[:, 1:], r"class\] token is missing"),
        (lambda x, cls, pos: torch.cat([cls, x[:1]], 1) + pos, r"expand the class token"),
        (lambda x, cls, pos: torch.cat([x, cls.expand(len(x), -1, -1)], 1) + pos, r"at the end; it goes first"),
        (lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1), x], 1), r"position embeddings are missing"),
        (lambda x, cls, pos: torch.cat([x, cls.expand(len(x), -1, -1)], 1), r"at the end and the position"),
        (lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1), x + pos[:, 1:]], 1), r"did not get its own"),
        (lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1), x + pos[:, :-1]], 1), r"rows 0..N-1"),
        (lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1), x], 1) + 2 * pos, r"right shape, wrong values"),
        (lambda x, cls, pos: torch.zeros(2, 5, 7), r"expected \(B, 1\+N, D\) = \(2, 5, 6\)"),
    ],
)
def test_embed_tokens_mistakes(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_embed_tokens(answer)


def _cos(pos):
    e = F.normalize(pos[0, 1:], dim=-1)
    return e @ e.T


def test_pos_similarity_right():
    assert check_pos_similarity(pos_embed_similarity) is True
    g = lambda pos: int((pos.shape[1] - 1) ** 0.5)  # noqa: E731
    assert check_pos_similarity(lambda pos: _cos(pos).reshape(g(pos), g(pos), g(pos), g(pos))) is True


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda pos: F.normalize(pos[0], dim=-1) @ F.normalize(pos[0], dim=-1).T, r"class\] token's row is included"),
        (lambda pos: _cos(pos), r"right numbers; now reshape"),
        (lambda pos: (pos[0, 1:] @ pos[0, 1:].T).reshape(3, 3, 3, 3), r"raw dot products"),
        (lambda pos: (F.normalize(pos[0, 1:], dim=0) @ F.normalize(pos[0, 1:], dim=0).T).reshape(3, 3, 3, 3),
         r"wrong axis"),
        (lambda pos: rearrange(_cos(pos), "(i j) (k l) -> j i l k", i=3, k=3), r"rows and columns of the grid"),
        (lambda pos: (F.normalize(pos[0, :-1], dim=-1) @ F.normalize(pos[0, :-1], dim=-1).T).reshape(3, 3, 3, 3),
         r"last row was dropped"),
        (lambda pos: torch.zeros(3, 3, 3, 3), r"right shape, wrong values"),
        (lambda pos: torch.zeros(9, 3), r"expected \(G, G, G, G\)"),
    ],
)
def test_pos_similarity_mistakes(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_pos_similarity(answer)
