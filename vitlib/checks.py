"""Auto-checkers for the "Your turn" exercises.

Each checker compares a student's answer with vitlib's reference and raises an
`ExerciseError` whose message says *what* is wrong (shape, order, scale, ...),
not just "wrong"; on success it prints a short confirmation and returns True.
"""

from __future__ import annotations

import torch

__all__ = ["ExerciseError", "check_close", "check_attention", "check_split_heads", "check_block_forward",
           "check_param_count"]


class ExerciseError(AssertionError):
    """A wrong exercise answer; the message explains what differs and how to fix it."""


def check_close(name: str, got, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Raise ExerciseError unless `got` is a tensor with `expected`'s shape and values."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name}: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != expected.shape:
        raise ExerciseError(f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if not torch.allclose(got.float(), expected.float(), atol=atol, rtol=rtol):
        diff = (got.float() - expected.float()).abs().max().item()
        raise ExerciseError(f"{name}: right shape, wrong values (max difference {diff:.3g})")


# --- notebooks 00-02 (patching, class token, position embeddings) -------------------------
#
# Pattern: the checker calls the student's function on small inputs whose values are all
# different, compares with vitlib's answer, and, when they differ, tries the usual mistakes
# (wrong flatten order, class token at the end, raw dot products, ...) to name the one made.
# A function that still raises NotImplementedError counts as "not attempted yet": the
# checker prints that and returns False, so a notebook with untouched exercises still runs.

import itertools  # noqa: E402

import torch.nn.functional as F  # noqa: E402
from einops import rearrange  # noqa: E402

__all__ += [
    "attempt",
    "check_num_patches",
    "check_patchify",
    "check_conv_weight_to_E",
    "check_embed_tokens",
    "check_pos_similarity",
]


def attempt(fn, *args):
    """Call a student's function; None if it still raises NotImplementedError (not attempted yet).

    Any other exception becomes an ExerciseError naming the function and the inputs' shapes.
    """
    name = getattr(fn, "__name__", "your function")
    try:
        return fn(*args)
    except NotImplementedError:
        return None
    except Exception as error:  # show the student's own error, with what it was called on
        shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)
        raise ExerciseError(f"{name}({shapes}) raised {type(error).__name__}: {error}") from error


def _not_attempted(name: str) -> bool:
    print(f"{name}: not attempted yet (it raises NotImplementedError). "
          "Replace `raise NotImplementedError` with your code and run the cell again.")
    return False


def _ok(name: str, what: str) -> bool:
    print(f"✓ {name} is correct: {what}")
    return True


def _same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4)


def _distinct_images(b: int, c: int, h: int, w: int) -> torch.Tensor:
    """(B, C, H, W) with every value different, so any rearrangement can be told apart."""
    return torch.arange(b * c * h * w, dtype=torch.float32).reshape(b, c, h, w) / (b * c * h * w)


def _scale_of(got: torch.Tensor, expected: torch.Tensor) -> float | None:
    """The factor s if got == s * expected (s != 1), else None."""
    denominator = (expected.float() ** 2).sum()
    if got.shape != expected.shape or denominator == 0:
        return None
    s = ((got.float() * expected.float()).sum() / denominator).item()
    return s if abs(s - 1) > 1e-3 and _same(got, s * expected) else None


def check_num_patches(fn) -> bool:
    """Exercise (00): fn(image_size, patch_size) -> N, the number of patches of a square image."""
    name = getattr(fn, "__name__", "your function")
    cases = [(224, 16), (224, 14), (384, 16), (224, 32), (32, 4)]
    for size, p in cases:
        got = attempt(fn, size, p)
        if got is None:
            return _not_attempted(name)
        side, n = size // p, (size // p) ** 2
        where = f"{name}({size}, {p}) returned {got!r}"
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise ExerciseError(f"{where}; expected a number (an int), got {type(got).__name__}")
        if got == side:
            raise ExerciseError(f"{where}: that is the number of patches along one side (H/P = {side}); "
                                f"N counts the whole grid: (H/P) * (W/P) = {n}")
        if got == n + 1:
            raise ExerciseError(f"{where}: that counts the [class] token too; N counts only the patches ({n})")
        if got == size * size // p:
            raise ExerciseError(f"{where}: you divided by P once; each patch covers P*P pixels, "
                                f"so N = H*W / P^2 = {n}")
        if got == n * 3 or got == size * size:
            raise ExerciseError(f"{where}: N counts patches, not pixels or values; expected {n}")
        if got != n:
            raise ExerciseError(f"{where}; expected N = H*W / P^2 = ({size}/{p})^2 = {n}")
        if not isinstance(got, int):
            raise ExerciseError(f"{where}, a float; N is a count: use integer division (//) to return {n}")
    return _ok(name, "ViT-B/16 at 224 px sees N = 196 patches, ViT-H/14 sees 256")


def _patchify_candidates(images: torch.Tensor, p: int) -> dict[str, torch.Tensor]:
    """Every (patch order, flatten order) einops pattern: the right one and the usual mistakes."""
    out = {}
    for grid in ("h w", "w h"):
        for order in itertools.permutations(("p1", "p2", "c")):
            flat = " ".join(order)
            out[f"({grid}) ({flat})"] = rearrange(images, f"b c (h p1) (w p2) -> b ({grid}) ({flat})", p1=p, p2=p)
    return out


