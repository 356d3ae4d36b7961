"""Checkpoints: secure save/load, and converters from other implementations' ViT weights.

`save` / `load` write and read vitlib checkpoints: one file holding the config, the
weights and free-form metadata, written atomically and read with
`torch.load(weights_only=True)`, so nothing in a file can run code.

The bundled checkpoint: `pretrained(name)` loads a ViT that ships with the package (data/ in the
repository, the resources of `vitlib.bundled` once installed), after checking the sha256 in its
manifest. `python -m vitlib.pretrain` is how it was made; the manifest says how exactly.

Public weights: `download_weights(name)` fetches one of PUBLIC_WEIGHTS (the paper's .npz files)
where there is a network, verifies or records its sha256, and converts it (`from_google_npz`).

Converters (in `vitlib.converters`, importable from here too) give a vitlib `ViT` with the same
logits as the source, or a ValueError naming the source's keys: `from_timm`, `from_hf`,
`from_vit_pytorch`, `from_google_npz`.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .converters import from_google_npz, from_hf, from_timm, from_vit_pytorch, hf_config_to_vit_config
from .files import download_file, file_digest, read_secure, verify_download, write_atomic
from .model import ViT, ViTConfig

__all__ = ["save", "load", "pretrained", "available_pretrained", "manifest", "PUBLIC_WEIGHTS", "download_weights",
           "from_hf", "hf_config_to_vit_config", "from_timm", "from_vit_pytorch", "from_google_npz", "FORMAT"]

FORMAT = "vitlib-checkpoint-v1"


def save(model: ViT, path: str | os.PathLike, **meta) -> Path:
    """Write model (config + weights) and `meta` (plain values: str, numbers, lists, dicts) to `path`,
    atomically (`write_atomic`): an interruption never leaves a half-written checkpoint."""
    payload = {"format": FORMAT, "config": model.cfg.to_dict(), "meta": meta,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return write_atomic(payload, path)


def load(path: str | os.PathLike, return_meta: bool = False, map_location="cpu"):
    """Read a checkpoint written by `save` -> ViT (and its meta dict if return_meta).

    Secure: torch.load(weights_only=True) only rebuilds tensors and plain values.
    A missing, truncated or corrupt file, or a file of another format, gets a clear error.
    """
    payload = read_secure(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = ("it looks like a bare state dict: use from_timm(state_dict, heads=...) or from_hf(...)"
                if isinstance(payload, dict) else f"it holds a {type(payload).__name__}")
        raise ValueError(f"{path} is not a vitlib checkpoint ({FORMAT}); {hint}")
    model = ViT(ViTConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return (model, payload["meta"]) if return_meta else model


# ----------------------------------------------------------------------------- the bundled checkpoint

BUNDLED = "vitlib.bundled"  # the repository's data/ folder, installed as a package of resources


def _bundled():
    """The folder of bundled files, as an importlib.resources Traversable (data/ in a checkout)."""
    return resources.files(BUNDLED)


def available_pretrained() -> list[str]:
    """Names of the bundled checkpoints (one <name>.json manifest each)."""
    return sorted(f.name[: -len(".json")] for f in _bundled().iterdir() if f.name.endswith(".json"))


def manifest(name: str = "fractal-vit") -> dict:
    """The manifest of a bundled checkpoint: sha256, config, the exact command, accuracy, time, machine."""
    entry = _bundled() / f"{name}.json"
    if not entry.is_file():
        raise ValueError(f"no bundled checkpoint named {name!r}; available: {available_pretrained()}. "
                         "Make one with `python -m vitlib.pretrain --name NAME` (it writes data/NAME.pt and .json)")
    return json.loads(entry.read_text())


def pretrained(name: str = "fractal-vit", return_meta: bool = False):
    """The bundled pretrained ViT `name` (in fp32, eval mode), after verifying its sha256 -> ViT
    (and the manifest, if return_meta). Found through package resources, so it works from any
    working directory and in an installed package (Colab) alike.

    A file whose sha256 differs from the manifest (damaged, truncated, or a Git LFS pointer
    instead of the file) raises ValueError, and nothing is loaded.
    """
    info = manifest(name)
    with resources.as_file(_bundled() / info["file"]) as path:
        if not path.is_file():
            raise FileNotFoundError(f"the manifest of {name!r} names {info['file']}, which is missing; "
                                    "re-clone or re-install vitlib, or re-create it with its manifest's command")
        actual = file_digest(path, "sha256")
        if actual != info["sha256"]:
            raise ValueError(f"{path} has sha256 {actual}, but its manifest says {info['sha256']}: the file is "
                             "corrupt or was changed. Restore it (git checkout data/, or reinstall vitlib), or "
                             f"re-create it with: {info['command']}")
        model = load(path)
    model.eval()
    return (model, info) if return_meta else model


# ----------------------------------------------------------------------------- public weights (needs a network)

# The paper's checkpoints as published by google-research/vision_transformer (vit_jax), .npz layout.
# sha256 None: we could not obtain the published file here (no network) to pin its digest, so the
# first download records it (see files.download_file) and every later load is checked against that.
PUBLIC_WEIGHTS = {
    "ViT-B_16-i21k": dict(url="https://storage.googleapis.com/vit_models/imagenet21k/ViT-B_16.npz", sha256=None,
                          about="ViT-B/16 pretrained on ImageNet-21k at 224 px (21,843 classes, pre_logits head)"),
    "ViT-B_16-i1k-224": dict(url="https://storage.googleapis.com/vit_models/imagenet21k+imagenet2012/ViT-B_16-224.npz",
                             sha256=None, about="ViT-B/16 pretrained on ImageNet-21k, fine-tuned on ImageNet-1k at 224 px"),
}


def download_weights(name: str = "ViT-B_16-i21k", root: str | os.PathLike = "weights", sha256: str | None = None) -> ViT:
    """Download (once) one of PUBLIC_WEIGHTS into `root`, check its sha256, and convert it -> ViT.

    sha256: the digest to insist on (overrides the table). Without one, the digest recorded at the
    first download (root/<file>.sha256) is checked on every later call. Offline: DownloadError saying
    where to put a copy made elsewhere.
    """
    if name not in PUBLIC_WEIGHTS:
        raise ValueError(f"unknown public weights {name!r}; use one of {list(PUBLIC_WEIGHTS)}")
    entry = PUBLIC_WEIGHTS[name]
    expected = sha256 or entry["sha256"]
    path = Path(root) / Path(entry["url"]).name
    download_file(entry["url"], path, expected, "sha256", hint="then call download_weights again")
    verify_download(path, expected, fix="delete it and call download_weights again")
    return from_google_npz(path)
