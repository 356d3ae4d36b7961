import pytest
import torch

from vitlib.encoder import MLP, DropPath, Encoder, EncoderBlock


def test_mlp_shape_and_gelu_kinds():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    exact, tanh = MLP(16, 64, gelu="exact"), MLP(16, 64, gelu="tanh")
    tanh.load_state_dict(exact.state_dict())
    assert exact(x).shape == (2, 5, 16)
    diff = (exact(x) - tanh(x)).abs().max().item()
    assert 0 < diff < 1e-2  # the tanh approximation is close, not equal
    with pytest.raises(ValueError, match="unknown GELU kind"):
        MLP(4, 8, gelu="relu")


def test_block_is_pre_norm_residual():
    torch.manual_seed(0)
    block = EncoderBlock(16, 4, 32).eval()
    z = torch.randn(2, 5, 16)
    z1 = z + block.attn(block.norm1(z))[0]  # Eq. 2
    z2 = z1 + block.mlp(block.norm2(z1))  # Eq. 3
    out, weights = block(z, return_attention=True)
    assert torch.allclose(out, z2, atol=1e-6)
    assert weights.shape == (2, 4, 5, 5)


def test_zeroed_branches_give_identity():
    block = EncoderBlock(8, 2, 16)
    for layer in (block.attn.proj, block.mlp.fc2):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    z = torch.randn(1, 3, 8)
    assert torch.equal(block(z)[0], z)  # the residual stream passes through unchanged


def test_drop_path():
    torch.manual_seed(0)
    drop = DropPath(0.5)
    x = torch.ones(1000, 3)
    y = drop(x)
    per_sample = y[:, 0]
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}  # whole samples dropped, kept ones scaled by 1/(1-p)
    assert torch.equal(y[:, 0], y[:, 2])
    assert abs(y.mean().item() - 1.0) < 0.1
    assert torch.equal(drop.eval()(x), x)


def test_encoder_drop_path_schedule_and_attention_list():
    enc = Encoder(4, 8, 2, 16, drop_path=0.3)
    assert [round(b.drop_path.p, 6) for b in enc.blocks] == [0.0, 0.1, 0.2, 0.3]
    out, attn = enc(torch.randn(2, 5, 8), return_attention=True)
    assert out.shape == (2, 5, 8) and len(attn) == 4 and attn[0].shape == (2, 2, 5, 5)
    assert enc(torch.randn(2, 5, 8))[1] == []


def test_encoder_is_permutation_equivariant():
    torch.manual_seed(0)
    enc = Encoder(2, 16, 4, 32).eval()
    z = torch.randn(2, 7, 16)
    perm = torch.randperm(7)
    assert torch.allclose(enc(z)[0][:, perm], enc(z[:, perm])[0], atol=1e-5)
