"""Tests for vitlib.baselines: shapes, blocks, and that each model learns the digits (the hybrid: test_hybrid.py)."""

import pytest
import torch
from torch import nn

from vitlib import checkpoints
from vitlib.baselines import BasicBlock, SmallCNN, SmallResNet, conv_bn_relu
from vitlib.data import load_digits
from vitlib.train import evaluate, fit


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


def test_bad_input():
    with pytest.raises(ValueError, match="widths"):
        SmallCNN(widths=())
    with pytest.raises(ValueError, match="blocks"):
        SmallResNet(blocks=0)
    with pytest.raises(ValueError, match="in_channels=3"):
        SmallCNN(1, 10)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        SmallResNet(1, 10, widths=(8, 16, 32, 64))(torch.rand(1, 1, 4, 4))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SmallCNN(1, 10, widths=(16, 32)),
        lambda: SmallResNet(1, 10, widths=(16, 32)),
    ],
    ids=["cnn", "resnet"],
)
def test_baselines_learn_digits(make, digits):
    train, test = digits
    torch.manual_seed(0)
    model = make()
    history = fit(model, train, test, epochs=3, lr=3e-3, batch_size=64, progress=False)
    assert history.test_acc[-1] > 0.85, history.test_acc  # chance is 0.1
    assert evaluate(model, test) == pytest.approx(history.test_acc[-1])


def test_checkpoint_of_a_cnn(tmp_path):
    cnn = SmallCNN(1, 4, widths=(4,))
    checkpoints.save(cnn, tmp_path / "c.pt")
    loaded = checkpoints.load(tmp_path / "c.pt")
    assert isinstance(loaded, SmallCNN) and loaded.cfg == cnn.cfg
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), cnn.state_dict().values()))
    resnet = SmallResNet(1, 4, widths=(4, 8))
    assert checkpoints.load(checkpoints.save(resnet, tmp_path / "r.pt")).cfg == resnet.cfg
