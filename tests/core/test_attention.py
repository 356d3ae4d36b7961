import math

import pytest
import torch
import torch.nn.functional as F

from vitlib.attention import MultiHeadSelfAttention, fast_attention, scaled_dot_product_attention
from vitlib.model import ViTConfig


def test_written_out_attention_matches_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 7, 16).unbind(0)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 4, 7, 16) and weights.shape == (2, 4, 7, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 7), atol=1e-6)  # rows sum to 1
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5)


def test_scale_is_one_over_sqrt_d():
    q = torch.ones(1, 1, 2, 4)
    k = torch.tensor([[[[1.0, 1, 1, 1], [0, 0, 0, 0]]]])
    _, weights = scaled_dot_product_attention(q, k, torch.zeros(1, 1, 2, 4))
    # scores 4/sqrt(4) = 2 and 0
    assert torch.allclose(weights[0, 0, 0], torch.softmax(torch.tensor([2.0, 0.0]), 0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_path_matches_written_out(dtype):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 3, 17, 32).to(dtype).unbind(0)
    out, _ = scaled_dot_product_attention(q.float(), k.float(), v.float())
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    assert torch.allclose(fast_attention(q, k, v).float(), out, atol=tol)


def test_msa_equals_nn_multihead_attention():
    torch.manual_seed(0)
    dim, heads = 32, 4
    msa = MultiHeadSelfAttention(dim, heads).eval()
    ref = torch.nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():  # same layout: in_proj = [W_q; W_k; W_v], out_proj = U_msa
        ref.in_proj_weight.copy_(msa.qkv.weight)
        ref.in_proj_bias.copy_(msa.qkv.bias)
        ref.out_proj.weight.copy_(msa.proj.weight)
        ref.out_proj.bias.copy_(msa.proj.bias)
    x = torch.randn(2, 9, dim)
    expected, expected_weights = ref(x, x, x, need_weights=True, average_attn_weights=False)
    fast, none = msa(x)
    slow, weights = msa(x, return_attention=True)
    assert none is None
    assert torch.allclose(fast, expected, atol=1e-5)
    assert torch.allclose(slow, expected, atol=1e-5)
    assert torch.allclose(weights, expected_weights, atol=1e-6)


def test_heads_split_is_h_then_d():
    # head h reads channels [h*D_h, (h+1)*D_h) of q, k and v
    torch.manual_seed(0)
    msa = MultiHeadSelfAttention(8, 2)
    x = torch.randn(1, 5, 8)
    _, weights = msa(x, return_attention=True)
    q, k, _ = msa.qkv(x).split(8, dim=-1)
    scores = q[..., 4:] @ k[..., 4:].transpose(-2, -1) / math.sqrt(4)
    assert torch.allclose(weights[0, 1], scores[0].softmax(-1), atol=1e-6)


def test_dim_not_divisible_by_heads():
    with pytest.raises(ValueError, match="dim 100 is not divisible by heads 3"):
        MultiHeadSelfAttention(100, 3)


def test_no_qkv_bias():
    assert MultiHeadSelfAttention(8, 2, qkv_bias=False).qkv.bias is None


def test_one_heads_check_for_every_model():
    from vitlib.attention import check_heads
    check_heads(768, 12)
    with pytest.raises(ValueError, match=r"use heads in \[6, 8, 12\]"):
        check_heads(768, 10)
    with pytest.raises(ValueError, match="heads must be at least 1, got 0"):
        check_heads(64, 0)
    with pytest.raises(ValueError, match=r"dim 100 is not divisible by heads 3; use heads in \[1, 2, 4\]"):
        ViTConfig(dim=100, heads=3)  # the hybrid's config too: it is a ViTConfig
