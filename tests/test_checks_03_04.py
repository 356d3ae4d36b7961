"""The exercise checkers of notebooks 03-04: right answers pass, each typical mistake gets its own message."""

import math

import pytest
import torch
from einops import rearrange

from vitlib.checks import (ExerciseError, check_attention, check_block_forward, check_param_count,
                           check_split_heads)
from vitlib.cost import count_params
from vitlib.model import ViTConfig

# ------------------------------------------------------------------ attention (notebook 03, exercise 1)


def attention_ok(q, k, v):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return weights @ v, weights


def test_attention_correct_and_vitlib_pass(capsys):
    from vitlib.attention import scaled_dot_product_attention

    assert check_attention(attention_ok) is True
    assert check_attention(scaled_dot_product_attention) is True
    assert "is correct" in capsys.readouterr().out


def test_attention_not_attempted_prints_and_returns_false(capsys):
    def attention(q, k, v):
        raise NotImplementedError

    assert check_attention(attention) is False
    assert "not attempted yet" in capsys.readouterr().out


def _scores(q, k):
    return q @ k.transpose(-2, -1)


@pytest.mark.parametrize("weights_fn, message", [
    (lambda q, k: _scores(q, k).softmax(-1), "1/sqrt(d) scale is missing"),
    (lambda q, k: (_scores(q, k) / q.shape[-1]).softmax(-1), "divided the scores by d"),
    (lambda q, k: (_scores(q, k) * q.shape[-1] ** 0.5).softmax(-1), "multiplied the scores by sqrt(d)"),
    (lambda q, k: (_scores(q, k) / q.shape[-1] ** 0.5).softmax(-2), "softmax over the wrong axis: your columns"),
    (lambda q, k: _scores(q, k).softmax(-2), "wrong axis (columns sum to 1; use dim=-1) and the 1/sqrt(d)"),
    (lambda q, k: (_scores(k, q) / q.shape[-1] ** 0.5).softmax(-2), "weights are transposed"),
    (lambda q, k: _scores(q, k) / q.shape[-1] ** 0.5, "the softmax is missing"),
    (lambda q, k: _scores(q, k), "scale and the softmax are both missing"),
])
def test_attention_mistakes_are_named(weights_fn, message):
    def attention(q, k, v):
        weights = weights_fn(q, k)
        return weights @ v, weights

    with pytest.raises(ExerciseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_attention(attention)


def test_attention_shape_and_order_mistakes():
    with pytest.raises(ExerciseError, match="q\\^T k instead of q k\\^T"):
        check_attention(lambda q, k, v: (v, (q.transpose(-2, -1) @ k).softmax(-1)))
    with pytest.raises(ExerciseError, match="you returned \\(weights, out\\)"):
        check_attention(lambda q, k, v: attention_ok(q, k, v)[::-1])
    with pytest.raises(ExerciseError, match="return a tuple"):
        check_attention(lambda q, k, v: attention_ok(q, k, v)[0])
    with pytest.raises(ExerciseError, match="transposed weights: out = weights @ v"):
        check_attention(lambda q, k, v: (attention_ok(q, k, v)[1].transpose(-2, -1) @ v, attention_ok(q, k, v)[1]))
    with pytest.raises(ExerciseError, match="wrong values"):  # an unrecognised mistake still says what differs
        check_attention(lambda q, k, v: (attention_ok(q, k, v)[0] * 2, attention_ok(q, k, v)[1]))


# ------------------------------------------------------------------ split_heads (notebook 03, exercise 2)


def test_split_heads_correct(capsys):
    assert check_split_heads(lambda x, h: rearrange(x, "b t (h d) -> b h t d", h=h)) is True
    assert check_split_heads(lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).transpose(1, 2)) is True
    assert "is correct" in capsys.readouterr().out


def test_split_heads_not_attempted(capsys):
    def split_heads(x, heads):
        raise NotImplementedError

    assert check_split_heads(split_heads) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda x, h: rearrange(x, "b t (d h) -> b h t d", h=h), "heads split in the wrong order"),
    (lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1), "without moving an axis"),
    (lambda x, h: rearrange(x, "b t (h d) -> b t h d", h=h), "heads must come before tokens"),
    (lambda x, h: rearrange(x, "b t (h d) -> b h d t", h=h), "last two axes are swapped"),
    (lambda x, h: rearrange(x, "b t (h d) -> b h t d", d=h), "pass h=heads"),
    (lambda x, h: rearrange(x, "b t (h d) -> (b h) t d", h=h), "keep the batch and head axes separate"),
])
def test_split_heads_mistakes_are_named(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_split_heads(fn)


# ------------------------------------------------------------------ block_forward (notebook 04, exercise 1)


def block_ok(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))
    return z + mlp(norm2(z))


