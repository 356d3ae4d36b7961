"""Checkpoints: secure save/load, and converters from other implementations' ViT weights.

`save` / `load` write and read vitlib checkpoints: one file holding the config, the
weights and free-form metadata, written atomically and read with
`torch.load(weights_only=True)`, so nothing in a file can run code.

The bundled checkpoint: `pretrained(name)` loads a ViT that ships with the package (data/ in the
repository, the resources of `vitlib.bundled` once installed), after checking the sha256 in its
manifest. `python -m vitlib.pretrain` is how it was made; the manifest says how exactly.

Public weights: `download_weights(name)` fetches one of PUBLIC_WEIGHTS (the paper's .npz files)
where there is a network, verifies or records its sha256, and converts it (`from_google_npz`).

Converters give a vitlib `ViT` with the same logits as the source:
  `from_hf`          Hugging Face transformers (both the hub's and the current module layout)
  `from_timm`        a state dict in timm's layout
  `from_google_npz`  the paper's original .npz layout (vit_jax)
The layouts differ in names and in how q, k, v are stored: vitlib fuses them into
one 3D x D layer `qkv` (rows [W_q; W_k; W_v]), as timm does.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from .data import download_file, file_digest, verify_download
from .model import ViT, ViTConfig
from .validate import check_int, check_mapping

__all__ = ["save", "load", "write_atomic", "read_secure", "pretrained", "available_pretrained", "manifest",
           "PUBLIC_WEIGHTS", "download_weights", "from_hf", "hf_config_to_vit_config", "from_timm",
           "from_google_npz", "FORMAT"]

FORMAT = "vitlib-checkpoint-v1"


def write_atomic(obj, path: str | os.PathLike) -> Path:
    """torch.save(obj) to `path` atomically: a temporary file in the same folder, flushed to
    disk, then renamed over `path`. An interruption (an error, Ctrl-C) never leaves a
    half-written file behind: `path` holds the old content or the new, and no temp file stays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_secure(path: str | os.PathLike, map_location="cpu"):
    """torch.load(path, weights_only=True): only tensors and plain values come back, no code runs.

    A missing file raises FileNotFoundError; a truncated or corrupt file, or one holding
    other objects, raises ValueError saying so.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; check the path (save one with vitlib.checkpoints.save)")
    corrupt = f"{path} is corrupt or truncated (or not a PyTorch file); re-create it, or re-download it and check its sha256"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut-off one loses its directory
        raise ValueError(corrupt)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{corrupt} ({err})") from err
    except Exception as err:  # an unpickler refusal: the file holds objects other than tensors
        raise ValueError(f"{path} holds more than tensors and plain values; refusing to load it ({err})") from err


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
# first download records it (see data.download_file) and every later load is checked against that.
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


# transformers' hidden_act -> vitlib's gelu kind (all "tanh" names compute the same tanh approximation)
HF_GELU = {"gelu": "exact", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh"}

# Checkpoints as published on the hub -> the names of current transformers modules.
HF_HUB_TO_CURRENT = [
    (r"^encoder\.layer\.(\d+)\.", r"layers.\1."),
    (r"\.attention\.attention\.query\.", ".attention.q_proj."),
    (r"\.attention\.attention\.key\.", ".attention.k_proj."),
    (r"\.attention\.attention\.value\.", ".attention.v_proj."),
    (r"\.attention\.output\.dense\.", ".attention.o_proj."),
    (r"\.intermediate\.dense\.", ".mlp.fc1."),
    (r"\.output\.dense\.", ".mlp.fc2."),
]

# Current transformers names -> vitlib names (q/k/v are handled apart: they are fused).
HF_TO_VITLIB = [
    (r"^embeddings\.cls_token$", "cls_token.token"),
    (r"^embeddings\.position_embeddings$", "pos_embed.pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^layers\.(\d+)\.layernorm_before\.", r"encoder.blocks.\1.norm1."),
    (r"^layers\.(\d+)\.attention\.o_proj\.", r"encoder.blocks.\1.attn.proj."),
    (r"^layers\.(\d+)\.layernorm_after\.", r"encoder.blocks.\1.norm2."),
    (r"^layers\.(\d+)\.mlp\.fc([12])\.", r"encoder.blocks.\1.mlp.fc\2."),
    (r"^layernorm\.", "norm."),
    (r"^classifier\.", "head."),
]


def hf_config_to_vit_config(config, num_classes: int | None = None) -> ViTConfig:
    """A vitlib ViTConfig from a transformers ViTConfig or the hub's config.json as a dict."""
    c = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    act = c.get("hidden_act", "gelu")
    if act not in HF_GELU:
        raise ValueError(f"unsupported hidden_act {act!r}; vitlib supports {sorted(HF_GELU)}")
    if num_classes is None:
        num_classes = len(c["id2label"]) if c.get("id2label") else c.get("num_labels", 0)
    return ViTConfig(
        image_size=c.get("image_size", 224), patch_size=c.get("patch_size", 16), in_channels=c.get("num_channels", 3),
        num_classes=num_classes, dim=c["hidden_size"], depth=c["num_hidden_layers"], heads=c["num_attention_heads"],
        mlp_dim=c["intermediate_size"], gelu=HF_GELU[act], norm_eps=c.get("layer_norm_eps", 1e-12),
        qkv_bias=c.get("qkv_bias", True),
    )


