"""fit in one process: resuming is exact (dropout included), its checkpoints are vitlib checkpoints, precision."""

import math

import pytest
import torch

from vitlib import ViT, ViTConfig, checkpoints
from vitlib.checkpoints import read_checkpoint
from vitlib.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_vit() -> ViT:
    torch.manual_seed(0)
    return ViT(ViTConfig(image_size=8, patch_size=2, in_channels=1, num_classes=3, dim=16, depth=1, heads=2,
                         mlp_dim=32, dropout=0.1, drop_path=0.1))


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(50, 1, 8, 8, generator=g), torch.randint(0, 3, (50,), generator=g)
    return (x[:40], y[:40]), (x[40:], y[40:])


# dropout, drop-path, shifts and flips: every generator a resume must restore is in use
SETTINGS = dict(epochs=3, lr=3e-3, batch_size=16, warmup_epochs=1, shift=1, flip=True, label_smoothing=0.1,
                seed=5, precision="fp32", progress=False)


def stop_after_epoch_1(epoch, history, model):
    if epoch == 1:
        raise KeyboardInterrupt  # as Ctrl-C would


def test_resume_after_ctrl_c_gives_the_weights_of_a_straight_run(tmp_path, data):
    train, test = data
    straight = tiny_vit()
    expected = fit(straight, train, test, **SETTINGS)
    stopped = fit(tiny_vit(), train, test, checkpoint_dir=tmp_path, on_epoch_end=stop_after_epoch_1, **SETTINGS)
    assert stopped.interrupted and stopped.epochs == 1
    resumed_model = tiny_vit()
    resumed = fit(resumed_model, train, test, checkpoint_dir=tmp_path, resume=True, **SETTINGS)
    for (name, a), b in zip(straight.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.train_loss == expected.train_loss and resumed.test_acc == expected.test_acc
    assert resumed.epochs == 3 and not resumed.interrupted


def test_resume_with_layer_decay_keeps_each_groups_scale(tmp_path, data):
    train, test = data
    settings = {**SETTINGS, "layer_decay": 0.5}
    straight = tiny_vit()
    fit(straight, train, test, **settings)
    fit(tiny_vit(), train, test, checkpoint_dir=tmp_path, on_epoch_end=stop_after_epoch_1, **settings)
    resumed = tiny_vit()
    fit(resumed, train, test, checkpoint_dir=tmp_path, resume=True, **settings)
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))
    with pytest.raises(ValueError, match="layer_decay: 0.5 in the checkpoint, None now"):
        fit(tiny_vit(), train, test, checkpoint_dir=tmp_path, resume=True, **SETTINGS)


def test_fit_checkpoints_load_with_checkpoints_load(tmp_path, data):
    train, test = data
    model = tiny_vit()
    fit(model, train, test, checkpoint_dir=tmp_path, **{**SETTINGS, "epochs": 1})
    for name in ("best.pt", "last.pt"):
        loaded, meta = checkpoints.load(tmp_path / name, return_meta=True)
        assert loaded.cfg == model.cfg and meta["epoch"] == 1 and meta["recipe"]["lr"] == 3e-3
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert "training" in read_checkpoint(tmp_path / "last.pt")
    assert "training" not in read_checkpoint(tmp_path / "best.pt")


def test_resume_refuses_another_format_and_a_file_without_training_state(tmp_path, data):
    train, _ = data
    torch.save({"model": {}}, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="not a vitlib checkpoint"):
        fit(tiny_vit(), train, checkpoint_dir=tmp_path, resume=True, **SETTINGS)
    checkpoints.save(tiny_vit(), tmp_path / "last.pt")
    with pytest.raises(ValueError, match="holds no training state to resume from"):
        fit(tiny_vit(), train, checkpoint_dir=tmp_path, resume=True, **SETTINGS)


def test_resume_needs_a_folder_and_starts_afresh_without_last_pt(tmp_path, data, capsys):
    train, _ = data
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        fit(tiny_vit(), train, resume=True, **SETTINGS)
    history = fit(tiny_vit(), train, checkpoint_dir=tmp_path, resume=True, **{**SETTINGS, "epochs": 1})
    assert history.epochs == 1 and "nothing to resume" in capsys.readouterr().out


def test_resume_names_the_settings_that_differ(tmp_path, data):
    train, _ = data
    fit(tiny_vit(), train, checkpoint_dir=tmp_path, **{**SETTINGS, "epochs": 1})
    with pytest.raises(ValueError, match=r"batch_size: 16 in the checkpoint, 8 now.*shift: 1 in the checkpoint, 0 now"):
        fit(tiny_vit(), train, checkpoint_dir=tmp_path, resume=True,
            **{**SETTINGS, "epochs": 1, "batch_size": 8, "shift": 0})


def test_resume_checks_cutmix_and_reads_a_recipe_from_before_it(tmp_path, data):
    train, _ = data
    fit(tiny_vit(), train, checkpoint_dir=tmp_path, **{**SETTINGS, "epochs": 2, "cutmix": 0.5},
        on_epoch_end=stop_after_epoch_1)
    with pytest.raises(ValueError, match=r"cutmix: 0.5 in the checkpoint, 0.0 now"):
        fit(tiny_vit(), train, checkpoint_dir=tmp_path, resume=True, **{**SETTINGS, "epochs": 2})
    assert fit(tiny_vit(), train, checkpoint_dir=tmp_path, resume=True,
               **{**SETTINGS, "epochs": 2, "cutmix": 0.5}).epochs == 2
    # a last.pt written before fit had cutmix: no such key, which counts as 0.0
    old = tmp_path / "old"
    fit(tiny_vit(), train, checkpoint_dir=old, **{**SETTINGS, "epochs": 2}, on_epoch_end=stop_after_epoch_1)
    payload = torch.load(old / "last.pt", weights_only=True)
    del payload["meta"]["recipe"]["cutmix"]
    torch.save(payload, old / "last.pt")
    with pytest.raises(ValueError, match=r"cutmix: 0.0 in the checkpoint, 1.0 now"):
        fit(tiny_vit(), train, checkpoint_dir=old, resume=True, **{**SETTINGS, "epochs": 2, "cutmix": 1.0})
    assert fit(tiny_vit(), train, checkpoint_dir=old, resume=True, **{**SETTINGS, "epochs": 2}).epochs == 2


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precisions_train_on_the_cpu(precision, data):
    train, _ = data
    history = fit(tiny_vit(), train, **{**SETTINGS, "epochs": 1, "precision": precision})
    assert history.epochs == 1 and math.isfinite(history.train_loss[0])
