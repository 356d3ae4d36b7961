"""Masked patch prediction (vitlib.masked): the corruption's rates, the targets, no label ever read, the
--objective masked pretraining and its checkpoint."""

import json

import pytest
import torch
from einops import reduce

from vitlib import checkpoints, pretrain
from vitlib.masked import (KEPT, MASKED, SWAPPED, UNCHANGED, MaskedPatchPrediction, choose_corrupted, corrupt,
                           masked_accuracy, patch_targets, train_masked)
from vitlib.model import ViT, ViTConfig

TINY_CFG = ViTConfig(image_size=16, patch_size=4, in_channels=1, num_classes=0, dim=16, depth=1, heads=2, mlp_dim=32)


def test_choose_corrupted_takes_exactly_the_rate_of_every_image():
    chosen = choose_corrupted(50, 64, 0.5, torch.Generator().manual_seed(0))
    assert chosen.shape == (50, 64) and (chosen.sum(dim=1) == 32).all()
    assert (choose_corrupted(3, 10, 0.15).sum(dim=1) == 2).all()  # round(1.5) = 2
    # every patch is as likely to be chosen as any other
    many = choose_corrupted(20000, 8, 0.5, torch.Generator().manual_seed(1)).float().mean(dim=0)
    assert torch.allclose(many, torch.full((8,), 0.5), atol=0.02)


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5])
def test_a_mask_rate_outside_0_1_is_refused(rate):
    with pytest.raises(ValueError, match="mask rate must be in"):
        choose_corrupted(2, 4, rate)


def test_corrupt_replaces_80_10_10_of_the_chosen_patches():
    b, n, d = 400, 64, 8
    tokens = torch.randn(b, n, d)
    mask_embedding = torch.full((d,), 7.0)  # a value no token has
    g = torch.Generator().manual_seed(0)
    chosen = choose_corrupted(b, n, 0.5, g)
    out, how = corrupt(tokens, mask_embedding, chosen, g)
    assert out.shape == tokens.shape
    assert ((how != UNCHANGED) == chosen).all()
    shares = torch.stack([(how[chosen] == k).float().mean() for k in (MASKED, SWAPPED, KEPT)])
    assert torch.allclose(shares, torch.tensor([0.8, 0.1, 0.1]), atol=0.015), shares  # 12,800 chosen patches
    assert (out[how == MASKED] == 7.0).all()
    assert torch.equal(out[how == UNCHANGED], tokens[how == UNCHANGED])
    assert torch.equal(out[how == KEPT], tokens[how == KEPT])
    swapped = out[how == SWAPPED]  # each one is some other token of the batch
    pool = tokens.reshape(-1, d)
    assert all((pool == row).all(dim=1).any() for row in swapped[:50])
    assert not torch.equal(swapped, tokens[how == SWAPPED])


def test_corrupt_refuses_shares_that_do_not_sum_to_one():
    with pytest.raises(ValueError, match="summing to 1"):
        corrupt(torch.zeros(1, 4, 2), torch.zeros(2), torch.ones(1, 4, dtype=torch.bool), replacement=(0.8, 0.1, 0.2))


def test_targets_are_the_quantised_patch_means():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, 16, 16, generator=g)
    targets = patch_targets(images, patch_size=4, bits=3)  # (B, N, 1)
    means = reduce(images, "b c (h p1) (w p2) -> b (h w) c", "mean", p1=4, p2=4)  # (B, N, 1)
    assert targets.shape == (3, 16, 1)
    assert torch.equal(targets, (means * 8).floor().long().clamp(max=7))
    assert torch.equal(patch_targets(torch.ones(1, 1, 8, 8), 4), torch.full((1, 4, 1), 7))  # white: top level
    assert torch.equal(patch_targets(torch.zeros(1, 1, 8, 8), 4), torch.zeros(1, 4, 1, dtype=torch.long))


def test_rgb_targets_have_512_colours_and_cells_cut_the_patch():
    image = torch.zeros(1, 3, 4, 4)
    image[0, 0] = 1.0  # pure red: level 7 in channel 0
    image[0, 2, :2, :2] = 1.0  # blue in the top-left quarter only
    assert patch_targets(image, 4, bits=3).item() == 7 + 8 * 8 * 2  # blue mean 0.25 -> level 2
    cells = patch_targets(image, 4, bits=3, cells=2)  # (1, 1, 4): top-left, top-right, bottom-left, bottom-right
    assert cells.tolist() == [[[7 + 64 * 7, 7, 7, 7]]]
    assert patch_targets(torch.ones(1, 3, 4, 4), 4).item() == 511


def test_targets_refuse_normalised_images_and_uneven_cells():
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        patch_targets(torch.randn(1, 1, 8, 8) * 3, 4)
    with pytest.raises(ValueError, match="must divide the patch size"):
        patch_targets(torch.rand(1, 1, 8, 8), 4, cells=3)


def test_the_model_predicts_every_patch_and_the_loss_reads_only_corrupted_ones():
    torch.manual_seed(0)
    model = MaskedPatchPrediction(ViT(TINY_CFG), cells=2)
    images = torch.rand(2, 1, 16, 16)
    logits, targets, how = model(images, torch.Generator().manual_seed(0))
    assert logits.shape == (2, 16, 4, 8) and targets.shape == (2, 16, 4) and how.shape == (2, 16)
    assert ((how != UNCHANGED).sum(dim=1) == 8).all()
    # changing the predictions of uncorrupted patches does not change the loss
    changed = logits.clone()
    changed[how == UNCHANGED] = 100.0
    assert torch.equal(model.loss(logits, targets, how), model.loss(changed, targets, how))


