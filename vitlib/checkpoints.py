"""Checkpoints: the one owner of vitlib's file format, the bundled checkpoint, public weights.

`save` / `load` write and read vitlib checkpoints: one file holding the model's class and config,
its weights, free-form metadata and, for a run that `fit` may resume, the training state. Files
are written atomically (`files.write_atomic`) and read with `torch.load(weights_only=True)`, so
nothing in a file can run code. This module is the only place in vitlib that calls torch.save and
torch.load for model files: `fit` and `resume` go through `save` and `read_checkpoint`.

    save(model, path, training=None, **meta)   a ViT, a hybrid (hybrid_vit), SmallCNN or SmallResNet
    load(path) -> model                         rebuilt from its class and config, weights loaded
    read_checkpoint(path) -> dict               the checked payload: {"format", "model_class", "config",
                                                ["stem"], "state_dict", "meta", ["training"]}

The bundled checkpoint: `pretrained(name)` loads a ViT that ships with the package (data/ in the
repository, the resources of `vitlib.bundled` once installed), after checking the sha256 in its
manifest. `python -m vitlib.pretrain` is how it was made; the manifest says how exactly.

Public weights: `download_weights(name)` fetches one of PUBLIC_WEIGHTS (the paper's .npz files)
where there is a network, verifies or records its sha256, and converts it (`from_google_npz`).
Other implementations' weights: `vitlib.converters` (`from_timm`, `from_hf`, ...).
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from .baselines import SmallCNN, SmallResNet
from .converters import from_google_npz
from .files import download_file, file_digest, verify_download, write_atomic
from .hybrid import CNNStemEmbedding, hybrid_vit
from .model import ViT, ViTConfig

__all__ = ["FORMAT", "save", "load", "read_checkpoint", "model_class", "model_config", "pretrained",
           "available_pretrained", "manifest", "PUBLIC_WEIGHTS", "download_weights"]

FORMAT = "vitlib-checkpoint-v1"

# How `load` rebuilds each model class from its config (a hybrid also needs its stem's settings).
BUILDERS = {
    "ViT": lambda config, stem: ViT(ViTConfig(**config)),
    "hybrid_vit": lambda config, stem: hybrid_vit(ViTConfig(**config), **stem),
    "SmallCNN": lambda config, stem: SmallCNN(**config),
    "SmallResNet": lambda config, stem: SmallResNet(**config),
}


def model_class(model: nn.Module) -> str:
    """The name `load` rebuilds `model` by: "ViT", "hybrid_vit" (a ViT with a CNN stem), "SmallCNN",
    "SmallResNet"; for any other module its class name (saved, but `load` cannot rebuild it)."""
    if isinstance(model, ViT):
        return "hybrid_vit" if isinstance(model.patch_embed, CNNStemEmbedding) else "ViT"
    return type(model).__name__


def model_config(model: nn.Module) -> dict:
    """The model's config as a plain dict (ViTConfig.to_dict(), a dataclass, or a dict), or {}.
    A hybrid's is its ViTConfig; the stem's settings are `model.patch_embed.cfg`."""
    cfg = getattr(model, "cfg", None)
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg) if isinstance(cfg, dict) else {}


def save(model: nn.Module, path: str | os.PathLike, training: dict | None = None, **meta) -> Path:
    """Write `model` (its class, config and weights) and `meta` (plain values: str, numbers, lists,
    dicts) to `path`, atomically: an interruption never leaves a half-written checkpoint; -> path.

    model:    a ViT, a hybrid (`hybrid_vit`), SmallCNN or SmallResNet, which `load` rebuilds; any
              other module is saved too (its weights), and read back with `read_checkpoint`.
    training: what a resumed `fit` needs besides the weights (optimiser, schedule position,
              random-number generators); `fit` writes it into last.pt, see vitlib.resume.
    """
    payload = {"format": FORMAT, "model_class": model_class(model), "config": model_config(model), "meta": meta,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    if payload["model_class"] == "hybrid_vit":
        payload["stem"] = dict(model.patch_embed.cfg)  # what hybrid_vit needs besides the ViTConfig
    if training is not None:
        payload["training"] = training
    return write_atomic(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """The one checked reader: -> the payload {"format", "model_class", "config", ["stem"], "state_dict",
    "meta", ["training"]} of a file written by `save`.

    Secure: torch.load(weights_only=True) only rebuilds tensors and plain values, no code runs.
    A missing file raises FileNotFoundError; a truncated or corrupt file, one holding other objects,
    or a file of another format raises ValueError saying which.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; check the path (write one with vitlib.checkpoints.save, "
                                "or fit(..., checkpoint_dir=...))")
    corrupt = (f"{path} is corrupt or truncated (or not a PyTorch file); re-create it, or re-download it and check "
               "its sha256")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut-off one loses its directory
        raise ValueError(corrupt)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{corrupt} ({err})") from err
    except Exception as err:  # an unpickler refusal: the file holds objects other than tensors
        raise ValueError(f"{path} holds more than tensors and plain values; refusing to load it ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = ("it looks like a bare state dict: use vitlib.converters (from_timm(state_dict, heads=...), "
                "from_hf(...)) or model.load_state_dict" if isinstance(payload, dict)
                else f"it holds a {type(payload).__name__}")
        raise ValueError(f"{path} is not a vitlib checkpoint ({FORMAT}); {hint}")
    return payload


def load(path: str | os.PathLike, return_meta: bool = False, map_location="cpu"):
    """Read a checkpoint written by `save` (or by `fit`) -> the model (and its meta dict if return_meta).

    The model is rebuilt from its class and config (a ViT, a hybrid, SmallCNN, SmallResNet) and its
    weights loaded strictly. For another module, build it yourself and load
    `read_checkpoint(path)["state_dict"]` into it.
    """
    payload = read_checkpoint(path, map_location)
    # files from before the format named the class: fit wrote it into meta, checkpoints.save only saved ViTs
    name = payload.get("model_class", payload["meta"].get("model_class", "ViT"))
    if name not in BUILDERS:
        raise ValueError(f"{path} holds a {name}, which load cannot rebuild (it rebuilds {', '.join(BUILDERS)}); "
                         "build the model yourself and call "
                         "model.load_state_dict(read_checkpoint(path)['state_dict'])")
    if name == "ViT" and any(k.startswith("patch_embed.stem.") for k in payload["state_dict"]):
        raise ValueError(f"{path} holds a hybrid saved without its stem's settings (by an older vitlib); rebuild "
                         "it with hybrid_vit(ViTConfig(**payload['config']), stem_widths=...) and load "
                         "read_checkpoint(path)['state_dict'] into it")
    model = BUILDERS[name](payload["config"], payload.get("stem"))
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
    (and, if return_meta, the manifest with the checkpoint's own metadata under "checkpoint_meta").
    Found through package resources, so it works from any
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
        model, meta = load(path, return_meta=True)
    model.eval()
    return (model, {**info, "checkpoint_meta": meta}) if return_meta else model


# ----------------------------------------------------------------------------- public weights (needs a network)

# The paper's checkpoints as published by google-research/vision_transformer (vit_jax), .npz layout.
# sha256 None: we could not obtain the published file here (no network) to pin its digest, so the
# first download records it (see files.download_file) and every later load is checked against that.
PUBLIC_WEIGHTS = {
    "ViT-B_16-i21k": dict(url="https://storage.googleapis.com/vit_models/imagenet21k/ViT-B_16.npz", sha256=None,
                          about="ViT-B/16 pretrained on ImageNet-21k at 224 px (21,843 classes, pre_logits head)"),
    "ViT-B_16-i1k-224": dict(url="https://storage.googleapis.com/vit_models/imagenet21k+imagenet2012/ViT-B_16-224.npz",
                             sha256=None, about="ViT-B/16 pretrained on ImageNet-21k, fine-tuned on ImageNet-1k at "
                                                "224 px"),
}


def download_weights(name: str = "ViT-B_16-i21k", root: str | os.PathLike = "weights",
                     sha256: str | None = None) -> ViT:
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
