"""Tests for vitlib.train: learning happens, the schedule, determinism, checkpoints, Ctrl-C, metrics."""

import math
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from vitlib import ViT, ViTConfig  # noqa: E402
from vitlib import checkpoints  # noqa: E402
from vitlib import precision as precision_module  # noqa: E402
from vitlib.checkpoints import read_checkpoint  # noqa: E402
from vitlib.augment import augment, random_shift  # noqa: E402
from vitlib.data import load_digits  # noqa: E402
from vitlib.fractals import FractalDataset  # noqa: E402
from vitlib.precision import autocast_dtype, cpu_supports_bf16, pick_device  # noqa: E402
from vitlib.train import (  # noqa: E402
    History,
    classification_report,
    digits_vit_recipe,
    evaluate,
    fit,
    lr_at,
    predict,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_vit(seed: int = 0, **overrides) -> ViT:
    torch.manual_seed(seed)
    cfg = dict(image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=32, depth=2, heads=4, mlp_dim=64)
    return ViT(ViTConfig(**{**cfg, **overrides}))


@pytest.fixture(scope="module")
def digits():
    x_train, y_train, x_test, y_test = load_digits()
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny ViT trained for a few seconds on the 8x8 digits (shared by the metric tests)."""
    train, test = digits
    model = tiny_vit(dim=64, mlp_dim=128)
    history = fit(model, train, test, epochs=10, lr=2e-3, batch_size=64, warmup_epochs=1, seed=0, progress=False)
    return model, history


# ----------------------------------------------------------------------------- learning


def test_fit_learns_digits(trained, digits):
    model, history = trained
    _, test = digits
    assert isinstance(history, History) and history.epochs == 10 and not history.interrupted
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"):
        assert len(getattr(history, name)) == 10, name
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.test_acc[-1] > 0.8  # chance is 0.1
    assert evaluate(model, test) == pytest.approx(history.test_acc[-1], abs=1e-6)
    assert all(s > 0 for s in history.seconds) and history.total_seconds == pytest.approx(sum(history.seconds))
    assert history.best_test_acc == max(history.test_acc)


def test_evaluate_is_the_argmax_accuracy(trained, digits):
    model, _ = trained
    x, y = digits[1]
    with torch.no_grad():
        expected = (model(x).argmax(1) == y).float().mean().item()
    assert evaluate(model, (x, y), precision="fp32") == pytest.approx(expected)
    assert 0.0 <= evaluate(model, (x[:7], y[:7]), batch_size=3) <= 1.0
    logits, labels = predict(model, (x[:5], y[:5]))
    assert logits.shape == (5, 10) and logits.dtype == torch.float32 and torch.equal(labels, y[:5])
    assert model.training is False


def test_fit_on_a_dataset_without_test_data():
    ds = FractalDataset(num_classes=3, images_per_class=8, image_size=8, seed=0)
    model = tiny_vit(num_classes=3)
    history = fit(model, ds, epochs=2, batch_size=8, progress=False)
    assert history.epochs == 2 and all(math.isnan(a) for a in history.test_acc)
    assert 0.0 <= evaluate(model, ds) <= 1.0
    assert history.label_smoothing == 0.0 and history.num_classes == 3 and history.train_loss_floor == 0.0


def test_fit_records_what_the_train_loss_was_measured_against():
    ds = FractalDataset(num_classes=3, images_per_class=8, image_size=8, seed=0)
    history = fit(tiny_vit(num_classes=3), ds, epochs=1, batch_size=8, label_smoothing=0.1, progress=False)
    assert history.label_smoothing == 0.1 and history.num_classes == 3
    on, off = 1 - 0.1 + 0.1 / 3, 0.1 / 3  # the smoothed targets; the train loss cannot go below their entropy
    assert abs(history.train_loss_floor - (-on * math.log(on) - 2 * off * math.log(off))) < 1e-9
    assert History.from_dict(history.to_dict()) == history  # saved and restored with a checkpoint


def test_fit_with_a_cnn_and_fp32():
    x = torch.rand(32, 1, 8, 8)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()  # top half brighter?
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 2))
    history = fit(model, (x, y), (x, y), epochs=15, lr=3e-3, precision="fp32", progress=False, warmup_epochs=0)
    assert history.train_loss[-1] < history.train_loss[0] and history.test_acc[-1] > 0.8


def test_same_seed_same_history(digits):
    train, test = digits
    small_train = (train[0][:256], train[1][:256])
    kwargs = dict(epochs=2, batch_size=64, shift=1, label_smoothing=0.1, seed=3, progress=False)
    a = fit(tiny_vit(drop_path=0.1, dropout=0.1), small_train, test, **kwargs)
    b = fit(tiny_vit(drop_path=0.1, dropout=0.1), small_train, test, **kwargs)
    c = fit(tiny_vit(drop_path=0.1, dropout=0.1), small_train, test, **{**kwargs, "seed": 4})
    assert a.train_loss == b.train_loss and a.test_acc == b.test_acc and a.lr == b.lr
    assert a.train_loss != c.train_loss


def reference_fit(model, x, y, epochs, lr, batch_size, weight_decay, warmup_epochs, label_smoothing, seed):
    """fit written out straight (one process, fp32, no augmentation, no test data): the training fit must keep."""
    torch.manual_seed(seed)  # dropout and drop-path
    order_generator = torch.Generator().manual_seed(seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "token" not in n and "pos_embed" not in n]
    rest = [p for p in model.parameters() if all(p is not q for q in decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999))
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total, warmup, step, losses = epochs * steps_per_epoch, warmup_epochs * steps_per_epoch, 0, []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=order_generator)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, lr, warmup)
            loss = nn.functional.cross_entropy(model(x[index]).float(), y[index], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
    return losses


def test_fit_trains_exactly_as_the_loop_written_out(digits):
    """fit's parts (set-up, step, evaluation, checkpoints) add nothing to the training: the same weights, bit
    for bit."""
    x, y = digits[0][0][:100], digits[0][1][:100]
    settings = dict(epochs=2, lr=2e-3, batch_size=32, weight_decay=0.05, warmup_epochs=1, label_smoothing=0.1, seed=4)
    model, expected = tiny_vit(dropout=0.1, drop_path=0.1), tiny_vit(dropout=0.1, drop_path=0.1)
    history = fit(model, (x, y), precision="fp32", progress=False, **settings)
    losses = reference_fit(expected, x, y, **settings)
    for (name, a), b in zip(model.state_dict().items(), expected.state_dict().values()):
        assert torch.equal(a, b), name
    assert history.train_loss[-1] == pytest.approx(sum(losses[-4:-1]) * 32 / 100 + losses[-1] * 4 / 100)


def test_layer_decay_scales_each_layers_lr_and_1_changes_nothing():
    """fit(layer_decay=d) multiplies the schedule by each group's own scale d^(L+1-i) (param_groups_lrd):
    with depth 2 and d = 0.1 the patch embedding (layer 0) moves 0.1^3, a thousandth, as far as the head,
    relative to layer_decay=1; layer_decay=1 trains bit for bit as without it."""
    x, y = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 3
    settings = dict(epochs=1, lr=1e-3, batch_size=8, warmup_epochs=0, precision="fp32", progress=False)

    def trained(layer_decay):
        model = tiny_vit(num_classes=3, dim=16, depth=2, mlp_dim=32)
        start = {k: v.clone() for k, v in model.state_dict().items()}
        history = fit(model, (x, y), layer_decay=layer_decay, **settings)
        moved = {k: (v - start[k]).norm().item() for k, v in model.state_dict().items()}
        return model, moved, history

    plain, _, plain_history = trained(None)
    same, moved_1, same_history = trained(1.0)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), same.state_dict().values()))
    assert same_history.lr == plain_history.lr
    _, moved, history = trained(0.1)
    ratio = (moved["patch_embed.proj.weight"] / moved["head.weight"]) / (
        moved_1["patch_embed.proj.weight"] / moved_1["head.weight"])
    assert 0.8e-3 < ratio < 1.25e-3, ratio  # measured 1.01e-3
    assert history.lr == plain_history.lr  # History.lr is the head's: the schedule itself
    with pytest.raises(ValueError, match=r"layer_decay must be in \(0, 1\]"):
        fit(tiny_vit(), (x, y), layer_decay=0.0, **settings)
    with pytest.raises(ValueError, match="layer_decay needs a ViT.*Sequential"):
        fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), (x, y), layer_decay=0.5, **settings)


def test_fit_with_cutmix_trains_and_cutmix_0_changes_nothing():
    x = torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(24) % 3
    kwargs = dict(epochs=1, batch_size=8, shift=1, label_smoothing=0.1, seed=2, precision="fp32", progress=False)
    plain = fit(tiny_vit(num_classes=3, dim=16, depth=1, mlp_dim=32, dropout=0.1), (x, y), (x, y), **kwargs)
    off = fit(tiny_vit(num_classes=3, dim=16, depth=1, mlp_dim=32, dropout=0.1), (x, y), (x, y), cutmix=0.0, **kwargs)
    model = tiny_vit(num_classes=3, dim=16, depth=1, mlp_dim=32, dropout=0.1)
    mixed = fit(model, (x, y), (x, y), cutmix=1.0, **kwargs)
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "lr"):
        assert getattr(off, name) == getattr(plain, name), name  # bit for bit: cutmix=0 draws nothing
    assert mixed.epochs == 1 and math.isfinite(mixed.train_loss[0]) and 0 <= mixed.train_acc[0] <= 1
    assert mixed.train_loss != plain.train_loss and mixed.test_loss != plain.test_loss
    assert not model.training
    # a model without a config: K is its output width
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3))
    assert fit(cnn, (x, y), cutmix=0.5, **kwargs).epochs == 1


# ----------------------------------------------------------------------------- schedule and augmentation


def test_lr_schedule_values():
    lr, total, warm, final = 1e-3, 110, 10, 0.01
    assert lr_at(0, total, lr, warm, final) == pytest.approx(lr / 10)
    assert lr_at(4, total, lr, warm, final) == pytest.approx(lr / 2)
    assert lr_at(9, total, lr, warm, final) == pytest.approx(lr)  # warmup ends at the peak
    assert lr_at(10, total, lr, warm, final) == pytest.approx(lr)  # cosine starts at the peak
    mid = 10 + (total - warm - 1) / 2
    assert lr_at(int(mid), total, lr, warm, final) == pytest.approx(lr * (final + (1 - final) / 2), rel=0.02)
    assert lr_at(total - 1, total, lr, warm, final) == pytest.approx(lr * final)  # the last step is at lr * final
    values = [lr_at(s, total, lr, warm, final) for s in range(total)]
    assert all(a >= b for a, b in zip(values[warm:], values[warm + 1 :]))  # decays monotonically
    assert lr_at(0, 10, 1.0, 0, 0.0) == 1.0


def test_fit_follows_the_schedule(digits):
    train, _ = digits
    small = (train[0][:128], train[1][:128])  # 2 steps per epoch
    history = fit(tiny_vit(), small, epochs=3, lr=1e-2, batch_size=64, warmup_epochs=1, final_lr_fraction=0.1,
                  progress=False)
    assert history.lr[0] == pytest.approx(1e-2)  # the last warmup step is at the peak
    assert history.lr[-1] == pytest.approx(1e-3)  # the last step is at lr * final_lr_fraction


def test_random_shift_moves_content_within_range():
    image = torch.zeros(200, 1, 7, 7)
    image[:, 0, 3, 3] = 1.0  # one bright pixel in the middle
    shifted = random_shift(image, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == image.shape
    assert torch.equal(shifted.sum((1, 2, 3)), torch.ones(200))  # nothing lost, nothing duplicated
    where = shifted[:, 0].flatten(1).argmax(1)
    rows, cols = where // 7, where % 7
    assert rows.min() == 1 and rows.max() == 5 and cols.min() == 1 and cols.max() == 5  # all 5 offsets occur
    assert torch.equal(random_shift(image, 0), image)
    again = random_shift(image, 2, torch.Generator().manual_seed(0))
    assert torch.equal(again, shifted)


def test_random_shift_keeps_channels_together():
    image = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    shifted = random_shift(image, 1, torch.Generator().manual_seed(1))
    for b in range(2):  # each image is one translated copy of itself: find the offset that explains it
        padded = torch.nn.functional.pad(image[b], [1] * 4)
        matches = [torch.equal(padded[:, i : i + 4, j : j + 4], shifted[b]) for i in range(3) for j in range(3)]
        assert sum(matches) == 1


def test_augment_flip():
    image = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(100, 1, 1, 1)
    out = augment(image, flip=True, generator=torch.Generator().manual_seed(0))
    flipped = (out == image.flip(-1)).flatten(1).all(1)
    kept = (out == image).flatten(1).all(1)
    assert (flipped | kept).all() and 20 < flipped.sum() < 80
    assert torch.equal(augment(image), image)


# ----------------------------------------------------------------------------- hardware


def test_device_and_autocast_choice(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device().type in ("cpu", "mps")
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, precision="fp32") is None
    assert autocast_dtype(cpu, "bf16") == torch.bfloat16 and autocast_dtype(cpu, "fp16") == torch.float16
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: True)
    assert autocast_dtype(cpu) == torch.bfloat16
    monkeypatch.setattr(precision_module, "cpu_supports_bf16", lambda: False)
    assert autocast_dtype(cpu) is None
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(cuda) == torch.float16  # older GPUs: fp16 with a GradScaler
    assert autocast_dtype(torch.device("mps")) is None


def test_cpu_supports_bf16_reads_the_cpu_flags():
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if {"avx512_bf16", "amx_bf16"} & flags:
        assert cpu_supports_bf16()
    elif "AMX" not in torch.backends.cpu.get_cpu_capability().upper():
        assert not cpu_supports_bf16()


# ----------------------------------------------------------------------------- metrics and plots


def test_classification_report_matches_sklearn(trained, digits):
    from sklearn.metrics import f1_score

    model, _ = trained
    x, y = digits[1]
    report = classification_report(model, (x, y), class_names=[f"digit {i}" for i in range(10)])
    cm = report["confusion_matrix"]
    assert cm.shape == (10, 10) and cm.sum() == len(y)
    assert cm.sum(1).tolist() == torch.bincount(y, minlength=10).tolist()  # rows are the true classes
    assert report["accuracy"] == pytest.approx(evaluate(model, (x, y)))
    assert report["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    preds = predict(model, (x, y))[0].argmax(1).numpy()
    assert report["macro_f1"] == pytest.approx(f1_score(y.numpy(), preds, average="macro"))
    for i, row in enumerate(report["per_class"]):
        assert row["class"] == f"digit {i}" and row["support"] == cm[i].sum()
        assert row["recall"] == pytest.approx(cm[i, i] / cm[i].sum())
        assert row["precision"] == pytest.approx(cm[i, i] / max(cm[:, i].sum(), 1))
    with pytest.raises(ValueError, match="class names"):
        classification_report(model, (x, y), class_names=["a", "b"])


def test_fit_writes_vitlib_checkpoints_with_the_history(tmp_path, digits):
    train, test = digits
    model = tiny_vit()
    history = fit(model, (train[0][:128], train[1][:128]), test, epochs=2, checkpoint_dir=tmp_path, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["best.pt", "last.pt"]  # no temp file left
    state = read_checkpoint(tmp_path / "last.pt")
    assert state["config"] == model.cfg.to_dict() and state["model_class"] == "ViT"
    assert state["meta"]["epoch"] == 2 and History.from_dict(state["meta"]["history"]) == history
    fresh = checkpoints.load(tmp_path / "last.pt")
    x = test[0][:8]
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), model.eval()(x))


def test_checkpoint_of_any_module_is_read_weights_only(tmp_path, monkeypatch):
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    checkpoints.save(nn.Linear(2, 2), tmp_path / "m.pt")
    assert read_checkpoint(tmp_path / "m.pt")["model_class"] == "Linear"
    assert calls and calls[0]["weights_only"] is True
    with pytest.raises(ValueError, match="holds a Linear, which load cannot rebuild.*load_state_dict"):
        checkpoints.load(tmp_path / "m.pt")


# ----------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_from_a_callback_keeps_checkpoints_and_history(tmp_path, digits):
    train, test = digits
    small = (train[0][:128], train[1][:128])

    def stop_at_epoch_2(epoch, history, model):
        if epoch == 2:
            raise KeyboardInterrupt

    model = tiny_vit()
    history = fit(model, small, test, epochs=5, checkpoint_dir=tmp_path, progress=False, on_epoch_end=stop_at_epoch_2)
    assert history.interrupted and history.epochs == 2
    assert sorted(os.listdir(tmp_path)) == ["best.pt", "last.pt"]  # epoch 2 had ended: nothing else to keep
    last = read_checkpoint(tmp_path / "last.pt")
    assert last["meta"]["epoch"] == 2 and len(last["meta"]["history"]["train_loss"]) == 2
    best = read_checkpoint(tmp_path / "best.pt")
    assert best["meta"]["epoch"] == 1 + int(np.argmax(history.test_acc))
    assert best["meta"]["history"]["test_acc"][-1] == max(history.test_acc)


class InterruptAfter(nn.Module):
    """Wraps a model; raises KeyboardInterrupt on the n-th training forward pass (a mocked Ctrl-C)."""

    def __init__(self, model, n):
        super().__init__()
        self.model, self.n, self.calls = model, n, 0
        self.cfg = model.cfg

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
        return self.model(x)


def test_ctrl_c_mid_epoch_keeps_best_and_last(tmp_path, digits):
    train, test = digits
    small = (train[0][:128], train[1][:128])  # 2 batches per epoch: the 4th forward is inside epoch 2
    model = InterruptAfter(tiny_vit(), n=4)
    history = fit(model, small, test, epochs=5, checkpoint_dir=tmp_path, progress=True)
    assert history.interrupted and history.epochs == 1
    best, last = read_checkpoint(tmp_path / "best.pt"), read_checkpoint(tmp_path / "last.pt")
    stopped = read_checkpoint(tmp_path / "interrupted.pt")
    assert best["meta"]["epoch"] == last["meta"]["epoch"] == 1 and "training" in last  # last.pt: resumable
    assert stopped["meta"]["interrupted"] and stopped["meta"]["epoch"] == 1
    # interrupted.pt holds the weights as they were when Ctrl-C came (one step after epoch 1)
    assert torch.equal(stopped["state_dict"]["model.head.weight"], model.model.head.weight.detach())
    assert not torch.equal(last["state_dict"]["model.head.weight"], stopped["state_dict"]["model.head.weight"])
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_fit_without_checkpoints_on_ctrl_c(digits):
    train, _ = digits
    model = InterruptAfter(tiny_vit(), n=1)
    history = fit(model, (train[0][:64], train[1][:64]), epochs=2, progress=False)
    assert history.interrupted and history.epochs == 0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=0), "epochs"),
        (dict(lr=-1.0), "lr"),
        (dict(batch_size=0), "batch_size"),
        (dict(warmup_epochs=5), "warmup_epochs"),
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(shift=-1), "shift"),
        (dict(final_lr_fraction=2.0), "final_lr_fraction"),
        (dict(precision="fp64"), "precision"),
        (dict(cutmix=1.5), r"cutmix \(the probability of CutMix per batch\) must be in \[0, 1\]"),
    ],
)
def test_fit_bad_arguments(kwargs, message, digits):
    train, _ = digits
    with pytest.raises(ValueError, match=message):
        fit(tiny_vit(), train, **{"epochs": 2, **kwargs}, progress=False)


def test_fit_bad_data():
    model = tiny_vit()
    x, y = torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="B, C, H, W"):
        fit(model, (x[:, 0], y), progress=False)
    with pytest.raises(ValueError, match="labels"):
        fit(model, (x, y[:3]), progress=False)
    with pytest.raises(ValueError, match="integer"):
        fit(model, (x, y.float()), progress=False)
    with pytest.raises(ValueError, match="pair"):
        fit(model, x, progress=False)
    with pytest.raises(ValueError, match="test"):
        fit(model, (x, y), (x, y[:2]), progress=False)


# ----------------------------------------------------------------------------- the recipe


def test_digits_vit_recipe_fits_together_and_learns():
    data_kwargs, cfg, fit_kwargs = digits_vit_recipe(epochs=6)
    x_train, y_train, x_test, y_test = load_digits(**data_kwargs)
    assert x_train.shape[1:] == (cfg.in_channels, cfg.image_size, cfg.image_size)
    assert fit_kwargs["epochs"] == 6 and cfg.num_classes == 10
    torch.manual_seed(0)
    model = ViT(cfg)
    history = fit(model, (x_train, y_train), (x_test, y_test), progress=False, **fit_kwargs)
    assert history.test_acc[-1] > 0.75  # chance is 0.1; the full 50 epochs reach about 99%
