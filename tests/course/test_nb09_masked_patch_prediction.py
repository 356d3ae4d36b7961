"""Tests of notebook 09 (masked patch prediction): the corruption drawing and widget, the comparison's runners,
the patch-targets checker."""

import numpy as np
import pytest
import torch
from einops import reduce
from helpers import changed  # tests/course/helpers.py
from matplotlib.figure import Figure

from vitlib.course.exercise import ExerciseError
from vitlib.course.nb09_masked_patch_prediction import (
    _target_mistakes,
    check_patch_targets,
    corrupt_and_predict,
    corruption_widget,
    few_shot,
    finetune_run,
    plot_corruption,
)
from vitlib.masked import KEPT, MASKED, SWAPPED, UNCHANGED, MaskedPatchPrediction, patch_targets
from vitlib.model import ViT, ViTConfig

CFG = ViTConfig(image_size=32, patch_size=4, in_channels=1, num_classes=0, dim=16, depth=1, heads=2, mlp_dim=32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MaskedPatchPrediction(ViT(CFG), cells=2).eval()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(3, 1, 32, 32, generator=g) > 0.7).float()  # sparse ink, like the formula images


def test_corrupt_and_predict_describes_every_patch(model, images):
    out = corrupt_and_predict(model, images[0], mask_rate=0.5, seed=1)
    assert out["how"].shape == (8, 8) and out["target"].shape == out["predicted"].shape == (16, 16)
    assert (out["how"] != UNCHANGED).sum() == 32
    assert set(out["how"].unique().tolist()) <= {UNCHANGED, MASKED, SWAPPED, KEPT}
    expected = patch_targets(images[:1], 4, cells=2)  # (1, 64, 4)
    assert torch.equal(reduce(out["target"], "(h s1) (w s2) -> (h w) (s1 s2)", "max", s1=2, s2=2), expected[0])
    assert 0 <= out["accuracy"] <= 1 and 0 <= out["empty"] <= 1
    assert model.mask_rate == 0.5  # the rate it was asked for was only for this call
    more = corrupt_and_predict(model, images[0], mask_rate=0.9, seed=1)
    assert (more["how"] != UNCHANGED).sum() == round(0.9 * 64)


def test_the_figure_and_widget_redraw_for_each_control(model, images):
    fig = plot_corruption(model, images[0])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    widget = corruption_widget(model, images)
    first = widget.figure
    for name, value in (("image", 2), ("mask rate", 0.8), ("draw", 3)):
        widget.controls[name].value = value
        assert changed(first, widget.figure), name
        first = widget.figure


def test_few_shot_and_finetune_give_accuracies(model):
    vit = model.vit
    cfg_vit = ViT(CFG.replace(num_classes=0))
    accs = few_shot(cfg_vit, seeds=(0, 1), shots=2)
    assert accs.shape == (2,) and ((0 <= accs) & (accs <= 1)).all()
    assert few_shot(cfg_vit, seeds=(0,), shots=2)[0] == accs[0]  # a seed draws the same labelled digits
    acc = finetune_run(vit, labels_per_class=2, seed=0, steps=2, lr=1e-3, precision="fp32", validation=True)
    assert 0 <= acc <= 1


def reference(images, patch_size, bits):
    return patch_targets(images, patch_size, bits)[..., 0]


def test_the_reference_answer_passes():
    assert check_patch_targets(reference) is True


def test_the_stub_is_not_attempted():
    def my_patch_targets(images, patch_size, bits):
        raise NotImplementedError

    assert check_patch_targets(my_patch_targets) is False


def test_every_usual_mistake_is_named():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 8, 12, generator=g)
    images[0, :, :4, :4] = 1.0
    images[1, 0, 4:, 8:] = 0.2
    mistakes = _target_mistakes(images, 4, 3)
    right = reference(images, 4, 3)
    for wrong, message in mistakes:
        assert not torch.equal(wrong, right), message  # each mistake gives a different answer on the test input

        def answer(x, p, bits, _wrong=wrong, _x=images):
            return _wrong if x.shape == _x.shape else reference(x, p, bits)

        with pytest.raises(ExerciseError) as error:
            check_patch_targets(answer)
        assert message in str(error.value)


def test_a_per_channel_answer_gets_the_shape_hint():
    def per_channel(images, patch_size, bits):
        means = reduce(images, "b c (h p1) (w p2) -> b (h w) c", "mean", p1=patch_size, p2=patch_size)
        return (means * 2**bits).floor().clamp(max=2**bits - 1).long()

    with pytest.raises(ExerciseError, match="combine the channels"):
        check_patch_targets(per_channel)


def test_hard_coded_bits_fail_the_second_case():
    def three_bits_always(images, patch_size, bits):
        return reference(images, patch_size, 3)

    with pytest.raises(ExerciseError, match="first test"):
        check_patch_targets(three_bits_always)


def test_distinct_mistakes_are_distinct():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 8, 12, generator=g)
    images[0, :, :4, :4] = 1.0
    images[1, 0, 4:, 8:] = 0.2
    answers = [w for w, _ in _target_mistakes(images, 4, 3)]
    for i in range(len(answers)):
        for j in range(i + 1, len(answers)):
            assert not np.array_equal(answers[i].numpy(), answers[j].numpy()), (i, j)