def test_a_hybrid_is_refused():
    from vitlib.hybrid import hybrid_vit

    with pytest.raises(ValueError, match="tokens are patches"):
        MaskedPatchPrediction(hybrid_vit(TINY_CFG.replace(patch_size=2), stem_widths=(4, 8)))


def test_training_learns_beyond_the_most_common_colour_without_labels(tmp_path):
    """Images of one flat grey level each: a hidden patch has the colour of the visible ones. Training must
    beat guessing (8 colours, each about 1/8 of the patches), which the untrained model does not."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 8, (160, 1, 1, 1), generator=g).float() / 8 + 1 / 16  # one level per image
    images = levels.expand(160, 1, 16, 16).contiguous()  # (160, 1, 16, 16)
    model = MaskedPatchPrediction(ViT(TINY_CFG))
    before = masked_accuracy(model, images[128:])
    history = train_masked(model, images[:128], images[128:], epochs=20, lr=3e-3, batch_size=16, shift=0,
                           precision="fp32", checkpoint_dir=tmp_path, progress=False)
    assert history.test_acc[-1] > 0.5 > before  # 8 colours, each about 1/8 of the patches
    saved = checkpoints.read_checkpoint(tmp_path / "last.pt")
    assert saved["meta"]["epoch"] == 20 and "mask_embedding" in saved["state_dict"]


def test_pretrain_masked_never_reads_a_label(tmp_path, monkeypatch):
    """--objective masked: the same checkpoint whatever the labels are (they are scrambled here)."""
    torch.set_num_threads(1)
    tiny = ["--classes", "4", "--images-per-class", "4", "--heldout-per-class", "2", "--epochs", "1", "--dim", "16",
            "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--batch-size", "8", "--workers", "1",
            "--objective", "masked", "--precision", "fp32"]
    first = pretrain.main(tiny + ["--out", str(tmp_path / "a"), "--name", "m"])
    real_make_data = pretrain.make_data

    def scrambled_labels(recipe, workers=1):
        (x, y), (xh, yh) = real_make_data(recipe, workers)
        return (x, torch.randint(0, 1000, y.shape)), (xh, torch.full_like(yh, -5))

    monkeypatch.setattr(pretrain, "make_data", scrambled_labels)
    second = pretrain.main(tiny + ["--out", str(tmp_path / "b"), "--name", "m"])
    assert first["sha256"] == second["sha256"]
    assert first["config"]["num_classes"] == 0 and first["recipe"]["objective"] == "masked"
    assert "corrupted patches" in first["heldout_metric"]
    vit = checkpoints.load(tmp_path / "a" / "m.pt")
    assert isinstance(vit, ViT) and vit(torch.rand(2, 1, 32, 32)).shape == (2, 16)  # features: no head
    assert json.loads((tmp_path / "a" / "m.json").read_text())["command"].count("--objective masked") == 1
    with pytest.raises(ValueError, match="continues supervised runs only"):
        pretrain.main(tiny + ["--out", str(tmp_path / "a"), "--name", "m", "--resume"])


def test_the_pixel_target_regresses_each_corrupted_patch():
    torch.manual_seed(0)
    model = MaskedPatchPrediction(ViT(TINY_CFG), target="pixels")
    images = torch.rand(2, 1, 16, 16)
    predicted, pixels, how = model(images, torch.Generator().manual_seed(0))
    assert predicted.shape == pixels.shape == (2, 16, 16)  # (B, N, P*P*C)
    corrupted = how != UNCHANGED
    expected = ((predicted[corrupted] - pixels[corrupted]) ** 2).mean()
    assert torch.allclose(model.loss(predicted, pixels, how), expected)
    with pytest.raises(ValueError, match="target must be one of"):
        MaskedPatchPrediction(ViT(TINY_CFG), target="depth")


def test_head_state_rebuilds_the_same_predictions():
    torch.manual_seed(0)
    model = MaskedPatchPrediction(ViT(TINY_CFG), cells=2).eval()
    images = torch.rand(3, 1, 16, 16)
    again = MaskedPatchPrediction.from_head_state(model.vit, json.loads(json.dumps(model.head_state())))
    first, _, _ = model(images, torch.Generator().manual_seed(4))
    second, _, _ = again(images, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)


def test_the_bundled_masked_vit_matches_its_manifest_and_fills_in():
    """masked-vit: the same ViT and data recipe as fractal-vit, objective masked, no head; its checkpoint carries
    the [mask] embedding and predictor, which beat always guessing 'empty' on held-out formula images."""
    from vitlib.fractals import heldout_fractals

    vit, info = checkpoints.pretrained("masked-vit", return_meta=True)
    supervised = checkpoints.manifest("fractal-vit")
    assert info["recipe"]["objective"] == "masked" and info["config"]["num_classes"] == 0
    assert info["command"].startswith("python -m vitlib.pretrain") and "--objective masked" in info["command"]
    same = ("classes", "images_per_class", "heldout_per_class", "image_size", "patch_size", "dim", "depth", "heads",
            "mlp_dim", "epochs", "lr", "batch_size", "weight_decay", "warmup_epochs", "shift", "flip", "seed")
    assert {k: info["recipe"][k] for k in same} == {k: supervised["recipe"][k] for k in same}  # the same budget
    assert {k: v for k, v in info["config"].items() if k not in ("num_classes", "head")} == \
        {k: v for k, v in supervised["config"].items() if k not in ("num_classes", "head")}
    model = MaskedPatchPrediction.from_head_state(vit, info["checkpoint_meta"]["masked_head"])
    images, _ = heldout_fractals(info["recipe"], count=200)
    accuracy = masked_accuracy(model, images, seed=0)
    logits, targets, how = model(images, torch.Generator().manual_seed(0))
    empty = (targets[how != UNCHANGED] == 0).float().mean().item()
    assert accuracy > empty