def from_hf(model_or_state_dict, config=None) -> ViT:
    """A vitlib ViT with the weights of a Hugging Face transformers ViT.

    Pass a `ViTForImageClassification` / `ViTModel`, or a state dict plus its config
    (a `transformers.ViTConfig` or the hub's config.json as a dict). Both the layout of
    checkpoints on the hub (`vit.encoder.layer.{i}.attention.attention.query.weight`, ...)
    and that of current transformers modules (`vit.layers.{i}.attention.q_proj.weight`, ...)
    are accepted. LayerNorm eps and the GELU kind come from the config. The pooler
    (a dense + tanh layer on ViTModel) is not part of a classifier and is ignored.
    """
    if isinstance(model_or_state_dict, Mapping):
        if config is None:
            raise ValueError("a state dict needs its config: from_hf(state_dict, config) with config.json as a dict")
        state = dict(model_or_state_dict)
    else:
        state = model_or_state_dict.state_dict()
        config = model_or_state_dict.config if config is None else config
    state = {re.sub(r"^vit\.", "", k): v for k, v in state.items() if not re.match(r"^(vit\.)?pooler\.", k)}
    has_head = "classifier.weight" in state
    num_classes = state["classifier.weight"].shape[0] if has_head else 0
    cfg = hf_config_to_vit_config(config, num_classes=num_classes)
    model = ViT(cfg)
    model.load_state_dict(_convert_hf_state(state, cfg.depth))
    return model


