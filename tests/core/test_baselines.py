"""Tests for vitlib.baselines: shapes, the hybrid's tokens, and that each model learns the digits."""

import pytest
import torch
from torch import nn

from vitlib.baselines import BasicBlock, HybridConfig, HybridViT, SmallCNN, SmallResNet, conv_bn_relu
from vitlib.data import load_digits
from vitlib.embeddings import ClassToken, PositionEmbedding
from vitlib.encoder import Encoder
from vitlib.train import evaluate, fit, load_checkpoint, save_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    x_train, y_train, x_test, y_test = load_digits()
    return (x_train, y_train), (x_test, y_test)


@pytest.mark.parametrize("size", [8, 16, 32])
def test_shapes(size):
    x = torch.rand(2, 3, size, size)
    assert SmallCNN(3, 7)(x).shape == (2, 7)
    assert SmallResNet(3, 7)(x).shape == (2, 7)
    cfg = HybridConfig(image_size=size, in_channels=3, num_classes=7, stem_widths=(8, 16), dim=16, depth=1, heads=2,
                       mlp_dim=32)
    model = HybridViT(cfg)
    assert model(x).shape == (2, 7)
    assert cfg.grid_size == size // 2 and model.tokens(x).shape == (2, (size // 2) ** 2, 16)


def test_conv_bn_relu_and_basic_block():
    layer = conv_bn_relu(3, 5, stride=2)
    assert layer(torch.rand(2, 3, 8, 8)).shape == (2, 5, 4, 4)
    block = BasicBlock(4, 4).eval()
    x = torch.randn(2, 4, 6, 6)
    nn.init.zeros_(block.conv2[1].weight)  # silence the residual branch: what is left is the identity shortcut
    assert torch.allclose(block(x), torch.relu(x))
    down = BasicBlock(4, 8, stride=2)
    assert down(x).shape == (2, 8, 3, 3) and isinstance(down.shortcut, nn.Sequential)
    resnet = SmallResNet(1, 10, widths=(8, 16, 32), blocks=2)
    assert resnet.features(torch.rand(1, 1, 8, 8)).shape == (1, 32, 2, 2)
    assert resnet.reduction == 4 and len(resnet.stages) == 6


def test_hybrid_reuses_vitlib_token_modules_and_returns_attention():
    cfg = HybridConfig(image_size=8, stem_widths=(8, 16), dim=16, depth=2, heads=4, mlp_dim=32)
    model = HybridViT(cfg)
    assert isinstance(model.encoder, Encoder) and isinstance(model.cls_token, ClassToken)
    assert isinstance(model.pos_embed, PositionEmbedding)
    assert model.pos_embed.pos_embed.shape == (1, 1 + 16, 16)
    logits, attn = model(torch.rand(3, 1, 8, 8), return_attention=True)
    assert logits.shape == (3, 10) and len(attn) == 2 and attn[0].shape == (3, 4, 17, 17)
    assert torch.allclose(attn[0].sum(-1), torch.ones(3, 4, 17))
    assert torch.equal(logits, torch.zeros(3, 10))  # zero-initialised head, as for fine-tuning


def test_hybrid_tokens_are_the_feature_map_pixels():
    cfg = HybridConfig(image_size=8, stem_widths=(4, 8), dim=8, depth=1, heads=2, mlp_dim=16)
    model = HybridViT(cfg).eval()
    x = torch.rand(2, 1, 8, 8)
    features = model.stem.features(x)  # (2, 8, 4, 4)
    tokens = model.tokens(x)  # (2, 16, 8)
    row, col = 1, 3  # token index in raster order is row * W' + col
    assert torch.allclose(tokens[:, row * 4 + col], model.proj(features[:, :, row, col]), atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="multiple of 4"):
        HybridConfig(image_size=10, stem_widths=(8, 16, 32))
    with pytest.raises(ValueError, match="heads"):
        HybridConfig(dim=30, heads=4)
    with pytest.raises(ValueError, match="pos_embed"):
        HybridConfig(pos_embed="relative")
    with pytest.raises(ValueError, match="widths"):
        SmallCNN(widths=())
    with pytest.raises(ValueError, match="blocks"):
        SmallResNet(blocks=0)
    with pytest.raises(ValueError, match="in_channels=3"):
        SmallCNN(1, 10)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        SmallResNet(1, 10, widths=(8, 16, 32, 64))(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="16x16"):
        HybridViT(HybridConfig(image_size=16, stem_widths=(8,), dim=8, heads=2))(torch.rand(1, 1, 8, 8))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SmallCNN(1, 10, widths=(16, 32)),
        lambda: SmallResNet(1, 10, widths=(16, 32)),
        lambda: HybridViT(HybridConfig(image_size=8, stem_widths=(16, 32), dim=32, depth=1, heads=4, mlp_dim=64)),
    ],
    ids=["cnn", "resnet", "hybrid"],
)
def test_baselines_learn_digits(make, digits):
    train, test = digits
    torch.manual_seed(0)
    model = make()
    history = fit(model, train, test, epochs=3, lr=3e-3, batch_size=64, progress=False)
    assert history.test_acc[-1] > 0.85, history.test_acc  # chance is 0.1
    assert evaluate(model, test) == pytest.approx(history.test_acc[-1])


def test_checkpoint_of_a_hybrid(tmp_path):
    cfg = HybridConfig(image_size=8, stem_widths=(4, 8), dim=8, depth=1, heads=2, mlp_dim=16, num_classes=3)
    model = HybridViT(cfg)
    nn.init.normal_(model.head.weight)
    save_checkpoint(tmp_path / "h.pt", model)
    state = load_checkpoint(tmp_path / "h.pt")
    assert state["config"]["stem_widths"] == [4, 8] and state["meta"]["model_class"] == "HybridViT"
    restored = HybridViT(HybridConfig(**state["config"]))
    restored.load_state_dict(state["state_dict"])
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(restored.eval()(x), model.eval()(x))
    cnn = SmallCNN(1, 4, widths=(4,))
    save_checkpoint(tmp_path / "c.pt", cnn)
    assert SmallCNN(**load_checkpoint(tmp_path / "c.pt")["config"]).cfg == cnn.cfg