def check_patchify(fn) -> bool:
    """Exercise (01): fn(images (B, C, H, W), P) -> patches (B, N, P*P*C), as vitlib.patches.patchify."""
    name = getattr(fn, "__name__", "your function")
    # A non-square image and 3 channels, so rows/columns and channel order can all be told apart.
    cases = [(_distinct_images(2, 3, 8, 12), 4), (_distinct_images(1, 1, 6, 6), 3), (_distinct_images(1, 3, 32, 32), 16)]
    for i, (images, p) in enumerate(cases):
        got = attempt(fn, images, p)
        if got is None:
            return _not_attempted(name)
        b, c, h, w = images.shape
        n, k = (h // p) * (w // p), p * p * c
        expected = _patchify_candidates(images, p)["(h w) (p1 p2 c)"]
        where = f"{name}(images of shape {(b, c, h, w)}, {p})"
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(f"{where} returned a {type(got).__name__}; expected a torch.Tensor")
        if _same(got, expected):
            continue
        if i > 0:  # right on the first case, wrong on a later one
            raise ExerciseError(f"{where} is wrong, though the first test was right: "
                                "don't hard-code the patch size, the channels or the image size")
        if got.shape == (b, k, n):
            raise ExerciseError(f"{where} has shape {tuple(got.shape)} = (B, P*P*C, N): the axes are swapped; "
                                f"each patch is a row: (B, N, P*P*C) = {(b, n, k)}")
        if got.shape != expected.shape:
            raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected (B, N, P*P*C) = {(b, n, k)} "
                                f"(N = H*W/P^2 = {h}*{w}/{p}^2 = {n} patches of P*P*C = {k} values)")
        scale = _scale_of(got, expected)
        if scale is not None:
            raise ExerciseError(f"{where}: right arrangement, but every value is multiplied by {scale:.4g}; "
                                "patchify only cuts and flattens, it must not rescale or normalise pixels")
        for pattern, candidate in _patchify_candidates(images, p).items():
            if _same(got, candidate):
                grid, flat = pattern.split(") (")
                problems = []
                if grid != "(h w":
                    problems.append("the patches are in column order (w h): read the grid row by row, "
                                    "'(h w)', so patch n sits at row n // (W/P), column n % (W/P)")
                if flat != "p1 p2 c)":
                    problems.append(f"each patch is flattened in the order ({flat}; the paper and vitlib flatten "
                                    "as (p1 p2 c): row within the patch, then column, then channel "
                                    "(so the C values of one pixel sit next to each other)")
                raise ExerciseError(f"{where}: right shape, but " + "; and ".join(problems))
        if torch.equal(got.flatten().sort().values, expected.flatten().sort().values):
            raise ExerciseError(f"{where}: right shape and the right pixels, but in a different arrangement; "
                                "use rearrange(images, 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)', p1=P, p2=P)")
        raise ExerciseError(f"{where}: right shape {tuple(got.shape)}, but the values are not the image's pixels "
                            "rearranged; patchify must only cut and flatten")
    return _ok(name, "(B, C, H, W) -> (B, N, P*P*C), patches row by row, each flattened as (p1 p2 c)")


def check_conv_weight_to_E(fn) -> bool:
    """Exercise (01): fn(conv weight (D, C, P, P)) -> E (P*P*C, D) with rows in patchify's (p1 p2 c) order."""
    name = getattr(fn, "__name__", "your function")
    d, c, p = 5, 3, 2
    weight = torch.arange(d * c * p * p, dtype=torch.float32).reshape(d, c, p, p)
    got = attempt(fn, weight)
    if got is None:
        return _not_attempted(name)
    expected = rearrange(weight, "d c p1 p2 -> (p1 p2 c) d")
    k = p * p * c
    where = f"{name}(weight of shape {(d, c, p, p)})"
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{where} returned a {type(got).__name__}; expected a torch.Tensor")
    if _same(got, expected):
        return _ok(name, "patchify(x) @ E + b now equals the stride-P convolution")
    if got.shape == (d, k):
        raise ExerciseError(f"{where} has shape {(d, k)} = (D, P*P*C): transpose it; E maps a patch (a row of "
                            f"P*P*C values) to D numbers, x_p E, so E is (P*P*C, D) = {(k, d)}")
    if got.shape != (k, d):
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}; expected E of shape (P*P*C, D) = {(k, d)}")
    for order in itertools.permutations(("p1", "p2", "c")):
        flat = " ".join(order)
        if _same(got, rearrange(weight, f"d c p1 p2 -> ({flat}) d")):
            hint = " (what weight.reshape(D, -1).T gives)" if flat == "c p1 p2" else ""
            raise ExerciseError(f"{where}: right shape, but the rows are in ({flat}) order{hint}; patchify flattens "
                                "each patch as (p1 p2 c), and row r of E must multiply value r of the patch: "
                                "rearrange(weight, 'd c p1 p2 -> (p1 p2 c) d')")
    raise ExerciseError(f"{where}: right shape, but the values are not the conv weights rearranged")


def _embed_reference(x: torch.Tensor, cls: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    return torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1) + pos


def check_embed_tokens(fn) -> bool:
    """Exercise (02): fn(patch tokens (B, N, D), class token (1, 1, D), E_pos (1, 1+N, D)) -> z0 (B, 1+N, D), Eq. 1."""
    name = getattr(fn, "__name__", "your function")
    g = torch.Generator().manual_seed(0)
    b, n, d = 2, 4, 6
    x, cls, pos = torch.randn(b, n, d, generator=g), torch.randn(1, 1, d, generator=g), torch.randn(1, 1 + n, d, generator=g)
    got = attempt(fn, x, cls, pos)
    if got is None:
        return _not_attempted(name)
    expected = _embed_reference(x, cls, pos)
    where = f"{name}(tokens {(b, n, d)}, cls {(1, 1, d)}, pos {(1, 1 + n, d)})"
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{where} returned a {type(got).__name__}; expected a torch.Tensor")
    if _same(got, expected):
        return _ok(name, "z0 = [x_class; x_p E] + E_pos, the class token first (Eq. 1)")
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
        if _same(got, candidate):
            raise ExerciseError(f"{where}: right shape, but {message}")
    raise ExerciseError(f"{where}: right shape, wrong values; z0 = torch.cat([cls.expand(B, -1, -1), x], dim=1) + pos")


