"""Secure, atomic save/load, and the timm and Google .npz converters."""

import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from layouts import google_arrays, google_forward  # tests/core/layouts.py

from vitlib import ViT, ViTConfig
from vitlib.checkpoints import load, save
from vitlib.converters import from_google_npz, from_timm


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = ViTConfig(**{**dict(image_size=16, patch_size=4, num_classes=5, dim=32, depth=2, heads=4, mlp_dim=64), **kw})
    model = ViT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


def test_save_load_round_trip(tmp_path):
    model = small_model(pos_embed="sincos2d", gelu="tanh")
    path = save(model, tmp_path / "sub" / "model.pt", accuracy=0.91, command="python -m x", history=[1.0, 0.5])
    loaded, meta = load(path, return_meta=True)
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(loaded.eval()(x), model(x))
    assert loaded.cfg == model.cfg
    assert meta == {"accuracy": 0.91, "command": "python -m x", "history": [1.0, 0.5]}
    assert os.listdir(tmp_path / "sub") == ["model.pt"]  # no temporary file left


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save(small_model(seed=1), path)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save(small_model(seed=2), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path / "missing.pt")
    good = save(small_model(), tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load(truncated)
    damaged = tmp_path / "damaged.pt"  # the directory intact, a tensor's bytes cut short
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 2] if "/data/" in item.filename else data)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load(damaged)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load(garbage)
    bare = tmp_path / "bare.pt"
    torch.save(small_model().state_dict(), bare)
    with pytest.raises(ValueError, match="not a vitlib checkpoint.*from_timm"):
        load(bare)


class _Exploit:
    def __reduce__(self):
        return (os.mkdir, (os.environ["VITLIB_TEST_MARKER"],))


def test_a_file_cannot_run_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("VITLIB_TEST_MARKER", str(marker))
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"format": "vitlib-checkpoint-v1", "x": _Exploit()}, f)  # a plain pickle, not a torch archive
    with pytest.raises(ValueError, match="corrupt"):
        load(evil)
    assert not marker.exists()
    torch.save({"format": "vitlib-checkpoint-v1", "x": _Exploit()}, tmp_path / "evil2.pt")  # a torch archive
    with pytest.raises(ValueError, match="more than tensors"):
        load(tmp_path / "evil2.pt")
    assert not marker.exists()


# --- timm ---------------------------------------------------------------------------------------

def to_timm_layout(model: ViT) -> dict:
    """vitlib -> timm names, as in timm's vision_transformer.py (timm fuses qkv, as vitlib does)."""
    out = {}
    for key, value in model.state_dict().items():
        key = key.replace("cls_token.token", "cls_token").replace("pos_embed.pos_embed", "pos_embed")
        out[key.replace("encoder.blocks.", "blocks.")] = value.clone()
    return out


def test_from_timm_identical_logits():
    model = small_model(seed=4)
    sd = to_timm_layout(model)
    assert "blocks.1.attn.qkv.weight" in sd and "patch_embed.proj.weight" in sd and "head.weight" in sd
    converted = from_timm(sd, heads=4).eval()
    x = torch.randn(3, 3, 16, 16)
    assert torch.allclose(converted(x), model(x), atol=1e-6)
    assert (converted.cfg.image_size, converted.cfg.depth, converted.cfg.mlp_dim) == (16, 2, 64)


def test_from_timm_needs_the_right_heads_and_sizes():
    model = small_model(seed=4)
    wrong = from_timm(to_timm_layout(model), heads=2).eval()  # loads, but attends differently
    x = torch.randn(3, 3, 16, 16)
    assert not torch.allclose(wrong(x), model(x), atol=1e-3)
    with pytest.raises(ValueError, match="mlp_dim=32 contradicts the checkpoint, which has mlp_dim=64"):
        from_timm(to_timm_layout(model), heads=4, mlp_dim=32)


# --- Google .npz --------------------------------------------------------------------------------



@pytest.mark.parametrize("pre_logits", [None, 16])
def test_from_google_npz_matches_the_jax_forward(tmp_path, pre_logits):
    rng = np.random.default_rng(0)
    arrays = google_arrays(rng, pre_logits=pre_logits)
    np.savez(tmp_path / "vit.npz", **arrays)
    model = from_google_npz(tmp_path / "vit.npz").eval()
    assert (model.cfg.heads, model.cfg.image_size, model.cfg.gelu, model.cfg.norm_eps) == (3, 12, "tanh", 1e-6)
    assert model.cfg.head == ("mlp" if pre_logits else "linear")
    images = rng.normal(size=(2, 3, 12, 12)).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(ours, google_forward(arrays, images), atol=1e-4)
    # the same from an in-memory dict
    assert np.allclose(from_google_npz(arrays).eval()(torch.from_numpy(images)).detach().numpy(), ours, atol=1e-6)


def test_from_google_npz_refuses_pickles(tmp_path):
    arrays = google_arrays(np.random.default_rng(0))
    arrays["evil"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ValueError, match="pickle"):
        from_google_npz(tmp_path / "evil.npz")


def test_write_atomic_writes_text_bytes_or_through_a_function(tmp_path):
    from vitlib.files import write_atomic

    assert write_atomic(tmp_path / "a.json", '{"x": 1}\n').read_text() == '{"x": 1}\n'
    assert write_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert write_atomic(tmp_path / "c.txt", lambda f: f.write(b"hi")).read_bytes() == b"hi"
    with pytest.raises(TypeError, match="content must be text, bytes or a function"):
        write_atomic(tmp_path / "d.txt", {"x": 1})
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.bin", "c.txt"]  # nothing half-written, no temp file
