"""Converters: other implementations' ViT weights -> a vitlib ViT with the same logits.

    from_timm(model_or_state_dict, heads=None, **config)         timm's VisionTransformer
    from_hf(model_or_state_dict, config=None)                    Hugging Face transformers' ViT
    from_vit_pytorch(model_or_state_dict, heads=None, **config)  lucidrains' vit-pytorch ViT
    from_google_npz(path_or_arrays, gelu="tanh", **config)       the paper's own .npz files (vit_jax)

Every converter works in three steps:
  1. read the sizes the tensors determine (D, depth, MLP size, patch size, class token, ...) and,
     when it is given the source model or its config, what only they know (heads, pooling,
     LayerNorm eps, GELU kind). A bare state dict does not store the number of heads: it is taken
     from the presets whose width matches (ViT-H/14: 16 heads of 80, not 1280 // 64 = 20), or asked for.
  2. write a *plan*: for every tensor of the vitlib ViT, which of the source's tensors make it, and how.
  3. `load_checked` carries out the plan and refuses, in the source's own key names, any tensor that
     is missing, left over or of the wrong shape. Nothing is dropped silently.

`config` overrides ViTConfig fields the source does not determine (e.g. pool= for a bare timm state
dict); an override that contradicts the source is refused.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from einops import EinopsError, rearrange

from .model import PRESETS, ViT, ViTConfig
from .validate import check_int

__all__ = ["from_timm", "from_hf", "hf_config_to_vit_config", "from_vit_pytorch", "from_google_npz", "load_checked"]

# A plan: vitlib's key -> (the source's keys, a function of their tensors that makes vitlib's tensor).
Plan = dict[str, tuple[tuple[str, ...], Callable[..., torch.Tensor]]]


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _names(keys, limit: int = 6) -> str:
    """'a', 'b', 'c' and 4 more."""
    keys = list(keys)
    listed = ", ".join(repr(k) for k in keys[:limit])
    return listed + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _explain(keys, hints) -> str:
    """' (LayerScale, which vitlib's ViT does not have)' for keys that match a known hint."""
    found = [what for pattern, what in hints if any(re.search(pattern, k) for k in keys)]
    return f" ({'; '.join(found)}: not supported)" if found else ""


def load_checked(model: ViT, tensors: Mapping[str, torch.Tensor], plan: Plan, source: str, fix: str,
                 hints=(), group=None) -> ViT:
    """Fill `model` from the source's `tensors` by `plan`, or raise one ValueError that names, in the
    source's key names, what is missing, left over (`group` names groups of keys instead) or mis-shaped,
    then `fix`. `hints`: (regex, what it is) pairs that explain left-over keys."""
    expected = model.state_dict()
    unplanned = [name for name in expected if name not in plan]
    if unplanned:
        raise ValueError(f"{source}: nothing in the checkpoint gives vitlib's {_names(unplanned)}; "
                         "a config override asks for parts the source does not have: drop it")
    used = list(dict.fromkeys(key for name in expected for key in plan[name][0]))
    missing = [key for key in used if key not in tensors]
    leftover = [key for key in tensors if key not in set(used)]
    problems = [f"missing {_names(missing)}"] if missing else []
    if leftover:
        groups = list(dict.fromkeys(group(k) for k in leftover)) if group else leftover
        problems.append(f"unexpected {'groups' if group else 'keys'} {_names(groups)}{_explain(leftover, hints)}")
    if problems:
        raise ValueError(f"{source}: {'; '.join(problems)}. {fix}")
    state, wrong = {}, []
    for name in expected:
        keys, make = plan[name]
        inputs = [torch.as_tensor(tensors[key]) for key in keys]
        found = ", ".join(f"{key!r} {tuple(t.shape)}" for key, t in zip(keys, inputs))
        try:
            value = make(*inputs)
        except (RuntimeError, ValueError, IndexError, EinopsError):
            value = None
        if value is None or value.shape != expected[name].shape:
            wrong.append(f"{found} cannot make vitlib's {name} {tuple(expected[name].shape)}")
        else:
            state[name] = value
    if wrong:
        raise ValueError(f"{source}: wrong shapes: {'; '.join(wrong[:3])}"
                         f"{f' and {len(wrong) - 3} more' if len(wrong) > 3 else ''}. {fix}")
    model.load_state_dict(state)
    return model


