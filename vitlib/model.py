"""The Vision Transformer (Dosovitskiy et al., ICLR 2021), in one readable file.

    z0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos             (Eq. 1)  embeddings.py, patches.py
    z'_l = MSA(LN(z_{l-1})) + z_{l-1},  l = 1..L               (Eq. 2)  encoder.py, attention.py
    z_l = MLP(LN(z'_l)) + z'_l,         l = 1..L               (Eq. 3)  encoder.py
    y = LN(z_L^0)                                              (Eq. 4)  here
    logits = head(y)                                           (Section 3.1 / 3.2)  here

The paper's alternative to the class token, global average pooling (GAP, Appendix D.3), has no
class token: y is the mean of the N patch tokens, with the final LayerNorm before the mean (the
paper's JAX code) or after it (timm's `fc_norm`):
    ViTConfig(class_token=False, pool="mean")                          # LN, then mean
    ViTConfig(class_token=False, pool="mean", final_norm="after_pool") # mean, then LN

Usage:
    cfg = ViTConfig.preset("B/16", num_classes=1000)
    model = ViT(cfg)
    logits = model(images)                               # (B, C, H, W) -> (B, K)
    logits, attn = model(images, return_attention=True)  # attn: `depth` tensors (B, heads, 1+N, 1+N)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from .attention import check_heads
from .embeddings import POS_EMBED_KINDS, ClassToken, PositionEmbedding
from .encoder import Encoder
from .patches import PatchEmbed, check_patch_size
from .validate import check_fields

__all__ = ["ViTConfig", "ViT", "PretrainHead", "PRESETS"]

# Table 1 of the paper (plus Ti and S from DeiT, as in timm): (layers, D, MLP size, heads); the name gives P.
PRESETS = {
    "Ti/16": (12, 192, 768, 3),
    "S/16": (12, 384, 1536, 6),
    "S/32": (12, 384, 1536, 6),
    "B/16": (12, 768, 3072, 12),
    "B/32": (12, 768, 3072, 12),
    "L/16": (24, 1024, 4096, 16),
    "L/32": (24, 1024, 4096, 16),
    "L/14": (24, 1024, 4096, 16),
    "H/14": (32, 1280, 5120, 16),
}


@dataclass
class ViTConfig:
    """Everything that defines a ViT. Defaults are ViT-B/16 at 224 px with a 1000-class head.

    class_token:   True prepends a learnable [class] token (the paper's default); False feeds the
                   encoder the N patch tokens alone (the paper's GAP variant, Appendix D.3).
    pool:          what the head reads: "cls" the class token's output (Eq. 4); "mean" the average
                   of the patch tokens (global average pooling; a class token, if any, is left out).
    final_norm:    where the last LayerNorm sits: "before_pool" normalises every token, then pools
                   (Eq. 4; the paper's code does this for GAP too); "after_pool" pools, then
                   normalises the pooled vector (timm's `fc_norm`, its default for average pooling).
                   For pool="cls" both give the same y.
    pos_embed:     "learned" (1D, the paper's default), "sincos2d" (fixed), or "none".
    head:          "linear" (a zero-initialised D x K layer, as for fine-tuning) or
                   "mlp" (the pretraining head: D -> head_hidden_dim -> tanh -> K).
    gelu:          "exact" (erf; timm, Hugging Face) or "tanh" (the paper's JAX code).
    norm_eps:      LayerNorm epsilon: 1e-6 in timm/JAX, 1e-12 in Hugging Face.
    patch_embed_norm: lucidrains' vit-pytorch's variant: LayerNorm on the raw patches and after E.
    """

    image_size: int = 224
    patch_size: int = 16
    in_channels: int = 3
    num_classes: int = 1000
    dim: int = 768
    depth: int = 12
    heads: int = 12
    mlp_dim: int = 3072
    class_token: bool = True
    pool: str = "cls"
    final_norm: str = "before_pool"
    pos_embed: str = "learned"
    head: str = "linear"
    head_hidden_dim: int | None = None
    dropout: float = 0.0
    attention_dropout: float = 0.0
    drop_path: float = 0.0
    gelu: str = "exact"
    norm_eps: float = 1e-6
    qkv_bias: bool = True
    patch_embed_norm: bool = False

    def __post_init__(self):
        check_fields(self, sizes=("image_size", "patch_size", "in_channels", "dim", "depth", "heads", "mlp_dim"),
                     counts=("num_classes",), optional_sizes=("head_hidden_dim",), positive=("norm_eps",),
                     rates=("dropout", "attention_dropout", "drop_path"),
                     flags=("class_token", "qkv_bias", "patch_embed_norm"))
        check_patch_size(self.image_size, self.patch_size)
        check_heads(self.dim, self.heads)
        choices = {"pool": ("cls", "mean"), "pos_embed": POS_EMBED_KINDS, "head": ("linear", "mlp"),
                   "gelu": ("exact", "tanh"), "final_norm": ("before_pool", "after_pool")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; use one of {allowed}")
        if self.pool == "cls" and not self.class_token:
            raise ValueError("pool='cls' reads the class token, but class_token=False; use pool='mean' "
                             "(global average pooling, the paper's GAP variant) or class_token=True")

    @classmethod
    def preset(cls, name: str, **overrides) -> "ViTConfig":
        """A paper variant by name, e.g. ViTConfig.preset("B/16", num_classes=10, image_size=384)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
        depth, dim, mlp_dim, heads = PRESETS[name]
        base = dict(patch_size=int(name.split("/")[1]), depth=depth, dim=dim, mlp_dim=mlp_dim, heads=heads)
        return cls(**{**base, **overrides})

    @property
    def grid_size(self) -> int:
        """Patches per side, H / P."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """N = HW / P^2."""
        return self.grid_size**2

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patches: 1 with a class token, 0 without."""
        return 1 if self.class_token else 0

    @property
    def num_tokens(self) -> int:
        """T, the length of the encoder's sequence: 1 + N with a class token, N without."""
        return self.num_prefix_tokens + self.num_patches

    def replace(self, **changes) -> "ViTConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


class PretrainHead(nn.Module):
    """The pretraining head: an MLP with one hidden layer and tanh, (B, D) -> (B, K)."""

    def __init__(self, dim: int, hidden_dim: int, num_classes: int):
        super().__init__()
        self.pre_logits = nn.Linear(dim, hidden_dim)
        self.act = nn.Tanh()
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.pre_logits(y)))


def zero_linear(dim: int, num_classes: int) -> nn.Linear:
    """The fine-tuning head: a D x K linear layer with zero weight and bias (Section 3.2)."""
    head = nn.Linear(dim, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


class ViT(nn.Module):
    """Vision Transformer: images (B, C, H, W) -> logits (B, K) (or features (B, D) if K = 0).

    patch_embed: the token embedding, images (B, C, H, W) -> (B, N, D). Default: Eq. 1's linear
    projection of P x P patches (`PatchEmbed`); the paper's hybrid passes a CNN stem
    (`vitlib.hybrid.hybrid_vit`). It keeps its own initialisation.
    """

    def __init__(self, cfg: ViTConfig, patch_embed: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        if patch_embed is None:
            self.patch_embed = PatchEmbed(cfg.image_size, cfg.patch_size, cfg.in_channels, cfg.dim,
                                          norm=cfg.patch_embed_norm, norm_eps=cfg.norm_eps)
        else:
            self.patch_embed = _checked_patch_embed(patch_embed, cfg)
        self.cls_token = ClassToken(cfg.dim) if cfg.class_token else None
        self.pos_embed = PositionEmbedding(cfg.num_patches, cfg.dim, kind=cfg.pos_embed,
                                           num_prefix_tokens=cfg.num_prefix_tokens)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg.depth, cfg.dim, cfg.heads, cfg.mlp_dim, drop_path=cfg.drop_path,
                               dropout=cfg.dropout, attention_dropout=cfg.attention_dropout, gelu=cfg.gelu,
                               norm_eps=cfg.norm_eps, qkv_bias=cfg.qkv_bias)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)  # the final LayerNorm; cfg.final_norm says where
        for part in self.children():
            if part is not patch_embed:  # a given embedding (None by default) keeps its own initialisation
                part.apply(_init_weights)
        self.head = self._make_head(cfg.num_classes, cfg.head)

    def _make_head(self, num_classes: int, kind: str) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        if kind == "mlp":
            hidden = self.cfg.head_hidden_dim or self.cfg.dim
            return PretrainHead(self.cfg.dim, hidden, num_classes).apply(_init_weights)
        return zero_linear(self.cfg.dim, num_classes)

    def reset_head(self, num_classes: int) -> None:
        """Fine-tuning (Section 3.2): drop the whole head, attach a zero-initialised D x K linear layer."""
        self.cfg = self.cfg.replace(num_classes=num_classes, head="linear", head_hidden_dim=None)
        device = self.norm.weight.device
        self.head = self._make_head(num_classes, "linear").to(device)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, D) -> (B, D): the class token's output, or the mean of the patch tokens."""
        if self.cfg.pool == "cls":
            return tokens[:, 0]
        return tokens[:, self.cfg.num_prefix_tokens:].mean(dim=1)  # over the N patches only

    def encode(self, patch_tokens: torch.Tensor, return_attention: bool = False):
        """The encoder's side of Eq. 1-4: patch tokens (B, N, D), as `patch_embed` makes them (or changed, as
        masked patch prediction does) -> every output token (B, T, D) and the attentions (a list, or None).
        With final_norm="before_pool" the outputs are after the final LayerNorm."""
        x = patch_tokens
        if self.cls_token is not None:
            x = self.cls_token(x)  # (B, 1+N, D)
        x = self.dropout(self.pos_embed(x))  # z0, Eq. 1: (B, T, D), T = 1+N or N
        x, attentions = self.encoder(x, return_attention)  # z_L, Eq. 2-3
        if self.cfg.final_norm == "before_pool":
            x = self.norm(x)  # LN of every token, Eq. 4
        return x, attentions

    def forward_features(self, images: torch.Tensor, return_attention: bool = False):
        """images (B, C, H, W) -> y (B, D) after the final LayerNorm and pooling (Eq. 1-4)."""
        x, attentions = self.encode(self.patch_embed(images), return_attention)  # (B, T, D)
        y = self.pool(x)  # (B, D)
        if self.cfg.final_norm == "after_pool":
            y = self.norm(y)  # LN of the pooled vector (timm's fc_norm)
        return y, attentions

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """images (B, C, H, W) -> logits (B, K); with return_attention, also `depth` tensors (B, H, T, T),
        T = 1 + N (N without a class token)."""
        y, attentions = self.forward_features(images, return_attention)
        logits = self.head(y)
        return (logits, attentions) if return_attention else logits


def _checked_patch_embed(patch_embed: nn.Module, cfg: ViTConfig) -> nn.Module:
    """patch_embed if it makes cfg's tokens (cfg.num_patches of them, each from P x P pixels), else a ValueError."""
    got = (getattr(patch_embed, "patch_size", None), getattr(patch_embed, "num_patches", None))
    if got != (cfg.patch_size, cfg.num_patches):
        raise ValueError(f"the patch_embed makes tokens of {got[0]} x {got[0]} px ({got[1]} per image), but cfg has "
                         f"patch_size {cfg.patch_size} ({cfg.num_patches} per image); build it for cfg.image_size "
                         f"and set cfg.patch_size to its stride")
    if cfg.patch_embed_norm:
        raise ValueError("patch_embed_norm changes the default patch projection; with your own patch_embed, "
                         "set patch_embed_norm=False")
    return patch_embed


def _init_weights(module: nn.Module) -> None:
    """The reference initialisation: Xavier-uniform linear layers with zero bias;
    the patch embedding as a linear map of fan-in P*P*C (LeCun normal). Heads are zeroed
    by `zero_linear`; class token zeros and E_pos normal(0.02) are set where they are made."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        nn.init.trunc_normal_(module.weight, std=(1.0 / fan_in) ** 0.5)
        nn.init.zeros_(module.bias)
