"""vitlib.augment.cutmix: the box comes from the partner, targets weigh the pasted area, draws are reproducible."""

import pytest
import torch

from vitlib.augment import cutmix

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def constant_images(b: int = 4, c: int = 2, size: int = 8) -> torch.Tensor:
    """Image i is filled with the value i + 1 in every channel: where a pixel came from is its value."""
    return (torch.arange(b, dtype=torch.float32) + 1)[:, None, None, None].expand(b, c, size, size).clone()


def test_the_box_comes_from_the_reversed_batch_and_targets_weigh_its_area():
    images, labels = constant_images(), torch.tensor([0, 1, 2, 3])
    g = torch.Generator().manual_seed(0)
    pasted_somewhere = False
    for _ in range(20):
        mixed, targets = cutmix(images, labels, 1.0, num_classes=5, generator=g)
        assert mixed.shape == images.shape and targets.shape == (4, 5) and targets.dtype == torch.float32
        assert torch.allclose(targets.sum(1), torch.ones(4))
        for i in range(4):
            partner = 3 - i
            own = mixed[i] == i + 1
            assert (own | (mixed[i] == partner + 1)).all()  # every pixel is its own or its partner's
            assert torch.equal(own[0], own[1])  # the same box in every channel
            box = ~own[0]
            if box.any():  # one rectangle: its rows and columns span exactly its area
                rows, cols = box.any(1).nonzero(), box.any(0).nonzero()
                assert box.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
                pasted_somewhere = True
            pasted_share = box.float().mean().item()
            assert targets[i, labels[i]].item() == pytest.approx(1 - pasted_share)
            assert targets[i, labels[partner]].item() == pytest.approx(pasted_share)
        assert torch.equal(images, constant_images())  # the input is left as it was
    assert pasted_somewhere


def test_same_generator_seed_same_boxes():
    images, labels = torch.rand(6, 1, 10, 10), torch.tensor([0, 1, 2, 0, 1, 2])
    a = [cutmix(images, labels, 0.5, 3, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(a[0][0], a[1][0]) and torch.equal(a[0][1], a[1][1])
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(5):
        (x1, t1), (x2, t2) = cutmix(images, labels, 0.5, 3, g1), cutmix(images, labels, 0.5, 3, g2)
        assert torch.equal(x1, x2) and torch.equal(t1, t2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_probability_0_returns_the_input_and_draws_nothing():
    images, labels = torch.rand(4, 1, 8, 8), torch.tensor([2, 0, 1, 2])
    g = torch.Generator().manual_seed(3)
    before = g.get_state()
    mixed, targets = cutmix(images, labels, 0.0, 3, g)
    assert mixed is images and torch.equal(g.get_state(), before)
    assert torch.equal(targets, torch.nn.functional.one_hot(labels, 3).float())


def test_a_batch_left_unmixed_still_draws_the_same_numbers():
    """Above 0, every call draws four numbers whether or not it cuts: the draws never depend on the images."""
    images, labels = torch.rand(4, 1, 8, 8), torch.tensor([2, 0, 1, 2])
    g, reference = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    mixed, targets = cutmix(images, labels, 1e-9, 3, g)  # practically never cuts
    reference.manual_seed(3), torch.rand(4, generator=reference)
    assert torch.equal(mixed, images) and torch.equal(targets, torch.nn.functional.one_hot(labels, 3).float())
    assert torch.equal(g.get_state(), reference.get_state())


def test_an_empty_share_draws_like_the_others():
    g, reference = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    mixed, targets = cutmix(torch.rand(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64), 1.0, 3, g)
    cutmix(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), 1.0, 3, reference)
    assert mixed.shape == (0, 1, 8, 8) and targets.shape == (0, 3)
    assert torch.equal(g.get_state(), reference.get_state())  # processes stay in step


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(probability=1.5), ValueError, r"cutmix probability must be in \[0, 1\], got 1.5"),
        (dict(probability=-0.1), ValueError, r"cutmix probability must be in \[0, 1\]"),
        (dict(probability="0.5"), TypeError, "cutmix probability must be a number"),
        (dict(num_classes=1), ValueError, "num_classes must be at least 2"),
        (dict(num_classes=2.0), TypeError, "num_classes must be a whole number"),
        (dict(labels=torch.tensor([0, 1, 3, 0])), ValueError, r"labels run from 0 to 3, outside the 3 classes 0..2"),
        (dict(labels=torch.tensor([0, -1, 2, 0])), ValueError, "labels run from -1 to 2"),
        (dict(labels=torch.tensor([0.0, 1.0, 2.0, 0.0])), ValueError, "labels must be integer class indices"),
        (dict(labels=torch.tensor([0, 1, 2])), ValueError, r"labels must have shape \(4,\)"),
        (dict(images=torch.rand(4, 8, 8)), ValueError, r"images must have shape \(B, C, H, W\)"),
    ],
)
def test_bad_inputs_name_the_problem(kwargs, error, message):
    args = dict(images=torch.rand(4, 1, 8, 8), labels=torch.tensor([0, 1, 2, 0]), probability=0.5, num_classes=3)
    with pytest.raises(error, match=message):
        cutmix(**{**args, **kwargs}, generator=torch.Generator().manual_seed(0))


def test_shares_of_a_global_batch_cut_the_same_box():
    """Under torchrun each process mixes its share with the same draws: the same box, the same lambda;
    the partner is the share reversed (so pairs differ from one process, like dropout masks)."""
    images, labels = constant_images(b=8), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])  # no image is its own partner
    whole, whole_targets = cutmix(images, labels, 1.0, 4, torch.Generator().manual_seed(5))
    box = (whole != images)[0, 0]  # (H, W)
    assert box.any() and (whole != images).all(1).eq(box).all()  # one box, the same in every image
    for share in (slice(0, 4), slice(4, 8)):
        mixed, targets = cutmix(images[share], labels[share], 1.0, 4, torch.Generator().manual_seed(5))
        assert torch.equal(mixed[:, :, box], images[share].flip(0)[:, :, box])  # from the share reversed
        assert torch.equal(mixed[:, :, ~box], images[share][:, :, ~box])
        own_weight = targets[torch.arange(4), labels[share]]
        assert torch.equal(own_weight, whole_targets[torch.arange(8), labels][share])  # the same lambda