def test_block_forward_correct(capsys):
    assert check_block_forward(block_ok) is True
    assert "is correct" in capsys.readouterr().out


def test_block_forward_not_attempted(capsys):
    def block_forward(z, norm1, attn, norm2, mlp):
        raise NotImplementedError

    assert check_block_forward(block_forward) is False
    assert "not attempted yet" in capsys.readouterr().out


def _post(z, n1, a, n2, m):
    z = n1(z + a(z))
    return n2(z + m(z))


def _no_res(z, n1, a, n2, m):
    return m(n2(a(n1(z))))


def _no_res1(z, n1, a, n2, m):
    z = a(n1(z))
    return z + m(n2(z))


def _no_res2(z, n1, a, n2, m):
    return m(n2(z + a(n1(z))))


def _normed_res(z, n1, a, n2, m):
    z = n1(z) + a(n1(z))
    return n2(z) + m(n2(z))


def _parallel(z, n1, a, n2, m):
    return z + a(n1(z)) + m(n2(z))


def _mlp_first(z, n1, a, n2, m):
    z = z + m(n2(z))
    return z + a(n1(z))


@pytest.mark.parametrize("fn, message", [
    (_post, "post-norm"),
    (_no_res, "both residual connections are missing"),
    (_no_res1, "first residual connection is missing"),
    (_no_res2, "second residual connection is missing"),
    (_normed_res, "residuals must carry z itself"),
    (_parallel, "not in parallel"),
    (lambda z, n1, a, n2, m: block_ok(z, n2, a, n1, m), "LayerNorms are swapped"),
    (_mlp_first, "attention comes first"),
    (lambda z, n1, a, n2, m: block_ok(z, n1, a, n2, m)[:, 0], "a block maps \\(B, T, D\\)"),
])
def test_block_forward_mistakes_are_named(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_block_forward(fn)


# ------------------------------------------------------------------ count_vit_params (notebook 04, exercise 2)


def count_ok(image_size, patch_size, in_channels, dim, depth, mlp_dim, num_classes):
    n, pc = (image_size // patch_size) ** 2, patch_size**2 * in_channels
    block = 2 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + 2 * dim + (dim * mlp_dim + mlp_dim) + (mlp_dim * dim + dim)
    return pc * dim + dim + dim + (n + 1) * dim + depth * block + 2 * dim + dim * num_classes + num_classes


def test_param_count_correct(capsys):
    assert count_ok(224, 16, 3, 768, 12, 3072, 1000) == count_params(ViTConfig.preset("B/16")) == 86_567_656
    assert check_param_count(count_ok) is True
    assert check_param_count(lambda *a: float(count_ok(*a))) is True  # an integral float is accepted
    assert "is correct" in capsys.readouterr().out


def test_param_count_not_attempted(capsys):
    def count_vit_params(*args):
        raise NotImplementedError

    assert check_param_count(count_vit_params) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("minus, message", [
    (lambda s, p, c, d, L, m, k: d, "the class token \\(D\\)"),
    (lambda s, p, c, d, L, m, k: 2 * d, "the final LayerNorm"),
    (lambda s, p, c, d, L, m, k: L * 4 * d, "the two LayerNorms in every block"),
    (lambda s, p, c, d, L, m, k: L * (d * d + d), "output projection U_msa"),
    (lambda s, p, c, d, L, m, k: d * k + k, "the classification head"),
    (lambda s, p, c, d, L, m, k: k, "the head's bias"),
    (lambda s, p, c, d, L, m, k: L * (5 * d + m), "the biases inside every block"),
    (lambda s, p, c, d, L, m, k: L * 4 * d + 2 * d, "the final LayerNorm of Eq. 4 \\(gain and bias: 2D\\) and the two"),
])
def test_param_count_mistakes_are_named(minus, message):
    with pytest.raises(ExerciseError, match=message):
        check_param_count(lambda *a: count_ok(*a) - minus(*a))


def test_param_count_other_errors():
    with pytest.raises(ExerciseError, match="heads do not add parameters"):
        check_param_count(lambda *a: count_ok(*a) + 12345)
    with pytest.raises(ExerciseError, match="Go through the parts"):
        check_param_count(lambda *a: count_ok(*a) - 7)
    with pytest.raises(ExerciseError, match="return an int"):
        check_param_count(lambda *a: "86M")


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_attention(attention_ok)
    check_block_forward(block_ok)
    check_split_heads(lambda x, h: rearrange(x, "b t (h d) -> b h t d", h=h))
    check_param_count(count_ok)
    assert torch.equal(torch.rand(3), expected)