def check_pos_similarity(fn) -> bool:
    """Exercise (02): fn(pos_embed (1, 1+G*G, D)) -> (G, G, G, G) cosine similarities, class token excluded."""
    from .probes import pos_embed_similarity

    name = getattr(fn, "__name__", "your function")
    g = torch.Generator().manual_seed(0)
    side, d = 3, 8
    pos = torch.randn(1, 1 + side * side, d, generator=g) + 0.5  # nonzero mean: dot products differ from cosines
    pos[0, 0] = 5.0  # a class-token row that stands out
    got = attempt(fn, pos)
    if got is None:
        return _not_attempted(name)
    expected = pos_embed_similarity(pos)
    n = side * side
    where = f"{name}(pos_embed of shape {tuple(pos.shape)}, a {side} x {side} grid)"
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{where} returned a {type(got).__name__}; expected a torch.Tensor")
    if _same(got, expected):
        return _ok(name, "sim[i, j, k, l] = cos(E_pos of patch (i, j), E_pos of patch (k, l)), class token excluded")
    grid = (side, side, side, side)
    if got.shape in ((1 + n, 1 + n), (1, 1 + n, 1 + n)):
        raise ExerciseError(f"{where} has shape {tuple(got.shape)}: the [class] token's row is included; drop it "
                            f"(pos_embed[0, 1:]) and reshape the {n} x {n} result to (G, G, G, G) = {grid}")
    if got.shape in ((n, n), (1, n, n)):
        if _same(got.reshape(n, n), expected.reshape(n, n)):
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
        if _same(got, candidate, atol=1e-4):
            raise ExerciseError(f"{where}: right shape, but {message}")
    raise ExerciseError(f"{where}: right shape, wrong values; expected the cosine similarity of every pair of "
                        "patch position embeddings, class token excluded")


# --- notebooks 03-04 (attention, encoder) -------------------------------------------------
#
# Each checker takes the student's function, runs it on fixed inputs and compares with the
# reference. If the answer is wrong, it also runs the typical mistakes (no 1/sqrt(d) scale,
# softmax over the wrong axis, heads split in the wrong order, post-norm, ...) and, when the
# answer equals one of them, says which. A function that still raises NotImplementedError
# (the placeholder in the notebook) prints "not attempted yet" (`_not_attempted`, shared with
# the section above) and returns False instead of failing.


def _try_answer(fn, args: tuple, name: str):
    """Call the student's `fn(*args)`: (True, result), or (False, None) after printing "not attempted yet".

    Unlike `attempt`, a function that returns None (a forgotten `return`) is not mistaken for an
    untouched exercise; other errors propagate, so the student sees their own traceback.
    """
    try:
        return True, fn(*args)
    except NotImplementedError:
        _not_attempted(name)
        return False, None


def _close_to(a, b, atol: float = 1e-5) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol)


def _name_the_mistake(name: str, got: torch.Tensor, expected: torch.Tensor, mistakes: list, atol: float = 1e-5) -> None:
    """Raise ExerciseError naming the mistake if `got` equals one of `mistakes` [(tensor, message)]."""
    if _close_to(got, expected, atol):
        return
    for wrong, message in mistakes:
        if _close_to(got, wrong, atol):
            raise ExerciseError(f"{name}: {message}")
    check_close(name, got, expected, atol=atol)


def check_attention(attention) -> bool:
    """Notebook 03, exercise 1: attention(q, k, v) -> (out, weights).

    q, k, v (B, H, T, d); weights = softmax(q k^T / sqrt(d)) over the keys (last axis), (B, H, T, T);
    out = weights @ v, (B, H, T, d).
    """
    import math

    gen = torch.Generator().manual_seed(0)
    b, h, t, d = 2, 3, 5, 16  # T != d, so a transposed product shows up in the shape
    q, k, v = (torch.randn(b, h, t, d, generator=gen) for _ in range(3))
    ok, result = _try_answer(attention, (q, k, v), "attention")
    if not ok:
        return False
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ExerciseError(f"attention: return a tuple (out, weights); got {type(result).__name__}")
    out, weights = result
    if not isinstance(out, torch.Tensor) or not isinstance(weights, torch.Tensor):
        raise ExerciseError("attention: out and weights must both be torch.Tensors")
    if out.shape == (b, h, t, t) and weights.shape == (b, h, t, d):
        raise ExerciseError("attention: return (out, weights) in that order; you returned (weights, out)")
    if weights.shape != (b, h, t, t):
        hint = " Did you compute q^T k instead of q k^T (k.transpose(-2, -1))?" if weights.shape == (b, h, d, d) else ""
        raise ExerciseError(
            f"attention: weights have shape {tuple(weights.shape)}, expected (B, H, T, T) = {(b, h, t, t)}: "
            f"one row per query, one column per key.{hint}"
        )
    scores = q @ k.transpose(-2, -1)  # (B, H, T, T), unscaled
    expected = (scores / math.sqrt(d)).softmax(dim=-1)
    _name_the_mistake("attention weights", weights, expected, [
        (scores.softmax(dim=-1), f"the 1/sqrt(d) scale is missing: divide the scores q k^T by sqrt(d) = "
                                 f"{math.sqrt(d):g} before the softmax (d = q.shape[-1], the size of one head)"),
        ((scores / d).softmax(dim=-1), f"you divided the scores by d = {d}; divide by sqrt(d) = {math.sqrt(d):g}"),
        ((scores * math.sqrt(d)).softmax(dim=-1), "you multiplied the scores by sqrt(d); divide by it instead"),
        ((scores / math.sqrt(d)).softmax(dim=-2), "softmax over the wrong axis: your columns sum to 1. Each row "
                                                  "(one query) must sum to 1 over the keys: softmax(dim=-1)"),
        (scores.softmax(dim=-2), "softmax over the wrong axis (columns sum to 1; use dim=-1) and the 1/sqrt(d) "
                                 "scale is missing"),
        (expected.transpose(-2, -1), "your weights are transposed: row i must hold query i's weights over "
                                     "all keys, softmax(q k^T / sqrt(d)) with softmax(dim=-1)"),
        (scores / math.sqrt(d), "the softmax is missing: weights = softmax(scores / sqrt(d), dim=-1)"),
        (scores, "the 1/sqrt(d) scale and the softmax are both missing"),
    ])
    expected_out = expected @ v
    if out.shape != (b, h, t, d):
        raise ExerciseError(f"attention: out has shape {tuple(out.shape)}, expected (B, H, T, d) = {(b, h, t, d)}")
    _name_the_mistake("attention out", out, expected_out, [
        (expected.transpose(-2, -1) @ v, "out uses the transposed weights: out = weights @ v"),
        (v, "out is v itself: mix the values with the weights, out = weights @ v"),
    ])
    return _ok("attention", "weights = softmax(q k^T / sqrt(d)) over the keys (each row sums to 1), out = weights @ v")