def _layout_hint(keys) -> str:
    """What kind of checkpoint these keys look like, and which converter takes it."""
    keys = list(keys)
    has = lambda pattern: any(re.search(pattern, k) for k in keys)  # noqa: E731
    if has(r"^module\."):
        return "the keys start with 'module.' (saved from DistributedDataParallel): strip that prefix first"
    if has(r"^(vit\.)?embeddings\.patch_embeddings\."):
        return "these are Hugging Face transformers names: use from_hf(state_dict, config)"
    if has(r"^to_patch_embedding\."):
        return "these are vit-pytorch names: use from_vit_pytorch"
    if has(r"^patch_embed\.proj\.") and has(r"^blocks\."):
        return "these are timm names: use from_timm"
    if has(r"^(opt/target/)?embedding/kernel$"):
        return "these are Google .npz names: use from_google_npz"
    if has(r"^encoder\.blocks\.") and has(r"^cls_token\.token$"):
        return "this is a vitlib state dict: load it with ViT(config).load_state_dict(state_dict)"
    return "is it the state dict of a plain ViT?"


def _tensors(checkpoint, source: str) -> dict[str, torch.Tensor]:
    """The source's tensors by name; a training checkpoint that wraps them is refused with the fix."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{source}: expected a model or a state dict (name -> tensor), "
                         f"got a {type(checkpoint).__name__}")
    wrapped = [k for k, v in checkpoint.items() if isinstance(v, Mapping)]
    if wrapped:
        raise ValueError(f"{source}: the entries {_names(wrapped)} hold dicts, not tensors: a training checkpoint "
                         f"that wraps the weights; pass the state dict inside it, e.g. checkpoint[{wrapped[0]!r}]")
    others = [k for k, v in checkpoint.items()
              if not (isinstance(v, torch.Tensor) or isinstance(v, np.ndarray) and v.dtype.kind in "fiub")]
    if others:
        raise ValueError(f"{source}: the entries {_names(others)} are not tensors; pass a state dict (name -> tensor)")
    return {k: torch.as_tensor(v) for k, v in checkpoint.items()}


def _require(tensors, keys, source: str) -> None:
    """The tensors a converter reads its sizes from: if one is missing, say which and what the keys look like."""
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise ValueError(f"{source}: missing {_names(missing)}; {_layout_hint(tensors)}")


def _shape_error(source: str, key: str, shape, expected: str, fix: str) -> ValueError:
    return ValueError(f"{source}: {key!r} has shape {tuple(shape)}, expected {expected}; {fix}")


def _grid(tokens: int, prefix: int, source: str, key: str, why: str) -> int:
    """The side G of the patch grid from a position table of `tokens` rows, `prefix` of them not patches."""
    side = math.isqrt(max(tokens - prefix, 0))
    if tokens - prefix <= 0 or side * side != tokens - prefix:
        raise ValueError(f"{source}: {key!r} holds {tokens} rows, not {prefix} + a square grid of patches ({why}); "
                         "vitlib's ViT needs square images and one position per token")
    return side


def _heads_from_presets(dim: int, mlp_dim: int, source: str, example: str) -> int:
    """Heads of the presets of width (D, MLP size): a state dict does not store them."""
    heads = {h for _, d, m, h in PRESETS.values() if (d, m) == (dim, mlp_dim)}
    if len(heads) != 1:
        raise ValueError(f"{source}: the number of heads is not stored in a state dict, and D={dim}, "
                         f"MLP size {mlp_dim} match no preset; pass heads=, e.g. {example}, or pass the source model")
    return heads.pop()


def _make_config(source: str, found: dict, known: dict, overrides: dict) -> ViTConfig:
    """ViTConfig(found + overrides); `known` maps fields the source determines to where it says so.
    An override that contradicts the source is refused (it could only load into a different model)."""
    for name, value in overrides.items():
        if name not in ViTConfig.__dataclass_fields__:
            fields = ", ".join(ViTConfig.__dataclass_fields__)
            raise ValueError(f"{source}: {name!r} is not a ViTConfig field; use one of {fields}")
        if name in known and value != found[name]:
            raise ValueError(f"{source}: {name}={value!r} contradicts the checkpoint, which has {name}={found[name]!r} "
                             f"(from {known[name]}); leave {name}= out")
    return ViTConfig(**{**found, **overrides})


def _gelu_kind(act: torch.nn.Module, source: str) -> str:
    """'exact' or 'tanh' from an activation module (torch's nn.GELU or timm's GELU / GELUTanh)."""
    if isinstance(act, torch.nn.GELU):
        kind = {"none": "exact", "tanh": "tanh"}.get(act.approximate)
    else:
        kind = {"GELU": "exact", "GELUTanh": "tanh"}.get(type(act).__name__)
    if kind is None:
        raise ValueError(f"{source}: the MLP's activation is {type(act).__name__}, not GELU; vitlib's ViT supports "
                         "exact "
                         "and tanh GELU only")
    return kind


# ----------------------------------------------------------------------------- timm

TIMM_HINTS = [(r"\.ls[12]\.", "LayerScale"), (r"^reg_token$", "register tokens"),
              (r"\.[qk]_norm\.", "query/key norms"), (r"^norm_pre\.", "a LayerNorm before the encoder (CLIP-style)"),
              (r"^attn_pool\.", "attention pooling"), (r"^pre_logits\.", "a pre-logits layer"),
              (r"^patch_embed\.norm\.", "a LayerNorm after the patch embedding")]
TIMM_POOL = {"token": "cls", "avg": "mean"}


def _timm_module(model, source: str) -> tuple[dict, dict]:
    """What a timm VisionTransformer knows that its state dict does not: heads, pooling, eps, GELU kind."""
    try:
        block = model.blocks[0]
        found = {"heads": block.attn.num_heads, "norm_eps": block.norm1.eps,
                 "gelu": _gelu_kind(block.mlp.act, source)}
        pool = model.global_pool
    except (AttributeError, IndexError, TypeError) as err:
        raise ValueError(f"{source}: this model does not look like a timm VisionTransformer ({err}); "
                         "pass its state dict and heads= instead") from err
    if pool not in TIMM_POOL or getattr(model, "pool_include_prefix", False):
        raise ValueError(f"{source}: global_pool={pool!r} is not supported; vitlib's ViT reads the class token "
                         "('token') or averages the patch tokens ('avg')")
    if getattr(model, "no_embed_class", False):
        raise ValueError(f"{source}: no_embed_class=True (no position embedding for the class token) is not supported")
    found["pool"] = TIMM_POOL[pool]
    where = "the timm model"
    return found, {"heads": f"{where}'s blocks[0].attn.num_heads", "norm_eps": f"{where}'s LayerNorms",
                   "gelu": f"{where}'s MLP activation", "pool": f"{where}'s global_pool={pool!r}"}


def from_timm(model_or_state_dict, heads: int | None = None, **config) -> ViT:
    """A vitlib ViT converted out of a timm VisionTransformer object or a state dict in its layout.

    timm itself is never imported: the model is read through its attributes.

    From the model, everything is read (heads, global_pool 'token' or 'avg', class token, where the
    final norm sits, LayerNorm eps, GELU kind). A state dict determines the sizes, the class token
    ('cls_token') and the place of the final norm ('norm' before pooling, 'fc_norm' after); the rest
    is assumed as timm's defaults: exact GELU, eps 1e-6, and pool="cls" where there is a class token
    and 'norm', pool="mean" otherwise. Heads: from the presets whose width matches, for models with a
    class token (timm's GAP models break the rule: vit_base_patch16_gap_224 has 16 heads); else pass heads=.
    A state dict cannot tell timm's avg pooling with fc_norm=False from token pooling: pass pool="mean"
    for such a model, or the model itself.
    """
    check_int(heads, "heads", allow_none=True)  # heads=0 must not quietly mean "infer them"
    source = "timm state dict" if isinstance(model_or_state_dict, Mapping) else "timm model"
    known: dict = {}
    if isinstance(model_or_state_dict, Mapping):
        sd = _tensors(model_or_state_dict, source)
        found = {"gelu": "exact", "norm_eps": 1e-6}
    else:
        found, known = _timm_module(model_or_state_dict, source)
        sd = _tensors(model_or_state_dict.state_dict(), source)
    _require(sd, ["patch_embed.proj.weight", "pos_embed", "blocks.0.mlp.fc1.weight"], source)
    proj, pos = sd["patch_embed.proj.weight"], sd["pos_embed"]
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3]:
        raise _shape_error(source, "patch_embed.proj.weight", proj.shape, "(D, C, P, P): square "
                                                                          "patches", "not supported")
    if pos.ndim != 3:
        raise _shape_error(source, "pos_embed", pos.shape, "(1, T, D)", "not a timm ViT's position embeddings")
    class_token = "cls_token" in sd
    norm = "after_pool" if "fc_norm.weight" in sd else "before_pool"
    if "fc_norm.weight" not in sd and "norm.weight" not in sd:
        raise ValueError(f"{source}: missing 'norm.weight' or 'fc_norm.weight': a model without a final LayerNorm "
                         "(timm's final_norm=False) is not supported")
    dim, patch, grid = proj.shape[0], proj.shape[2], _grid(pos.shape[1], int(class_token), source, "pos_embed",
                                                           "a non-square image, register tokens, or "
                                                           "no_embed_class=True")
    depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k)))
    found.setdefault("pool", "mean" if not class_token or norm == "after_pool" else "cls")
    found.update(image_size=grid * patch, patch_size=patch, in_channels=proj.shape[1], dim=dim, depth=depth,
                 mlp_dim=sd["blocks.0.mlp.fc1.weight"].shape[0], class_token=class_token, final_norm=norm,
                 num_classes=sd["head.weight"].shape[0] if "head.weight" in sd else 0,
                 qkv_bias="blocks.0.attn.qkv.bias" in sd)
    known.update({k: "the tensors" for k in ("image_size", "patch_size", "in_channels", "dim", "depth", "mlp_dim",
                                            "class_token", "final_norm", "num_classes", "qkv_bias")})
    if heads is not None and "heads" in known and heads != found["heads"]:
        raise ValueError(f"{source}: heads={heads} contradicts the checkpoint, which has heads={found['heads']} "
                         f"(from {known['heads']}); leave heads= out")
    if "heads" not in found:
        example = "from_timm(state_dict, heads=16)"
        if heads is None and not class_token:
            raise ValueError(f"{source}: the number of heads is not stored in a state dict, and models without a class "
                             f"token break the presets' rule (timm's ViT-B/16 GAP has 16); pass heads=, e.g. {example}")
        found["heads"] = heads or _heads_from_presets(dim, found["mlp_dim"], source, example)
    model = ViT(_make_config(source, found, known, config))

    def timm_name(name: str) -> str:
        name = {"cls_token.token": "cls_token", "pos_embed.pos_embed": "pos_embed"}.get(name, name)
        name = re.sub(r"^encoder\.blocks\.", "blocks.", name)
        return re.sub(r"^norm\.", "fc_norm." if norm == "after_pool" else "norm.", name)

    plan = {name: ((timm_name(name),), _same) for name in model.state_dict()}
    return load_checked(model, sd, plan, source, "Is it a plain timm VisionTransformer? Check heads= and the "
                        "config overrides", hints=TIMM_HINTS)


# ----------------------------------------------------------------------------- Hugging Face transformers

HF_GELU = {"gelu": "exact", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh"}
HF_HINTS = [(r"mask_token", "the mask token of masked image modelling"),
            (r"(^|\.)(distillation_token|cls_classifier|distillation_classifier)", "DeiT's distillation token")]


def hf_config_to_vit_config(config, num_classes: int | None = None) -> ViTConfig:
    """A vitlib ViTConfig from a transformers ViTConfig or the hub's config.json as a dict."""
    c = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    needed = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size") if k not in c]
    if needed:
        raise ValueError(f"Hugging Face config: missing {_names(needed)}; pass the model's config.json (as a dict) or "
                         "its transformers ViTConfig")
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
    are accepted. Sizes, heads, LayerNorm eps and the GELU kind come from the config. The pooler
    (a dense + tanh layer on ViTModel) is not part of a classifier and is left out.
    """
    source = "Hugging Face state dict" if isinstance(model_or_state_dict, Mapping) else "Hugging Face model"
    if isinstance(model_or_state_dict, Mapping):
        if config is None:
            raise ValueError("a state dict needs its config: from_hf(state_dict, config) with config.json as a dict")
        state = _tensors(model_or_state_dict, source)
    else:
        state = _tensors(model_or_state_dict.state_dict(), source)
        config = model_or_state_dict.config if config is None else config
    state = {k: v for k, v in state.items() if not re.match(r"^(vit\.)?pooler\.", k)}
    vit = "vit." if any(k.startswith("vit.embeddings.") for k in state) else ""
    _require(state, [f"{vit}embeddings.patch_embeddings.projection.weight"], source)
    num_classes = state["classifier.weight"].shape[0] if "classifier.weight" in state else 0
    model = ViT(hf_config_to_vit_config(config, num_classes=num_classes))
    hub = any(".encoder.layer." in f".{k}" for k in state)  # the hub's layout, or current transformers modules
    layer = f"{vit}encoder.layer" if hub else f"{vit}layers"
    parts = ({"q": "attention.attention.query", "k": "attention.attention.key", "v": "attention.attention.value",
              "proj": "attention.output.dense", "fc1": "intermediate.dense", "fc2": "output.dense"} if hub else
             {"q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj", "proj": "attention.o_proj",
              "fc1": "mlp.fc1", "fc2": "mlp.fc2"})
    fixed = {"cls_token.token": "embeddings.cls_token", "pos_embed.pos_embed": "embeddings.position_embeddings",
             "patch_embed.proj": "embeddings.patch_embeddings.projection", "norm": "layernorm"}
    block = {"norm1": "layernorm_before", "attn.proj": parts["proj"], "norm2": "layernorm_after",
             "mlp.fc1": parts["fc1"], "mlp.fc2": parts["fc2"]}
    plan: Plan = {}
    for name in model.state_dict():
        stem, _, part = name.rpartition(".")
        if m := re.match(r"encoder\.blocks\.(\d+)\.(.+)", stem):
            i, inner = m.groups()
            if inner == "attn.qkv":  # one fused layer from three
                plan[name] = (tuple(f"{layer}.{i}.{parts[x]}.{part}" for x in "qkv"), lambda *qkv: torch.cat(qkv))
            else:
                plan[name] = ((f"{layer}.{i}.{block[inner]}.{part}",), _same)
        elif stem == "head":
            plan[name] = ((f"classifier.{part}",), _same)
        else:
            key = fixed.get(name) or f"{fixed[stem]}.{part}"
            plan[name] = ((f"{vit}{key}",), _same)
    return load_checked(model, state, plan, source, "Is it a plain ViT (not DeiT or BEiT) whose config matches "
                        "these weights?", hints=HF_HINTS)


# ----------------------------------------------------------------------------- lucidrains' vit-pytorch

def _vit_pytorch_module(model, source: str) -> tuple[dict, dict]:
    """What a vit-pytorch ViT knows that its state dict does not: heads, dim_head, pooling, patch size."""
    try:
        attention = model.transformer.layers[0][0]
        heads, dim_head, pool = attention.heads, round(attention.scale ** -2), model.pool
    except (AttributeError, IndexError, TypeError) as err:
        raise ValueError(f"{source}: this model does not look like vit-pytorch's ViT ({err}); "
                         "pass its state dict and heads= instead") from err
    where = "the vit-pytorch model"
    found = {"heads": heads, "dim_head": dim_head, "pool": pool}
    known = {"heads": f"{where}'s heads", "pool": f"{where}'s pool={pool!r}"}
    patch = getattr(model, "patch_size", None)  # (P, P) in recent versions
    if patch is not None:
        if not isinstance(patch, int) and patch[0] != patch[1]:
            raise ValueError(f"{source}: patch_size={patch} is not square; vitlib's ViT has square patches")
        found["patch_size"] = patch if isinstance(patch, int) else patch[0]
        known["patch_size"] = f"{where}'s patch_size"
    return found, known


def from_vit_pytorch(model_or_state_dict, heads: int | None = None, **config) -> ViT:
    """A vitlib ViT from lucidrains' vit-pytorch `ViT` (vit_pytorch/vit.py), or its state dict.

    Its layout maps onto vitlib's ViT with patch_embed_norm=True (LayerNorm(P*P*C), linear,
    LayerNorm(D)), qkv_bias=False, LayerNorm eps 1e-5, exact GELU and its final `transformer.norm` as
    vitlib's `norm`. pool="mean" models have no class token. Where heads x dim_head != D, its attention
    has a width vitlib's has not: refused. A state dict stores neither the heads (presets' width, or
    heads=) nor P and C apart (P*P*C is read with C = 3 unless in_channels= says otherwise).
    With num_classes=0 vit-pytorch returns all tokens; the vitlib ViT returns the pooled y.
    """
    check_int(heads, "heads", allow_none=True)  # heads=0 must not quietly mean "infer them"
    source = "vit-pytorch state dict" if isinstance(model_or_state_dict, Mapping) else "vit-pytorch model"
    known: dict = {}
    if isinstance(model_or_state_dict, Mapping):
        sd, found = _tensors(model_or_state_dict, source), {}
    else:
        found, known = _vit_pytorch_module(model_or_state_dict, source)
        sd = _tensors(model_or_state_dict.state_dict(), source)
    qkv_key = "transformer.layers.0.0.to_qkv.weight"
    _require(sd, ["to_patch_embedding.2.weight", "cls_token", "pos_embedding", qkv_key,
                  "transformer.layers.0.1.net.1.weight"], source)
    linear, cls, pos = sd["to_patch_embedding.2.weight"], sd["cls_token"], sd["pos_embedding"]
    dim, patch_dim = linear.shape
    old_layout = cls.ndim == 3
    inner = sd[qkv_key].shape[0] // 3
    if inner != dim:
        parts = f" = {found['heads']} x {found['dim_head']}" if "dim_head" in found else ""
        raise ValueError(f"{source}: {qkv_key!r} has shape {tuple(sd[qkv_key].shape)}: attention of width "
                         f"heads x dim_head{parts} = {inner}, but dim = {dim}; vitlib's attention splits D into heads "
                         f"of D / heads. Build the vit-pytorch model with dim_head = dim // heads")
    found.pop("dim_head", None)
    if old_layout:  # before late 2025, every model had a class token, and pool="mean" averaged it too
        if config.get("pool", found.get("pool")) != "cls":
            raise ValueError(f"{source}: 'cls_token' has shape {tuple(cls.shape)}, the layout of older vit-pytorch "
                             "versions, whose pool='mean' averages the class token too: not supported. For a model "
                             "with pool='cls', pass pool='cls' (or the model)")
        cls, pos = cls[0], pos[0]
    class_token = cls.shape[0] == 1
    if not class_token:  # pool="mean": vit-pytorch keeps an empty (0, D) class token; it holds nothing
        sd = {k: v for k, v in sd.items() if k != "cls_token"}
    if "pool" in found and found["pool"] != ("cls" if class_token else "mean"):
        raise ValueError(f"{source}: pool={found['pool']!r} but 'cls_token' has shape {tuple(cls.shape)}")
    patch = found.get("patch_size") or config.get("patch_size")
    channels = patch_dim // patch**2 if patch else config.get("in_channels", 3)
    patch = patch or math.isqrt(patch_dim // channels)
    if patch * patch * channels != patch_dim:
        raise ValueError(f"{source}: 'to_patch_embedding.2.weight' takes patches of {patch_dim} values, not P*P*C with "
                         f"C = {channels}; pass in_channels= (and patch_size=)")
    grid = _grid(pos.shape[0], int(class_token), source, "pos_embedding", "a non-square image")
    depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"transformer\.layers\.(\d+)\.", k)))
    found.update(image_size=grid * patch, patch_size=patch, in_channels=patch_dim // (patch * patch), dim=dim,
                 depth=depth, mlp_dim=sd["transformer.layers.0.1.net.1.weight"].shape[0], class_token=class_token,
                 pool="cls" if class_token else "mean", final_norm="before_pool", patch_embed_norm=True,
                 qkv_bias=False, norm_eps=1e-5, gelu="exact",
                 num_classes=sd["mlp_head.weight"].shape[0] if "mlp_head.weight" in sd else 0)
    known.update({k: "the tensors" for k in ("image_size", "in_channels", "dim", "depth", "mlp_dim", "class_token",
                                            "pool", "final_norm", "patch_embed_norm", "qkv_bias", "num_classes")})
    if heads is not None and "heads" in known and heads != found["heads"]:
        raise ValueError(f"{source}: heads={heads} contradicts the checkpoint, which has heads={found['heads']} "
                         f"(from {known['heads']}); leave heads= out")
    found["heads"] = found.get("heads") or heads or _heads_from_presets(
        dim, found["mlp_dim"], source, "from_vit_pytorch(state_dict, heads=8)")
    model = ViT(_make_config(source, found, known, config))
    token = (lambda t: t) if old_layout else (lambda t: rearrange(t, "t d -> 1 t d"))  # (1, T, D)
    plan: Plan = {"cls_token.token": (("cls_token",), token), "pos_embed.pos_embed": (("pos_embedding",), token),
                  "patch_embed.proj.weight": (("to_patch_embedding.2.weight",), lambda w: rearrange(
                      w, "d (p1 p2 c) -> d c p1 p2", p1=patch, p2=patch)),  # vitlib keeps E as a conv weight
                  "patch_embed.proj.bias": (("to_patch_embedding.2.bias",), _same)}
    for part in ("weight", "bias"):
        plan[f"patch_embed.norm_in.{part}"] = ((f"to_patch_embedding.1.{part}",), _same)
        plan[f"patch_embed.norm_out.{part}"] = ((f"to_patch_embedding.3.{part}",), _same)
        plan[f"norm.{part}"] = ((f"transformer.norm.{part}",), _same)
        if "mlp_head.weight" in sd:
            plan[f"head.{part}"] = ((f"mlp_head.{part}",), _same)
    identity_out = "transformer.layers.0.0.to_out.0.weight" not in sd and found["heads"] == 1
    for i in range(depth):
        src, dst = f"transformer.layers.{i}", f"encoder.blocks.{i}"
        plan[f"{dst}.attn.qkv.weight"] = ((f"{src}.0.to_qkv.weight",), _same)  # chunk(3), then (h d): vitlib's order
        for part in ("weight", "bias"):
            plan[f"{dst}.norm1.{part}"] = ((f"{src}.0.norm.{part}",), _same)
            plan[f"{dst}.norm2.{part}"] = ((f"{src}.1.net.0.{part}",), _same)
            plan[f"{dst}.mlp.fc1.{part}"] = ((f"{src}.1.net.1.{part}",), _same)
            plan[f"{dst}.mlp.fc2.{part}"] = ((f"{src}.1.net.4.{part}",), _same)
            plan[f"{dst}.attn.proj.{part}"] = ((f"{src}.0.to_out.0.{part}",), _same)
        if identity_out:  # one head as wide as D: vit-pytorch skips U_msa, i.e. U_msa = I
            plan[f"{dst}.attn.proj.weight"] = ((), lambda: torch.eye(dim))
            plan[f"{dst}.attn.proj.bias"] = ((), lambda: torch.zeros(dim))
    return load_checked(model, sd, plan, source, "Is it vit-pytorch's plain ViT (vit_pytorch/vit.py)?")


# ----------------------------------------------------------------------------- Google .npz (vit_jax)

HYBRID = re.compile(r"^(conv_root|gn_root|block\d+)(/|$)")
NPZ_HINTS = [(HYBRID.pattern, "an R50+ViT hybrid checkpoint, whose ResNet stem vitlib's ViT does not have"),
             (r"LayerScale", "LayerScale"), (r"MAPHead", "attention pooling (MAP head)")]


def _read_npz(path_or_arrays, source: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file (data only: allow_pickle=False), or of an in-memory dict."""
    if not isinstance(path_or_arrays, (str, os.PathLike)):
        return {k: np.asarray(v) for k, v in _tensors(path_or_arrays, source).items()}
    path = Path(path_or_arrays)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}; check the path (download_weights fetches the paper's files)")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz file (an .npz is a zip archive of arrays, this file is not a zip "
                         "archive); pass the .npz of a vit_jax checkpoint")
    try:
        with np.load(path, allow_pickle=False) as f:  # allow_pickle=False: data only, nothing can run
            arrays = dict(f)
    except ValueError as err:
        raise ValueError(f"{path} holds pickled objects, not only arrays; refusing to unpickle them ({err})") from err
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path} is corrupt or truncated ({err}); download it again and check its sha256") from err
    others = [k for k, v in arrays.items() if not (isinstance(v, np.ndarray) and v.dtype.kind in "fiub")]
    if others:
        raise ValueError(f"{path} is a zip archive but not an .npz of arrays: {_names(others)} are not numeric arrays "
                         "(a PyTorch file is a zip archive too: load those with checkpoints.load or from_timm)")
    return arrays


