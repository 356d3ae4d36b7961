"""The exercise checker of notebook 07 (resizing position embeddings): the right answer passes, each
typical mistake gets its own message."""

import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vitlib.checks import ExerciseError, _resize_mistakes, check_resize_pos_embed
from vitlib.embeddings import resize_pos_embed


def _split(pos):
    g = math.isqrt(pos.shape[1] - 1)
    return pos[:, :1], pos[:, 1:], g, pos.shape[2]


def _resize(pos, new, read="1 (h w) d -> 1 d h w", write="1 d h w -> 1 (h w) d", **interpolate):
    """A student's answer: the right steps, any interpolation and any layout on the way in and out."""
    cls, patches, g, _ = _split(pos)
    grid = rearrange(patches, read, h=g)
    grid = F.interpolate(grid, size=(new, new), **({"mode": "bilinear", "align_corners": True} | interpolate))
    return torch.cat([cls, rearrange(grid, write, h=new)], dim=1)


def resize_ok(pos_embed, new_grid):
    cls, patches, g, d = _split(pos_embed)
    grid = patches.reshape(1, g, g, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=True)
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, d)], dim=1)


def test_the_reference_and_a_handwritten_answer_pass(capsys):
    assert check_resize_pos_embed(resize_pos_embed) is True
    assert check_resize_pos_embed(resize_ok) is True
    assert check_resize_pos_embed(_resize) is True
    assert "is correct" in capsys.readouterr().out


def test_not_attempted_prints_and_returns_false(capsys):
    def resize(pos_embed, new_grid):
        raise NotImplementedError

    assert check_resize_pos_embed(resize) is False
    assert "not attempted" in capsys.readouterr().out


def test_the_mistakes_all_differ_on_the_checker_input():
    """Each named mistake must be told apart from the right answer and from the others."""
    pos = torch.randn(1, 10, 4, generator=torch.Generator().manual_seed(0))
    right = resize_pos_embed(pos, 5)
    wrongs = _resize_mistakes(pos, 5)
    assert len(wrongs) >= 10
    for i, (a, _) in enumerate(wrongs):
        assert a.shape == right.shape and not torch.allclose(a, right, atol=1e-3)
        for b, message in wrongs[i + 1:]:
            if "1D signal" not in message:  # the two 1D variants share a message
                assert not torch.allclose(a, b, atol=1e-3)


def _cls(pos):
    return pos[:, :1]


@pytest.mark.parametrize("answer, message", [
    (lambda p, n: _resize(p, n, align_corners=False), "align_corners=False"),
    (lambda p, n: _resize(p, n, mode="nearest", align_corners=None), "nearest-neighbour"),
    (lambda p, n: _resize(p, n, mode="bicubic"), "that is bicubic interpolation;"),
    (lambda p, n: _resize(p, n, mode="bicubic", align_corners=False), "bicubic interpolation with align_corners=False"),
    (lambda p, n: _resize(p, n, write="1 d h w -> 1 (w h) d"), "rows and columns of the grid are swapped"),
    (lambda p, n: _resize(p, n, read="1 (w h) d -> 1 d h w"), "rows and columns of the grid are swapped"),
    (lambda p, n: torch.cat([_cls(p), F.interpolate(p[:, 1:].reshape(1, p.shape[2], 3, 3), size=(n, n),
                                                    mode="bilinear", align_corners=True).reshape(1, n * n, -1)], 1),
     "reshaped \\(1, G\\*G, D\\) straight to \\(1, D, G, G\\) and back"),
    (lambda p, n: torch.cat([_cls(p), F.interpolate(rearrange(p[:, 1:], "1 (h w) d -> 1 d h w", h=3), size=(n, n),
                                                    mode="bilinear", align_corners=True).reshape(1, n * n, -1)], 1),
     "flattening back reshaped"),
    (lambda p, n: torch.cat([resize_pos_embed(p, n)[:, 1:], _cls(p)], dim=1), "row is at the end"),
    (lambda p, n: _resize(torch.cat([_cls(p), p[:, :-1]], dim=1), n), "built from the wrong rows"),  # pos[:, :G*G]
    (lambda p, n: F.interpolate(p.transpose(1, 2), size=1 + n * n, mode="linear").transpose(1, 2),
     "\\[class\\] token included, was interpolated as one 1D signal"),
    (lambda p, n: torch.cat([p[:, 1:].mean(1, keepdim=True), resize_pos_embed(p, n)[:, 1:]], dim=1),
     "the patch rows are right, but the \\[class\\] token's row changed"),
])
def test_each_mistake_is_named(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_resize_pos_embed(answer)


@pytest.mark.parametrize("answer, message", [
    (lambda p, n: resize_pos_embed(p, n)[:, 1:], "the \\[class\\] token's row is missing"),
    (lambda p, n: p, "still the old 3 x 3 grid"),
    (lambda p, n: resize_pos_embed(p, n)[0], "keep the leading batch axis"),
    (lambda p, n: rearrange(resize_pos_embed(p, n)[:, 1:], "1 (h w) d -> 1 d h w", h=n), "flatten it back"),
    (lambda p, n: torch.zeros(2, 3), "has shape \\(2, 3\\); expected \\(1, 1 \\+ new_grid\\*\\*2, D\\) = \\(1, 26, 4\\)"),
])
def test_wrong_shapes_get_a_hint(answer, message):
    with pytest.raises(ExerciseError, match=message):
        check_resize_pos_embed(answer)


def test_other_slips():
    with pytest.raises(ExerciseError, match="forget `return`"):
        check_resize_pos_embed(lambda p, n: None)
    with pytest.raises(ExerciseError, match="expected a torch.Tensor"):
        check_resize_pos_embed(lambda p, n: resize_pos_embed(p, n).tolist())
    with pytest.raises(ExerciseError, match="raised RuntimeError"):  # the student's own error, with the shapes
        check_resize_pos_embed(lambda p, n: p.reshape(1, 7, 7, 4))
    with pytest.raises(ExerciseError, match="don't hard-code"):
        check_resize_pos_embed(lambda p, n: _resize(p, 5) if p.shape[1] == 10 else _resize(p, 5)[:, :1 + n * n])
    with pytest.raises(ExerciseError, match="patch rows are wrong"):
        check_resize_pos_embed(lambda p, n: torch.cat([_cls(p), 2 * resize_pos_embed(p, n)[:, 1:]], dim=1))


def test_the_checker_leaves_the_input_alone():
    def in_place(pos_embed, new_grid):
        out = resize_pos_embed(pos_embed, new_grid)
        pos_embed.zero_()  # a student's function may scribble on its input; later checks must not see that
        return out

    assert check_resize_pos_embed(in_place) is True