def check_split_heads(split_heads) -> bool:
    """Notebook 03, exercise 2: split_heads(x, heads): (B, T, D) -> (B, heads, T, D / heads).

    Head i takes the contiguous channels [i*D_h, (i+1)*D_h), i.e. einops 'b t (h d) -> b h t d'.
    """
    b, t, heads, dh = 2, 5, 3, 4  # all different, so every axis mix-up shows in the shape
    x = torch.arange(b * t * heads * dh, dtype=torch.float32).reshape(b, t, heads * dh)
    ok, got = _try_answer(split_heads, (x, heads), "split_heads")
    if not ok:
        return False
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"split_heads: expected a torch.Tensor, got {type(got).__name__}")
    expected = x.reshape(b, t, heads, dh).permute(0, 2, 1, 3)  # (B, H, T, D_h)
    shape_hints = {
        (b, t, heads, dh): "heads must come before tokens: (B, H, T, D_h); move the axis, e.g. 'b t (h d) -> b h t d'",
        (b, heads, dh, t): "the last two axes are swapped: (B, H, T, D_h) has tokens before head channels",
        (b, dh, t, heads): f"you made {dh} heads of {heads} channels: pass h=heads (the number of heads), not d=heads",
        (b * heads, t, dh): "keep the batch and head axes separate: (B, H, T, D_h), not (B*H, T, D_h)",
    }
    if got.shape != expected.shape:
        hint = shape_hints.get(tuple(got.shape), "")
        raise ExerciseError(f"split_heads: shape {tuple(got.shape)}, expected (B, H, T, D_h) = "
                            f"{tuple(expected.shape)}. {hint}".rstrip())
    _name_the_mistake("split_heads", got, expected, [
        (x.reshape(b, t, dh, heads).permute(0, 3, 1, 2),
         "heads split in the wrong order: you interleaved the channels (pattern '(d h)'), so head 0 got channels "
         f"0, {heads}, {2 * heads}, ... Each head must own a contiguous block of D_h channels: 'b t (h d) -> b h t d'"),
        (x.reshape(b, heads, t, dh),
         "you reshaped to (B, H, T, D_h) without moving an axis, which mixes tokens across heads. Reshape to "
         "(B, T, H, D_h) first, then swap T and H (or use einops 'b t (h d) -> b h t d')"),
    ])
    return _ok("split_heads", "(B, T, D) -> (B, H, T, D_h), each head a contiguous block of D_h channels")


def _random_block_parts(dim: int = 16, heads: int = 2, seed: int = 0):
    """LayerNorms with random affine parameters, an MSA callable and an MLP, all fixed by `seed`."""
    from torch import nn

    from .attention import MultiHeadSelfAttention
    from .encoder import MLP

    with torch.random.fork_rng(devices=[]):  # leave the notebook's random state alone
        torch.manual_seed(seed)
        norm1, norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        for norm in (norm1, norm2):  # random gain and bias, so swapping the two norms is visible
            nn.init.normal_(norm.weight, 1.0, 0.5)
            nn.init.normal_(norm.bias, 0.0, 0.5)
        msa = MultiHeadSelfAttention(dim, heads).eval()
        mlp = MLP(dim, 4 * dim).eval()
    return norm1, (lambda x: msa(x)[0]), norm2, mlp


def check_block_forward(block_forward) -> bool:
    """Notebook 04, exercise 1: block_forward(z, norm1, attn, norm2, mlp) -> z, the pre-norm block (Eq. 2-3).

    z' = z + attn(norm1(z));  out = z' + mlp(norm2(z')).   z (B, T, D) -> (B, T, D).
    """
    norm1, attn, norm2, mlp = _random_block_parts()
    z = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ok, got = _try_answer(block_forward, (z, norm1, attn, norm2, mlp), "block_forward")
        if not ok:
            return False
        expected = _block_pre_norm(z, norm1, attn, norm2, mlp)
        mistakes = [(wrong(z, norm1, attn, norm2, mlp), message) for wrong, message in _BLOCK_MISTAKES]
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"block_forward: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != z.shape:
        raise ExerciseError(f"block_forward: shape {tuple(got.shape)}, expected {tuple(z.shape)}: "
                            "a block maps (B, T, D) to (B, T, D)")
    _name_the_mistake("block_forward", got, expected, mistakes)
    return _ok("block_forward", "z' = z + MSA(LN(z)), out = z' + MLP(LN(z')), the pre-norm block of Eq. 2-3")


def _block_pre_norm(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))  # Eq. 2
    return z + mlp(norm2(z))  # Eq. 3


def _block_post_norm(z, norm1, attn, norm2, mlp):
    z = norm1(z + attn(z))
    return norm2(z + mlp(z))


def _block_no_residuals(z, norm1, attn, norm2, mlp):
    z = attn(norm1(z))
    return mlp(norm2(z))


def _block_no_first_residual(z, norm1, attn, norm2, mlp):
    z = attn(norm1(z))
    return z + mlp(norm2(z))


def _block_no_second_residual(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))
    return mlp(norm2(z))


def _block_normed_residuals(z, norm1, attn, norm2, mlp):
    n = norm1(z)
    z = n + attn(n)
    n = norm2(z)
    return n + mlp(n)


def _block_normed_first_residual(z, norm1, attn, norm2, mlp):
    n = norm1(z)
    z = n + attn(n)
    return z + mlp(norm2(z))


def _block_normed_second_residual(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))
    n = norm2(z)
    return n + mlp(n)


def _block_parallel(z, norm1, attn, norm2, mlp):
    return z + attn(norm1(z)) + mlp(norm2(z))


def _block_swapped_norms(z, norm1, attn, norm2, mlp):
    return _block_pre_norm(z, norm2, attn, norm1, mlp)


def _block_mlp_first(z, norm1, attn, norm2, mlp):
    z = z + mlp(norm2(z))
    return z + attn(norm1(z))