def _convert_hf_state(state: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        for pattern, repl in HF_HUB_TO_CURRENT:
            key = re.sub(pattern, repl, key)
        renamed[key] = value
    out = {}
    for i in range(depth):
        for part in ("weight", "bias"):
            names = [f"layers.{i}.attention.{x}_proj.{part}" for x in "qkv"]
            present = [n in renamed for n in names]
            if any(present) and not all(present):
                raise ValueError(f"layer {i}: found only some of q/k/v {part}s; the checkpoint is incomplete")
            if all(present):
                out[f"encoder.blocks.{i}.attn.qkv.{part}"] = torch.cat([renamed.pop(n) for n in names])
    unknown = []
    for key, value in renamed.items():
        for pattern, repl in HF_TO_VITLIB:
            if re.search(pattern, key):
                out[re.sub(pattern, repl, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unexpected keys for a ViT checkpoint: {unknown[:5]}; is this a plain ViT (not DeiT/BEiT)?")
    return out


def from_timm(state_dict: Mapping[str, torch.Tensor], heads: int | None = None, **config) -> ViT:
    """A vitlib ViT from a state dict in timm's VisionTransformer layout.

    The sizes are read from the tensors; the number of heads is not stored in the
    weights: pass `heads` (default dim // 64, true of every timm ViT preset). timm's
    defaults are LayerNorm eps 1e-6 and exact GELU; `config` overrides any ViTConfig field.
    """
    check_mapping(state_dict, "state_dict", "pass the weights, timm_model.state_dict()")
    check_int(heads, "heads", allow_none=True)  # heads=0 must not quietly mean "the default"
    sd = dict(state_dict)
    proj = sd["patch_embed.proj.weight"]  # (D, C, P, P)
    dim, channels, patch = proj.shape[0], proj.shape[1], proj.shape[2]
    grid = int(round((sd["pos_embed"].shape[1] - 1) ** 0.5))
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    head_weight = sd.get("head.weight")
    cfg = ViTConfig(**{
        "image_size": grid * patch, "patch_size": patch, "in_channels": channels, "dim": dim, "depth": depth,
        "heads": heads or max(dim // 64, 1), "mlp_dim": sd["blocks.0.mlp.fc1.weight"].shape[0],
        "num_classes": 0 if head_weight is None else head_weight.shape[0],
        "qkv_bias": "blocks.0.attn.qkv.bias" in sd, "norm_eps": 1e-6, "gelu": "exact", **config})
    renames = [(r"^cls_token$", "cls_token.token"), (r"^pos_embed$", "pos_embed.pos_embed"),
               (r"^blocks\.", "encoder.blocks.")]
    out = {}
    for key, value in sd.items():
        for pattern, repl in renames:
            key = re.sub(pattern, repl, key)
        out[key] = value
    model = ViT(cfg)
    _load_exactly(model, out, "timm")
    return model


def from_google_npz(path_or_dict, gelu: str = "tanh", **config) -> ViT:
    """A vitlib ViT from the paper's original checkpoint layout (vit_jax, .npz).

    Flax stores Dense kernels as (in, out) and attention kernels per head:
    query/key/value (D, h, D_h), out (h, D_h, D); the patch embedding kernel is (P, P, C, D).
    The JAX code uses tanh-approximate GELU and LayerNorm eps 1e-6 (the defaults here).
    An optional `pre_logits` layer becomes the pretraining head (MLP with tanh).
    """
    if isinstance(path_or_dict, (str, os.PathLike)):
        with np.load(path_or_dict, allow_pickle=False) as f:  # allow_pickle=False: data only
            arrays = dict(f)
    else:
        check_mapping(path_or_dict, "path_or_dict", "pass the path of the .npz file, or np.load(path) as a dict")
        arrays = dict(path_or_dict)
    t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}
    kernel = t["embedding/kernel"]  # (P, P, C, D)
    patch, channels, dim = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    blocks = sorted({int(m.group(1)) for k in t if (m := re.match(r"Transformer/encoderblock_(\d+)/", k))})
    pos = t["Transformer/posembed_input/pos_embedding"]
    grid = int(round((pos.shape[1] - 1) ** 0.5))
    attn0 = "Transformer/encoderblock_0/MultiHeadDotProductAttention_1"
    has_pre_logits = "pre_logits/kernel" in t
    cfg = ViTConfig(**{
        "image_size": grid * patch, "patch_size": patch, "in_channels": channels, "dim": dim, "depth": len(blocks),
        "heads": t[f"{attn0}/query/kernel"].shape[1], "mlp_dim": t["Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel"].shape[1],
        "num_classes": t["head/kernel"].shape[1] if "head/kernel" in t else 0, "gelu": gelu, "norm_eps": 1e-6,
        "head": "mlp" if has_pre_logits else "linear",
        "head_hidden_dim": t["pre_logits/kernel"].shape[1] if has_pre_logits else None, **config})

    def dense(prefix):  # flax (in, out) kernel -> torch (out, in) weight
        return t[f"{prefix}/kernel"].T, t[f"{prefix}/bias"]

    def norm(prefix):
        return t[f"{prefix}/scale"], t[f"{prefix}/bias"]

    sd = {"patch_embed.proj.weight": rearrange(kernel, "p1 p2 c d -> d c p1 p2"),
          "patch_embed.proj.bias": t["embedding/bias"], "cls_token.token": t["cls"], "pos_embed.pos_embed": pos}
    for i in blocks:
        src, dst = f"Transformer/encoderblock_{i}", f"encoder.blocks.{i}"
        att = f"{src}/MultiHeadDotProductAttention_1"
        sd[f"{dst}.norm1.weight"], sd[f"{dst}.norm1.bias"] = norm(f"{src}/LayerNorm_0")
        sd[f"{dst}.attn.qkv.weight"] = torch.cat(
            [rearrange(t[f"{att}/{n}/kernel"], "d h k -> (h k) d") for n in ("query", "key", "value")])
        sd[f"{dst}.attn.qkv.bias"] = torch.cat([t[f"{att}/{n}/bias"].flatten() for n in ("query", "key", "value")])
        sd[f"{dst}.attn.proj.weight"] = rearrange(t[f"{att}/out/kernel"], "h k d -> d (h k)")
        sd[f"{dst}.attn.proj.bias"] = t[f"{att}/out/bias"]
        sd[f"{dst}.norm2.weight"], sd[f"{dst}.norm2.bias"] = norm(f"{src}/LayerNorm_2")
        sd[f"{dst}.mlp.fc1.weight"], sd[f"{dst}.mlp.fc1.bias"] = dense(f"{src}/MlpBlock_3/Dense_0")
        sd[f"{dst}.mlp.fc2.weight"], sd[f"{dst}.mlp.fc2.bias"] = dense(f"{src}/MlpBlock_3/Dense_1")
    sd["norm.weight"], sd["norm.bias"] = norm("Transformer/encoder_norm")
    if cfg.num_classes:
        if has_pre_logits:
            sd["head.pre_logits.weight"], sd["head.pre_logits.bias"] = dense("pre_logits")
            sd["head.fc.weight"], sd["head.fc.bias"] = dense("head")
        else:
            sd["head.weight"], sd["head.bias"] = dense("head")
    model = ViT(cfg)
    _load_exactly(model, sd, "Google .npz")
    return model


def _load_exactly(model: ViT, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with an error that names missing, unexpected and mis-shaped tensors."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise ValueError(f"the {source} weights do not fit a ViT of config {model.cfg}: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}, shape mismatches {shapes[:4]}; check the config overrides")
    model.load_state_dict(state)
