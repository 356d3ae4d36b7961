"""The exercise checkers of notebooks 00-02: right answers pass, each usual mistake gets its own message."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vitlib import checks
from vitlib.checks import ExerciseError
from vitlib.patches import PatchEmbed, patchify
from vitlib.probes import pos_embed_similarity


def not_attempted(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "check",
    [checks.check_num_patches, checks.check_patchify, checks.check_conv_weight_to_E, checks.check_embed_tokens,
     checks.check_pos_similarity],
)
def test_placeholder_is_not_attempted_yet(check, capsys):
    assert check(not_attempted) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check",
    [checks.check_num_patches, checks.check_patchify, checks.check_conv_weight_to_E, checks.check_embed_tokens,
     checks.check_pos_similarity],
)
def test_other_errors_name_the_function(check):
    def broken(*args):
        raise KeyError("oops")

    with pytest.raises(ExerciseError, match=r"broken\(.*raised KeyError"):
        check(broken)


# --- check_num_patches (00) -------------------------------------------------------------------


def test_num_patches_right(capsys):
    assert checks.check_num_patches(lambda size, p: (size // p) ** 2) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda size, p: size // p, "along one side"),
        (lambda size, p: (size // p) ** 2 + 1, "class] token"),
        (lambda size, p: size * size // p, "divided by P once"),
        (lambda size, p: size * size, "not pixels"),
        (lambda size, p: (size / p) ** 2, "integer division"),
        (lambda size, p: "196", "expected a number"),
        (lambda size, p: 100, r"expected N = H\*W / P\^2"),
    ],
)
def test_num_patches_mistakes(answer, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_num_patches(answer)


# --- check_patchify (01) ----------------------------------------------------------------------


def test_patchify_right(capsys):
    assert checks.check_patchify(patchify) is True
    assert checks.check_patchify(
        lambda x, p: rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
    ) is True
    # the same thing with reshape and permute
    def by_hand(x, p):
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # b h w p1 p2 c
        return x.reshape(b, (h // p) * (w // p), p * p * c)

    assert checks.check_patchify(by_hand) is True


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("b c (h p1) (w p2) -> b (h w) (c p1 p2)", r"flattened in the order \(c p1 p2\).*\(p1 p2 c\)"),
        ("b c (h p1) (w p2) -> b (h w) (p2 p1 c)", r"flattened in the order \(p2 p1 c\)"),
        ("b c (h p1) (w p2) -> b (w h) (p1 p2 c)", r"column order \(w h\)"),
        ("b c (h p1) (w p2) -> b (w h) (c p1 p2)", r"column order.*and each patch is flattened in the order \(c p1 p2\)"),
        ("b c (h p1) (w p2) -> b (p1 p2 c) (h w)", r"axes are swapped"),
    ],
)
def test_patchify_mistakes(pattern, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_patchify(lambda x, p: rearrange(x, pattern, p1=p, p2=p))


def test_patchify_wrong_shape_scale_and_hardcoding():
    with pytest.raises(ExerciseError, match=r"expected \(B, N, P\*P\*C\) = \(2, 6, 48\)"):
        checks.check_patchify(lambda x, p: patchify(x, p)[:, :-1])
    with pytest.raises(ExerciseError, match=r"multiplied by 255"):
        checks.check_patchify(lambda x, p: patchify(x, p) * 255)
    with pytest.raises(ExerciseError, match="hard-code"):
        checks.check_patchify(lambda x, p: patchify(x, 4) if p == 4 else torch.zeros(1, (x.shape[-1] // p) ** 2, p * p * x.shape[1]))
    with pytest.raises(ExerciseError, match="expected a torch.Tensor"):
        checks.check_patchify(lambda x, p: patchify(x, p).numpy())
    with pytest.raises(ExerciseError, match="different arrangement"):
        checks.check_patchify(lambda x, p: patchify(x, p).flip(-1))
    with pytest.raises(ExerciseError, match="not the image's pixels"):
        checks.check_patchify(lambda x, p: patchify(x, p) + 1)


# --- check_conv_weight_to_E (01) --------------------------------------------------------------


def test_conv_weight_to_E_right():
    assert checks.check_conv_weight_to_E(lambda w: rearrange(w, "d c p1 p2 -> (p1 p2 c) d")) is True
    assert checks.check_conv_weight_to_E(lambda w: w.permute(2, 3, 1, 0).reshape(-1, w.shape[0])) is True


def test_conv_weight_to_E_agrees_with_patch_embed():
    embed = PatchEmbed(image_size=8, patch_size=2, in_channels=3, dim=5)
    assert torch.equal(rearrange(embed.proj.weight, "d c p1 p2 -> (p1 p2 c) d"), embed.E)


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda w: w.reshape(w.shape[0], -1), r"transpose it"),
        (lambda w: w.reshape(w.shape[0], -1).T, r"rows are in \(c p1 p2\) order \(what weight.reshape"),
        (lambda w: rearrange(w, "d c p1 p2 -> (p2 p1 c) d"), r"rows are in \(p2 p1 c\) order"),
        (lambda w: w.flatten(), r"expected E of shape \(P\*P\*C, D\) = \(12, 5\)"),
        (lambda w: rearrange(w, "d c p1 p2 -> (p1 p2 c) d") * 2, r"not the conv weights rearranged"),
    ],
)
def test_conv_weight_to_E_mistakes(answer, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_conv_weight_to_E(answer)


# --- check_embed_tokens (02) ------------------------------------------------------------------


def test_embed_tokens_right():
    assert checks.check_embed_tokens(lambda x, cls, pos: torch.cat([cls.expand(len(x), -1, -1), x], 1) + pos) is True
    assert checks.check_embed_tokens(
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
        checks.check_embed_tokens(answer)


# --- check_pos_similarity (02) ----------------------------------------------------------------


def _cos(pos):
    e = F.normalize(pos[0, 1:], dim=-1)
    return e @ e.T


def test_pos_similarity_right():
    assert checks.check_pos_similarity(pos_embed_similarity) is True
    g = lambda pos: int((pos.shape[1] - 1) ** 0.5)  # noqa: E731
    assert checks.check_pos_similarity(lambda pos: _cos(pos).reshape(g(pos), g(pos), g(pos), g(pos))) is True


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
        checks.check_pos_similarity(answer)