_BLOCK_MISTAKES = [
    (_block_post_norm, "this is post-norm (the original Transformer of 2017): LayerNorm after adding the residual. "
                 "ViT normalises the input of each sub-layer and leaves the residual stream alone: "
                 "z' = z + MSA(LN(z)) (Eq. 2)"),
    (_block_no_residuals, "both residual connections are missing: add each sub-layer's input back, "
                    "z' = z + MSA(LN(z)) and out = z' + MLP(LN(z'))"),
    (_block_no_first_residual, "the first residual connection is missing: z' = z + MSA(LN(z)) (Eq. 2)"),
    (_block_no_second_residual, "the second residual connection is missing: out = z' + MLP(LN(z')) (Eq. 3)"),
    (_block_normed_residuals, "the residuals must carry z itself, not LN(z): z' = z + MSA(LN(z)), not LN(z) + MSA(LN(z))"),
    (_block_normed_first_residual, "the first residual must carry z itself, not LN(z): z' = z + MSA(LN(z))"),
    (_block_normed_second_residual, "the second residual must carry z' itself, not LN(z'): out = z' + MLP(LN(z'))"),
    (_block_parallel, "the MLP must see z' (the output of the attention step), not z: the two steps run one after "
                "the other (Eq. 2, then Eq. 3), not in parallel"),
    (_block_swapped_norms, "the two LayerNorms are swapped: norm1 goes before the attention, norm2 before the MLP"),
    (_block_mlp_first, "wrong order: attention comes first (Eq. 2), then the MLP (Eq. 3)"),
]


# What a parameter count misses when it forgets a part: (what, how many parameters it has).
_PARAM_PARTS = [
    ("the class token (D)", lambda c, n, pc: c.dim),
    ("the class token's row of E_pos (it has N + 1 rows, not N)", lambda c, n, pc: c.dim),
    ("the bias of the patch embedding E (D)", lambda c, n, pc: c.dim),
    ("the final LayerNorm of Eq. 4 (gain and bias: 2D)", lambda c, n, pc: 2 * c.dim),
    ("the two LayerNorms in every block (4D per block)", lambda c, n, pc: c.depth * 4 * c.dim),
    ("the biases inside every block (qkv 3D, U_msa D, MLP mlp_dim + D)",
     lambda c, n, pc: c.depth * (5 * c.dim + c.mlp_dim)),
    ("the output projection U_msa of every block (D*D + D)", lambda c, n, pc: c.depth * (c.dim**2 + c.dim)),
    ("two of the three projections q, k, v (each D*D + D per block)", lambda c, n, pc: c.depth * 2 * (c.dim**2 + c.dim)),
    ("the second MLP layer of every block (mlp_dim*D + D)", lambda c, n, pc: c.depth * (c.mlp_dim * c.dim + c.dim)),
    ("the classification head (D*K + K)", lambda c, n, pc: c.dim * c.num_classes + c.num_classes),
    ("the head's bias (K)", lambda c, n, pc: c.num_classes),
    ("the position embeddings E_pos ((N + 1) x D)", lambda c, n, pc: (n + 1) * c.dim),
    ("the patch embedding E (P*P*C x D, plus its bias D)", lambda c, n, pc: pc * c.dim + c.dim),
]


def check_param_count(count_vit_params) -> bool:
    """Notebook 04, exercise 2: count_vit_params(image_size, patch_size, in_channels, dim, depth, mlp_dim,
    num_classes) -> int, the exact parameter count of a ViT (learned E_pos, class token, linear head).

    Compared with vitlib.cost.count_params on ViT-B/16 and on a small ViT; a wrong count is matched
    against the parts people forget (class token, LayerNorms, biases, ...).
    """
    from itertools import combinations

    from .cost import count_params
    from .model import ViTConfig

    configs = {
        "ViT-B/16 (224 px, 1000 classes)": ViTConfig.preset("B/16", num_classes=1000),
        "a small ViT (32 px, P=4, C=1, D=96, 3 blocks, MLP 200, 10 classes)":
            ViTConfig(image_size=32, patch_size=4, in_channels=1, dim=96, depth=3, heads=3, mlp_dim=200, num_classes=10),
    }
    got, expected = {}, {}
    for name, c in configs.items():
        args = (c.image_size, c.patch_size, c.in_channels, c.dim, c.depth, c.mlp_dim, c.num_classes)
        ok, value = _try_answer(count_vit_params, args, "count_vit_params")
        if not ok:
            return False
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            if hasattr(value, "__index__"):  # numpy integers
                value = int(value)
            else:
                raise ExerciseError(f"count_vit_params: return an int, got {type(value).__name__} ({value!r})")
        got[name], expected[name] = value, count_params(c)
    if got == expected:
        return _ok("count_vit_params", f"{', '.join(f'{v:,}' for v in got.values())} parameters, "
                   "equal to vitlib.cost.count_params (and to timm for ViT-B/16)")
    shortfall = [expected[name] - got[name] for name in configs]
    parts = [(what, [f(c, c.num_patches, c.patch_size**2 * c.in_channels) for c in configs.values()])
             for what, f in _PARAM_PARTS]
    explanations = [what for what, sizes in parts if sizes == shortfall]
    explanations += [f"{a} and {b}" for (a, sa), (b, sb) in combinations(parts, 2)
                     if [x + y for x, y in zip(sa, sb)] == shortfall]
    name = next(iter(configs))
    diff = shortfall[0]
    lines = [f"count_vit_params: {got[name]:,} for {name}, expected {expected[name]:,} "
             f"({'short by' if diff > 0 else 'too many by'} {abs(diff):,})."]
    if explanations:
        lines.append("That is exactly what you get if you forgot " + "; or ".join(explanations) + ".")
    elif diff < 0:
        lines.append("You count something twice or too big: heads do not add parameters (q, k, v are D x D "
                     "whatever the number of heads), and E_pos has N + 1 rows.")
    else:
        lines.append("Go through the parts: E and its bias, class token, E_pos, per block 2 LayerNorms, qkv, "
                     "U_msa, 2 MLP layers (with biases), the final LayerNorm, the head.")
    raise ExerciseError(" ".join(lines))


# --- notebooks 05 and 08 ---

__all__ += ["check_lr_schedule", "check_total_train_flops"]


