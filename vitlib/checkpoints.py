"""Checkpoints and converters: other implementations' ViT weights -> a vitlib `ViT`.

`from_hf` reads Hugging Face `transformers` ViTs. The layouts differ only in names
and in one detail: transformers keeps q, k and v as three D x D layers, vitlib
fuses them into one 3D x D layer `qkv` (rows [W_q; W_k; W_v]), so they are stacked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .model import ViT, ViTConfig

__all__ = ["from_hf", "hf_config_to_vit_config"]

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
