"""python -m vitlib.pretrain, the bundled checkpoint (checkpoints.pretrained) and public weights downloads."""

import hashlib
import io
import json
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from vitlib import checkpoints, pretrain, resume
from vitlib.files import DownloadError
from vitlib.model import ViT, ViTConfig

from layouts import google_arrays, google_forward  # tests/core/layouts.py

TINY = ["--classes", "4", "--images-per-class", "6", "--heldout-per-class", "2", "--epochs", "2",
        "--dim", "16", "--depth", "1", "--heads", "2", "--mlp-dim", "32", "--batch-size", "8", "--workers", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain")
    torch.set_num_threads(1)
    manifest = pretrain.main(TINY + ["--out", str(out), "--name", "tiny"])
    return out, manifest


def test_pretrain_writes_checkpoint_and_manifest(tiny_run):
    out, manifest = tiny_run
    on_disk = json.loads((out / "tiny.json").read_text())
    assert on_disk == manifest
    path = out / "tiny.pt"
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["bytes"] == path.stat().st_size
    assert manifest["command"].startswith("python -m vitlib.pretrain ") and "--classes 4" in manifest["command"]
    assert "--out" not in manifest["command"]  # where the files went is not part of the recipe
    assert manifest["recipe"]["classes"] == 4 and manifest["recipe"]["seed"] == 0
    assert manifest["config"]["num_classes"] == 4 and manifest["config"]["head"] == "mlp"
    assert 0.0 <= manifest["heldout_accuracy"] <= 1.0 and len(manifest["heldout_accuracy_per_epoch"]) == 2
    assert manifest["train_seconds"] >= 0 and manifest["data_seconds"] >= 0
    assert "cpu" in manifest["machine"] and "torch" in manifest["machine"]
    assert (out / "tiny-run" / "best.pt").is_file()  # per-epoch checkpoints: an interrupted run keeps them


def test_pretrain_takes_fits_layer_decay(tmp_path):
    torch.set_num_threads(1)
    manifest = pretrain.main(TINY + ["--epochs", "1", "--layer-decay", "0.5", "--out", str(tmp_path), "--name", "lrd"])
    assert manifest["recipe"]["layer_decay"] == 0.5 and "--layer-decay 0.5" in manifest["command"]
    last = checkpoints.read_checkpoint(tmp_path / "lrd-run" / "last.pt")
    scales = sorted({g["lr_scale"] for g in last["training"]["optimizer"]["param_groups"]})
    assert scales == [0.25, 0.5, 1.0]  # depth 1: embeddings 0.5^2, the block 0.5, the head 1


def test_pretrain_stores_fp16_and_loads_as_fp32(tiny_run):
    out, _ = tiny_run
    raw = checkpoints.read_checkpoint(out / "tiny.pt")
    assert all(v.dtype == torch.float16 for v in raw["state_dict"].values() if v.is_floating_point())
    model, meta = checkpoints.load(out / "tiny.pt", return_meta=True)
    assert next(model.parameters()).dtype == torch.float32 and meta["recipe"]["classes"] == 4


def test_pretrain_is_reproducible(tiny_run, tmp_path):
    _, first = tiny_run
    torch.set_num_threads(1)
    second = pretrain.main(TINY + ["--out", str(tmp_path), "--name", "tiny"])
    assert second["sha256"] == first["sha256"]


def test_make_data_splits_instances_not_classes():
    recipe = {**pretrain.RECIPE, "classes": 3, "images_per_class": 4, "heldout_per_class": 2}
    (x, y), (xh, yh) = pretrain.make_data(recipe)
    assert x.shape == (12, 1, 32, 32) and xh.shape == (6, 1, 32, 32)
    assert torch.bincount(y).tolist() == [4, 4, 4] and torch.bincount(yh).tolist() == [2, 2, 2]
    assert not any(torch.equal(a, b) for a in x for b in xh)  # held-out images are other instances


# ----------------------------------------------------------------------------- the bundled checkpoint


@pytest.mark.parametrize("name", ["fractal-vit", "fractal-vit-seeded"])
def test_bundled_checkpoint_matches_its_manifest(name):
    names = checkpoints.available_pretrained()
    assert name in names
    model, info = checkpoints.pretrained(name, return_meta=True)
    assert isinstance(model, ViT) and not model.training
    assert model.cfg == ViTConfig(**info["config"])  # fields added since it was made take their defaults
    for key in ("sha256", "command", "heldout_accuracy", "train_seconds", "machine", "recipe"):
        assert key in info
    assert info["command"].startswith("python -m vitlib.pretrain")
    logits = model(torch.rand(2, 1, model.cfg.image_size, model.cfg.image_size))
    assert logits.shape == (2, info["config"]["num_classes"]) and torch.isfinite(logits).all()
    assert info["recipe"]["flip"] is False  # no left-right flips: no mirror-symmetric position embeddings
    assert info["recipe"]["init"] == ("locality" if name.endswith("seeded") else "standard")
    recipe = {**resume.ADDED_LATER, **info["recipe"]}  # made before cutmix was an option: it had none
    same_recipe = {k: v for k, v in recipe.items() if k not in ("name", "init", "precision")}
    assert same_recipe == {k: v for k, v in pretrain.RECIPE.items() if k not in ("name", "init", "precision")}


@pytest.fixture
def bundled_copy(tmp_path, monkeypatch, tiny_run):
    out, _ = tiny_run
    for f in ("tiny.pt", "tiny.json"):
        shutil.copy(out / f, tmp_path / f)
    monkeypatch.setattr(checkpoints, "_bundled", lambda: tmp_path)
    return tmp_path


def test_pretrained_verifies_the_sha256(bundled_copy):
    assert checkpoints.available_pretrained() == ["tiny"]
    checkpoints.pretrained("tiny")
    path = bundled_copy / "tiny.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256.*corrupt"):
        checkpoints.pretrained("tiny")