def check_lr_schedule(lr_schedule) -> bool:
    """Notebook 05: lr_schedule(step, total_steps, lr, warmup_steps, lrf) must equal vitlib.train.lr_at."""
    import math

    from .train import lr_at

    cases = [(s, 100, 1e-3, 10, 0.01) for s in (0, 1, 5, 9, 10, 11, 50, 98, 99)] + [(s, 40, 2e-3, 0, 0.1) for s in (0, 20, 39)]
    mistakes = {
        "the warmup starts at 0 (lr * step / warmup_steps): the first step would not learn at all; use (step + 1)":
            lambda s, t, lr, w, f: lr * s / w if s < w else lr_at(s, t, lr, w, f),
        "there is no warmup: the first steps use the full lr":
            lambda s, t, lr, w, f: lr_at(s + w if s < w else s, t, lr, w, f) if w else lr_at(s, t, lr, w, f),
        "the cosine decays to 0 instead of to lr * lrf":
            lambda s, t, lr, w, f: lr_at(s, t, lr, w, 0.0),
        "the decay is linear, not a cosine":
            lambda s, t, lr, w, f: lr * (step_t := min((s - w) / max(t - w - 1, 1), 1.0), f + (1 - f) * (1 - step_t))[1]
            if s >= w else lr * (s + 1) / w,
        "the cosine runs over all total_steps, not over the steps after the warmup":
            lambda s, t, lr, w, f: lr * (f + (1 - f) * (1 + math.cos(math.pi * min(s / max(t - 1, 1), 1))) / 2)
            if s >= w else lr * (s + 1) / w,
    }
    got = []
    for case in cases:
        ok, value = _try_answer(lr_schedule, case, "lr_schedule")
        if not ok:
            return False
        try:
            got.append(float(value))
        except (TypeError, ValueError):
            raise ExerciseError(f"lr_schedule: return a float learning rate, got {type(value).__name__}") from None
    expected = [lr_at(*c) for c in cases]
    if all(math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-12) for g, e in zip(got, expected)):
        return _ok("lr_schedule", "linear warmup + cosine decay, equal to vitlib.train.lr_at")
    for what, wrong in mistakes.items():
        if all(math.isclose(g, wrong(*c), rel_tol=1e-6, abs_tol=1e-12) for g, c in zip(got, cases)):
            raise ExerciseError(f"lr_schedule: close, but {what}.")
    first_bad = next(i for i, (g, e) in enumerate(zip(got, expected)) if not math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-12))
    s, t, lr, w, f = cases[first_bad]
    raise ExerciseError(f"lr_schedule: at step {s} of {t} (lr {lr}, warmup {w} steps, lrf {f}) you return "
                        f"{got[first_bad]:.3g}, expected {expected[first_bad]:.3g}. "
                        f"{'That step is in the warmup: lr * (step + 1) / warmup_steps.' if s < w else 'That step is in the cosine decay.'}")


def check_total_train_flops(total_train_flops) -> bool:
    """Notebook 08: total_train_flops(cfg, images_seen) = 3 x forward FLOPs per image x images seen."""
    from .cost import forward_flops
    from .model import ViTConfig

    configs = [ViTConfig(image_size=32, patch_size=8, in_channels=1, num_classes=10, dim=64, depth=4, heads=4, mlp_dim=128),
               ViTConfig(image_size=32, patch_size=4, in_channels=1, num_classes=10, dim=32, depth=2, heads=2, mlp_dim=64)]
    for cfg, seen in zip(configs, (1347 * 30, 500)):
        ok, got = _try_answer(total_train_flops, (cfg, seen), "total_train_flops")
        if not ok:
            return False
        f = forward_flops(cfg)
        expected = 3 * f * seen
        if got == expected:
            continue
        hints = {f * seen: "that is the forward pass only; backward costs about twice the forward, so x 3",
                 2 * f * seen: "x 2 counts forward + one backward matmul; backward needs two (gradients for inputs and weights): x 3",
                 3 * f: "that is one image; multiply by the number of images seen (training images x epochs)",
                 f: "that is one forward pass of one image"}
        raise ExerciseError(f"total_train_flops: {got:,} for P={cfg.patch_size}, D={cfg.dim}, {seen} images; expected "
                            f"{expected:,}. " + hints.get(got, "Use vitlib.cost.forward_flops(cfg) x 3 x images_seen."))
    return _ok("total_train_flops", "3 x forward FLOPs x images seen, as vitlib.cost.train_flops(cfg) x images")


# --- notebook 06 ---

__all__ += ["check_patch_attention", "check_head_distance"]