def from_google_npz(path_or_arrays, gelu: str = "tanh", **config) -> ViT:
    """A vitlib ViT from the paper's original checkpoint layout (vit_jax, .npz file or dict of arrays).

    Flax stores Dense kernels as (in, out) and attention kernels per head: query/key/value
    (D, h, D_h), out (h, D_h, D); the patch embedding kernel is (P, P, C, D). The JAX code uses
    tanh-approximate GELU and LayerNorm eps 1e-6 (the defaults here). An optional `pre_logits`
    layer becomes the pretraining head (MLP with tanh). A file without `cls` is a GAP model
    (classifier='gap': the mean of the patch tokens after the final LayerNorm). Keys under
    'opt/target/' (a checkpoint saved with its optimizer) are read as the model; the optimizer's own
    state ('opt/state/...') is not part of the model and is left out. R50 hybrids are refused.
    """
    source = "Google .npz"
    arrays = _read_npz(path_or_arrays, source)
    if "opt/target/embedding/kernel" in arrays:
        arrays = {k[len("opt/target/"):]: v for k, v in arrays.items() if not k.startswith("opt/state/")}
    t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in arrays.items()}
    hybrid = sorted({k.split("/")[0] for k in t if HYBRID.match(k)})
    if hybrid:
        raise ValueError(f"{source}: unexpected groups {_names(hybrid)} (an R50+ViT hybrid checkpoint: its ResNet stem "
                         "is not supported; vitlib's ViT takes the pure ViT checkpoints, e.g. ViT-B_16.npz)")
    attn0 = "Transformer/encoderblock_0/MultiHeadDotProductAttention_1"
    pos_key = "Transformer/posembed_input/pos_embedding"
    fc1_key = "Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel"
    _require(t, ["embedding/kernel", pos_key, f"{attn0}/query/kernel", fc1_key], source)
    kernel, pos, query = t["embedding/kernel"], t[pos_key], t[f"{attn0}/query/kernel"]
    if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
        raise _shape_error(source, "embedding/kernel", kernel.shape, "(P, P, C, D)", "not a ViT patch embedding")
    if query.ndim != 3:
        raise _shape_error(source, f"{attn0}/query/kernel", query.shape, "(D, heads, D / heads) as vit_jax stores it",
                           "a flat kernel does not say how many heads; reshape it to (D, heads, D / heads)")
    class_token = "cls" in t
    patch, dim = kernel.shape[0], kernel.shape[3]
    depth = 1 + max(int(m.group(1)) for k in t if (m := re.match(r"Transformer/encoderblock_(\d+)/", k)))
    has_pre_logits = "pre_logits/kernel" in t
    found = {"image_size": _grid(pos.shape[1], int(class_token), source, pos_key, "a non-square image") * patch,
             "patch_size": patch, "in_channels": kernel.shape[2], "dim": dim, "depth": depth, "heads": query.shape[1],
             "mlp_dim": t[fc1_key].shape[1], "class_token": class_token,
             "pool": "cls" if class_token else "mean", "final_norm": "before_pool", "gelu": gelu, "norm_eps": 1e-6,
             "num_classes": t["head/kernel"].shape[1] if "head/kernel" in t else 0,
             "head": "mlp" if has_pre_logits else "linear",
             "head_hidden_dim": t["pre_logits/kernel"].shape[1] if has_pre_logits else None}
    known = {k: "the arrays" for k in found if k not in ("gelu", "norm_eps")}
    model = ViT(_make_config(source, found, known, config))

    flax_dense = lambda w: w.T  # noqa: E731  (in, out) kernel -> torch's (out, in) weight
    heads_in = lambda *w: torch.cat([rearrange(x, "d h k -> (h k) d") for x in w])  # noqa: E731  q, k, v -> qkv
    plan: Plan = {"patch_embed.proj.weight": (("embedding/kernel",), lambda w: rearrange(w, "p1 p2 c d -> d c p1 p2")),
                  "patch_embed.proj.bias": (("embedding/bias",), _same), "pos_embed.pos_embed": ((pos_key,), _same),
                  "norm.weight": (("Transformer/encoder_norm/scale",), _same),
                  "norm.bias": (("Transformer/encoder_norm/bias",), _same)}
    if class_token:
        plan["cls_token.token"] = (("cls",), _same)
    for i in range(depth):
        src, dst = f"Transformer/encoderblock_{i}", f"encoder.blocks.{i}"
        att = f"{src}/MultiHeadDotProductAttention_1"
        for vitlib_name, flax_name in (("norm1", "LayerNorm_0"), ("norm2", "LayerNorm_2")):
            plan[f"{dst}.{vitlib_name}.weight"] = ((f"{src}/{flax_name}/scale",), _same)
            plan[f"{dst}.{vitlib_name}.bias"] = ((f"{src}/{flax_name}/bias",), _same)
        plan[f"{dst}.attn.qkv.weight"] = (tuple(f"{att}/{n}/kernel" for n in ("query", "key", "value")), heads_in)
        plan[f"{dst}.attn.qkv.bias"] = (tuple(f"{att}/{n}/bias" for n in ("query", "key", "value")),
                                        lambda *b: torch.cat([x.flatten() for x in b]))
        plan[f"{dst}.attn.proj.weight"] = ((f"{att}/out/kernel",), lambda w: rearrange(w, "h k d -> d (h k)"))
        plan[f"{dst}.attn.proj.bias"] = ((f"{att}/out/bias",), _same)
        for fc, dense in (("fc1", "Dense_0"), ("fc2", "Dense_1")):
            plan[f"{dst}.mlp.{fc}.weight"] = ((f"{src}/MlpBlock_3/{dense}/kernel",), flax_dense)
            plan[f"{dst}.mlp.{fc}.bias"] = ((f"{src}/MlpBlock_3/{dense}/bias",), _same)
    if found["num_classes"]:
        head = {"head.pre_logits": "pre_logits", "head.fc": "head"} if has_pre_logits else {"head": "head"}
        for vitlib_name, flax_name in head.items():
            plan[f"{vitlib_name}.weight"] = ((f"{flax_name}/kernel",), flax_dense)
            plan[f"{vitlib_name}.bias"] = ((f"{flax_name}/bias",), _same)
    group = lambda key: key.rsplit("/", 1)[0] if "/" in key else key  # noqa: E731  a flax module's parameters
    return load_checked(model, t, plan, source, "Is it a plain ViT checkpoint of "
                                                "vit_jax?", hints=NPZ_HINTS, group=group)