def test_pretrained_refuses_a_git_lfs_pointer(bundled_copy):
    (bundled_copy / "tiny.pt").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    with pytest.raises(ValueError, match="git checkout data/"):
        checkpoints.pretrained("tiny")


def test_pretrained_errors_name_the_fix(bundled_copy):
    with pytest.raises(ValueError, match=r"no bundled checkpoint named 'nope'; available: \['tiny'\]"):
        checkpoints.pretrained("nope")
    (bundled_copy / "tiny.pt").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        checkpoints.pretrained("tiny")


# ----------------------------------------------------------------------------- public weights


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def served_npz(monkeypatch):
    """A random vit_jax .npz served in place of the network; -> (arrays, raw bytes, list of fetched URLs)."""
    arrays = google_arrays(np.random.default_rng(0), pre_logits=12)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    raw = buffer.getvalue()
    fetched = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: fetched.append(url) or _Response(raw))
    return arrays, raw, fetched


def test_download_weights_with_a_known_sha256(tmp_path, served_npz):
    arrays, raw, fetched = served_npz
    digest = hashlib.sha256(raw).hexdigest()
    model = checkpoints.download_weights("ViT-B_16-i21k", root=tmp_path, sha256=digest)
    images = np.random.default_rng(1).normal(size=(2, 3, 12, 12)).astype(np.float32)
    with torch.no_grad():
        ours = model.eval()(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(ours, google_forward(arrays, images), atol=1e-4)  # identical logits
    checkpoints.download_weights("ViT-B_16-i21k", root=tmp_path, sha256=digest)
    assert fetched == [checkpoints.PUBLIC_WEIGHTS["ViT-B_16-i21k"]["url"]]  # the second call used the file


def test_download_weights_refuses_a_wrong_sha256(tmp_path, served_npz):
    with pytest.raises(ValueError, match="checksum mismatch"):
        checkpoints.download_weights("ViT-B_16-i21k", root=tmp_path, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []  # nothing half-written or unverified stays


def test_download_weights_records_and_then_checks_an_unpublished_sha256(tmp_path, served_npz):
    _, raw, _ = served_npz
    with pytest.warns(UserWarning, match="no checksum known"):
        checkpoints.download_weights("ViT-B_16-i21k", root=tmp_path)
    record = tmp_path / "ViT-B_16.npz.sha256"
    assert record.read_text().split()[0] == hashlib.sha256(raw).hexdigest()
    (tmp_path / "ViT-B_16.npz").write_bytes(raw[:-10])  # damaged later
    with pytest.raises(ValueError, match="corrupt or changed"):
        checkpoints.download_weights("ViT-B_16-i21k", root=tmp_path)


def test_download_weights_offline(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError, match="offline") as info:
        checkpoints.download_weights("ViT-B_16-i21k", root=tmp_path)
    assert "ViT-B_16.npz" in str(info.value) and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="unknown public weights"):
        checkpoints.download_weights("ViT-Z/99", root=tmp_path)


def test_initial_model_is_the_start_of_the_run_and_init_is_checked():
    recipe = {**pretrain.RECIPE, "classes": 4, "dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32}
    a, b = pretrain.initial_model(recipe), pretrain.initial_model(recipe)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    seeded = pretrain.initial_model({**recipe, "init": "locality"})
    assert not torch.equal(seeded.pos_embed.pos_embed, a.pos_embed.pos_embed)
    with pytest.raises(ValueError, match="--init must be one of"):
        pretrain.initial_model({**recipe, "init": "mimetic"})


def test_pretrain_flip_flag_parses_both_ways(tmp_path):
    torch.set_num_threads(1)
    manifest = pretrain.main(TINY + ["--epochs", "1", "--warmup-epochs", "0", "--flip", "--init", "locality",
                                     "--out", str(tmp_path), "--name", "tiny-flip"])
    assert manifest["recipe"]["flip"] is True and manifest["recipe"]["init"] == "locality"
    assert pretrain.RECIPE["flip"] is False  # the default: no flips, no mirror-symmetric position embeddings


def test_pretrain_cutmix_option(tiny_run, tmp_path):
    _, default = tiny_run
    assert default["recipe"]["cutmix"] == 0.0 and "--cutmix" not in default["command"]  # as typed: not given
    torch.set_num_threads(1)
    manifest = pretrain.main(TINY + ["--epochs", "1", "--cutmix", "1", "--out", str(tmp_path), "--name", "tiny-cutmix"])
    assert manifest["recipe"]["cutmix"] == 1.0 and "--cutmix 1" in manifest["command"]
    assert 0.0 <= manifest["heldout_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="cutmix"):
        pretrain.main(TINY + ["--epochs", "1", "--cutmix", "1.5", "--out", str(tmp_path), "--name", "bad"])


def test_a_recipe_from_before_cutmix_still_works():
    old = json.loads((checkpoints._bundled() / "fractal-vit.json").read_text())["recipe"]
    assert "cutmix" not in old  # the bundled manifests were made before the option
    small = {**old, "classes": 4, "dim": 16, "depth": 1, "heads": 2, "mlp_dim": 32}
    a, b = pretrain.initial_model(small), pretrain.initial_model({**small, "cutmix": 0.0})
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    (x, _), _ = pretrain.make_data({**small, "images_per_class": 1, "heldout_per_class": 1})
    assert x.shape == (4, 1, 32, 32)
    # resuming: a checkpoint's recipe without the key matches one with cutmix 0.0, at any depth
    assert resume.differences({"pretrain_recipe": old}, {"pretrain_recipe": {**old, "cutmix": 0.0}}) == []
    assert resume.differences({"pretrain_recipe": old}, {"pretrain_recipe": {**old, "cutmix": 0.5}}) == [
        "pretrain_recipe.cutmix: 0.0 in the checkpoint, 0.5 now"]