def _random_attention(b: int = 2, h: int = 3, g: int = 3, seed: int = 0) -> torch.Tensor:
    """(B, H, T, T) attention weights with T = 1 + g*g, rows summing to 1, the [class] key weighted heavily."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(b, h, 1 + g * g, 1 + g * g, generator=gen)
    scores[..., 0] += 1.5  # the class-token key gets a lot of weight, so dropping it without renormalising shows
    return scores.softmax(dim=-1)


def check_patch_attention(fn) -> bool:
    """Notebook 06, exercise 1: fn(attn) -> (B, H, N, N): drop the [class] token as query and key, renormalise.

    attn (B, H, T, T) with T = 1 + N, the [class] token first; each row of the answer sums to 1.
    """
    attn = _random_attention()
    ok, got = _try_answer(fn, (attn,), "patch_attention")
    if not ok:
        return False
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"patch_attention: return a torch.Tensor, got {type(got).__name__}")
    b, h, t, _ = attn.shape
    patches = attn[:, :, 1:, 1:]
    expected = patches / patches.sum(-1, keepdim=True)
    if got.shape != expected.shape:
        hint = ""
        if got.shape == (b, h, t, t - 1):
            hint = " You dropped the [class] key but kept the [class] query row: slice attn[:, :, 1:, 1:]."
        elif got.shape == (b, h, t - 1, t):
            hint = " You dropped the [class] query but kept the [class] key column: slice attn[:, :, 1:, 1:]."
        elif got.shape == attn.shape:
            hint = " The [class] token (index 0) must go, as query (rows) and as key (columns)."
        raise ExerciseError(f"patch_attention: shape {tuple(got.shape)}, expected (B, H, N, N) = "
                            f"{tuple(expected.shape)}.{hint}")
    _name_the_mistake("patch_attention", got, expected, [
        (patches, "you dropped the [class] token but did not renormalise: each row now sums to less than 1 "
                  f"(here {patches.sum(-1).mean():.2f} on average). Divide each row by its sum over the patch keys"),
        (patches / patches.sum(-2, keepdim=True), "you renormalised the columns: divide each *row* (one query) "
                                                  "by its sum over the keys, sum(dim=-1, keepdim=True)"),
        (attn[:, :, :-1, :-1] / attn[:, :, :-1, :-1].sum(-1, keepdim=True),
         "you dropped the last token; the [class] token is the first one (index 0)"),
        (patches.softmax(-1), "these are weights already: renormalise by dividing by the row sums, not with a "
                              "second softmax"),
    ])
    return _ok("patch_attention", "[class] token dropped as query and key, each query's weights renormalised "
                                  "over the patch keys (rows sum to 1)")


def check_head_distance(fn) -> bool:
    """Notebook 06, exercise 2: fn(attn_head, patch_size) -> the mean attention distance of one head, in pixels.

    attn_head (T, T): one image, one head, T = 1 + G*G with the [class] token first. The paper's
    convention: [class] excluded as query and key, weights renormalised over the patch keys,
    distance between patch centres in pixels, weighted by the attention, averaged over the queries.
    """
    from .probes import mean_attention_distance, patch_distances

    attn = _random_attention(b=1, h=1, g=4, seed=1)  # (1, 1, 17, 17)
    p = 8
    ok, got = _try_answer(fn, (attn[0, 0].clone(), p), "head_distance")
    if not ok:
        return False
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise ExerciseError(f"head_distance: return one number (a 0-d tensor or a float), got shape "
                                f"{tuple(got.shape)}; average the per-query distances with .mean()")
        got = got.item()
    if not isinstance(got, (int, float)):
        raise ExerciseError(f"head_distance: return a number, got {type(got).__name__}")
    expected = mean_attention_distance(attn, p).item()
    dist = patch_distances(4, p)
    patches = attn[0, 0, 1:, 1:]
    renorm = patches / patches.sum(-1, keepdim=True)
    mistakes = {
        (patches * dist).sum(-1).mean().item():
            "you did not renormalise: after dropping the [class] key, divide each row by its sum over the patch "
            "keys (this convention pulls heads that attend to [class] toward 0)",
        (renorm * dist / p).sum(-1).mean().item():
            f"your distance is in patches (grid units); multiply by the patch size P = {p} to get pixels",
        (renorm * dist).sum(-1).max().item(): "you took the largest per-query distance; average over the queries",
        (renorm * dist).sum(-1).sum().item(): "you summed over the queries; average them (.mean())",
        dist.mean().item(): "that is the distance with uniform attention: weight each distance by the attention",
    }
    if abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
        return _ok("head_distance", f"{got:.3f} px, the weighted distance to the patch keys averaged over the "
                                    "queries, with the weights renormalised over the patches")
    for value, message in mistakes.items():
        if abs(got - value) <= 1e-4 * max(1.0, abs(value)):
            raise ExerciseError(f"head_distance: {message}")
    raise ExerciseError(f"head_distance: got {got:.4f} px, expected {expected:.4f} px. Steps: drop row and column 0, "
                        "renormalise the rows, weight the distances between patch centres (in pixels) by the "
                        "weights, sum over the keys, average over the queries")


# --- notebook 07 (fine-tuning) ---

__all__ += ["check_resize_pos_embed"]


def _grid_resize(patches: torch.Tensor, g: int, new: int, **interpolate) -> torch.Tensor:
    """(1, G*G, D) patch rows -> (1, new*new, D): the right layout, any interpolation."""
    grid = rearrange(patches, "1 (h w) d -> 1 d h w", h=g)
    return rearrange(F.interpolate(grid, size=(new, new), **interpolate), "1 d h w -> 1 (h w) d")


def _resize_mistakes(pos: torch.Tensor, new: int) -> list:
    """[(wrong answer (1, 1+new*new, D), what is wrong)] for `pos` (1, 1+G*G, D), the usual slips."""
    from .embeddings import resize_pos_embed

    cls, patches = pos[:, :1], pos[:, 1:]
    t, d = patches.shape[1], patches.shape[2]
    g = int(round(t**0.5))
    bilinear = dict(mode="bilinear", align_corners=True)
    right = resize_pos_embed(pos, new)[:, 1:]  # (1, new*new, D)

    def with_cls(rows):
        return torch.cat([cls, rows], dim=1)

    def reshaped_in(rows):  # (1, G*G, D) reshaped straight to (1, D, G, G)
        return rows.reshape(1, d, g, g)

    def reshaped_out(grid):  # (1, D, new, new) reshaped straight to (1, new*new, D)
        return grid.reshape(1, new * new, d)

    no_permute = ("reshape moves numbers, it does not move axes: going between (G*G, D) and (D, G, G) needs "
                  "the D axis moved, e.g. rearrange(patches, '1 (h w) d -> 1 d h w', h=G) and back with "
                  "'1 d h w -> 1 (h w) d' (or .permute(0, 2, 1) before .reshape)")
    whole = rearrange(pos, "1 t d -> 1 d t")
    return [
        (with_cls(_grid_resize(patches, g, new, mode="bilinear", align_corners=False)),
         "align_corners=False: the corners of the old grid must land exactly on the corners of the new one, as in "
         "the paper's code (scipy.ndimage.zoom, order=1): F.interpolate(..., mode='bilinear', align_corners=True). "
         "(timm and Hugging Face use bicubic with align_corners=False; this exercise asks for the paper's)"),
        (with_cls(_grid_resize(patches, g, new, mode="nearest")),
         "that is nearest-neighbour interpolation: neighbouring new patches copy the same old embedding instead "
         "of blending them; use mode='bilinear', align_corners=True"),
        (with_cls(_grid_resize(patches, g, new, mode="bicubic", align_corners=True)),
         "that is bicubic interpolation; this exercise asks for bilinear (mode='bilinear', align_corners=True), "
         "what the paper's code does"),
        (with_cls(_grid_resize(patches, g, new, mode="bicubic", align_corners=False)),
         "that is bicubic interpolation with align_corners=False (what timm and Hugging Face do); this exercise "
         "asks for the paper's: mode='bilinear', align_corners=True"),
        (with_cls(rearrange(right, "1 (h w) d -> 1 (w h) d", h=new)),
         "the rows and columns of the grid are swapped (the result is transposed): patch n sits at row n // G, "
         "column n % G, so read and write the grid row by row, '(h w)' on both sides"),
        (with_cls(reshaped_out(F.interpolate(reshaped_in(patches), size=(new, new), **bilinear))),
         "you reshaped (1, G*G, D) straight to (1, D, G, G) and back; " + no_permute),
        (with_cls(reshaped_out(F.interpolate(rearrange(patches, "1 (h w) d -> 1 d h w", h=g), size=(new, new),
                                             **bilinear))),
         "the grid is right, but flattening back reshaped (1, D, G', G') straight to (1, G'*G', D); " + no_permute),
        (with_cls(rearrange(F.interpolate(reshaped_in(patches), size=(new, new), **bilinear), "1 d h w -> 1 (h w) d")),
         "you reshaped (1, G*G, D) straight to (1, D, G, G); " + no_permute),
        (torch.cat([right, cls], dim=1),
         "the [class] token's row is at the end; keep it first: torch.cat([pos_embed[:, :1], patches], dim=1)"),
        (with_cls(_grid_resize(pos[:, :t], g, new, **bilinear)),
         "the grid was built from the wrong rows (pos_embed[:, :G*G] holds the [class] token and drops the last "
         "patch); the patches are pos_embed[:, 1:]"),
        (rearrange(F.interpolate(whole, size=1 + new * new, mode="linear", align_corners=True), "1 d t -> 1 t d"),
         "the whole sequence, [class] token included, was interpolated as one 1D signal: set the [class] token's "
         "row aside, lay the patch rows out as a G x G grid and interpolate in 2D"),
        (rearrange(F.interpolate(whole, size=1 + new * new, mode="linear", align_corners=False), "1 d t -> 1 t d"),
         "the whole sequence, [class] token included, was interpolated as one 1D signal: set the [class] token's "
         "row aside, lay the patch rows out as a G x G grid and interpolate in 2D"),
    ]


def check_resize_pos_embed(fn) -> bool:
    """Exercise (07): fn(pos_embed (1, 1+G*G, D), new_grid) -> (1, 1+new_grid**2, D), as resize_pos_embed.

    The [class] token's row is kept as it is; the G*G patch rows become a (D, G, G) image, are resized
    by bilinear interpolation with align_corners=True and flattened back row by row.
    """
    from .embeddings import resize_pos_embed

    name = getattr(fn, "__name__", "your function")

    def call(pos, new):  # a tuple, so that a forgotten `return` is not taken for an untouched exercise
        return (fn(pos.clone(), new),)

    call.__name__ = name
    gen = torch.Generator().manual_seed(0)
    cases = [(torch.randn(1, 1 + 3 * 3, 4, generator=gen), 5), (torch.randn(1, 1 + 4 * 4, 3, generator=gen), 2)]
    for i, (pos, new) in enumerate(cases):
        d, t = pos.shape[2], pos.shape[1] - 1
        g = int(round(t**0.5))
        answer = attempt(call, pos, new)
        if answer is None:
            return _not_attempted(name)
        got = answer[0]
        where = f"{name}(pos_embed of shape {tuple(pos.shape)}, a {g} x {g} grid, new_grid={new})"
        expected = resize_pos_embed(pos, new)
        if got is None:
            raise ExerciseError(f"{where} returned None: did you forget `return`?")
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(f"{where} returned a {type(got).__name__}; expected a torch.Tensor")
        if _same(got, expected):
            continue
        if i > 0:
            raise ExerciseError(f"{where} is wrong, though the first test (3 x 3 -> 5 x 5, D = 4) was right: "
                                "don't hard-code the grid sizes or D; take G from pos_embed's shape "
                                "(G = isqrt(T - 1)) and D from its last axis")
        n2 = new * new
        shape = tuple(got.shape)
        shape_hints = {
            (1, n2, d): "the [class] token's row is missing: set pos_embed[:, :1] aside, resize only the patch rows "
                        "pos_embed[:, 1:], then put it back in front with torch.cat(..., dim=1)",
            (1, 1 + t, d): f"that is still the old {g} x {g} grid: resize the patch rows to new_grid x new_grid",
            (1, t, d): f"that is the old {g} x {g} grid without the [class] token: resize the patch rows to "
                       "new_grid x new_grid and keep the [class] token's row in front",
            (1, d, new, new): "that is the resized grid as an image (1, D, G', G'): flatten it back to "
                              "(1, G'*G', D), rearrange(grid, '1 d h w -> 1 (h w) d'), and put the [class] token "
                              "in front",
            (1, new, new, d): "flatten the grid back to one row per patch, (1, G'*G', D), and put the [class] "
                              "token in front",
            (1 + n2, d): "keep the leading batch axis of 1: (1, 1 + G'*G', D)",
            (n2, d): "keep the leading batch axis of 1 and the [class] token's row: (1, 1 + G'*G', D)",
        }
        if shape != tuple(expected.shape):
            hint = shape_hints.get(shape)
            raise ExerciseError(f"{where} has shape {shape}; expected (1, 1 + new_grid**2, D) = "
                                f"{tuple(expected.shape)}" + (f": {hint}" if hint else ""))
        for wrong, message in _resize_mistakes(pos, new):
            if _same(got, wrong):
                raise ExerciseError(f"{where}: right shape, but {message}")
        if _same(got[:, 1:], expected[:, 1:]):
            raise ExerciseError(f"{where}: the patch rows are right, but the [class] token's row changed: keep "
                                "pos_embed[:, :1] exactly as it is (it has no place on the grid)")
        if not _same(got[:, :1], pos[:, :1]):
            raise ExerciseError(f"{where}: right shape, but the [class] token's row (row 0) is not the input's: "
                                "keep pos_embed[:, :1] as it is and interpolate only the patch rows")
        raise ExerciseError(f"{where}: right shape and [class] row, but the patch rows are wrong. Steps: "
                            "rearrange(pos_embed[:, 1:], '1 (h w) d -> 1 d h w', h=G), F.interpolate(grid, "
                            "size=(new_grid, new_grid), mode='bilinear', align_corners=True), rearrange back "
                            "with '1 d h w -> 1 (h w) d'")
    return _ok(name, "the [class] token kept, the G x G grid of patch embeddings resized bilinearly "
                     "(align_corners=True, as in the paper's code) and flattened back row by row")
