"""Notebook 04 (encoder): the drawing, widget and exercise checkers the notebook uses.

    plot_vit_cost         compute and attention memory of a ViT against its sequence length
    vit_cost_widget       a ViT's hyperparameters -> tokens, parameters, FLOPs, memory (Table 1's presets)
    check_block_forward   exercise: the pre-norm encoder block, Eq. 2-3
    check_param_count     exercise: a ViT's exact parameter count
    vit_weights           a ViT's weights as plain tensors with the paper's names (for the capstone)
    check_vit_forward     capstone: the whole forward pass, Eq. 1-4, stage by stage against vitlib's ViT
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
from einops import rearrange
from ipywidgets import widgets
from matplotlib.figure import Figure
from torch import nn

from ..attention import MultiHeadSelfAttention
from ..cost import count_params, summary
from ..encoder import MLP
from ..model import PRESETS, ViTConfig
from .exercise import ExerciseError, checker, name_the_mistake, passed, require_tensor, run_answer
from .ui import SliderFigure
from .figures import plot_architecture  # Figure 1, shared: the 'you are here' strip

__all__ = ["plot_architecture", "plot_vit_cost", "vit_cost_widget", "check_block_forward", "check_param_count",
           "vit_weights", "capstone_model", "check_vit_forward"]


# ------------------------------ drawings


def _spaced_ticks(values, labels, keep_first=(), min_gap: float = 0.2):
    """The (value, label) pairs to draw on a log axis: no two closer than `min_gap` decades.

    Pairs whose value is in `keep_first` are placed first (the current configuration, the paper's
    patch sizes); the others fill the gaps in order, so neighbouring labels never collide.
    """
    pairs = sorted(zip(values, labels))
    first = [pair for pair in pairs if pair[0] in keep_first]
    rest = [pair for pair in pairs if pair[0] not in keep_first]
    kept = []
    for value, label in first + rest:
        if all(abs(np.log10(value) - np.log10(other)) >= min_gap for other, _ in kept):
            kept.append((value, label))
    return sorted(kept)


def plot_vit_cost(tokens, flops_attention, flops_other, memory_bytes, current_tokens: int,
                  labels=None, title: str | None = None, table=None) -> Figure:
    """Compute and memory of a ViT against its sequence length T = N + 1 (notebook 04).

    tokens:          (S,) sequence lengths (one per patch size).
    flops_attention: (S,) forward FLOPs per image in the two T x T matmuls, q k^T and A v (grow as T^2).
    flops_other:     (S,) all other forward FLOPs (patch embedding, qkv, U_msa, MLP, head: grow as T).
    memory_bytes:    (S,) memory of the attention matrices of all layers for one image.
    current_tokens:  the T of the current configuration (marked). labels: (S,) e.g. "P=16", written on
                     a second axis on top, thinned so that no two labels overlap (the current one kept).
    table:           optional rows (name, value) of the current configuration, drawn as a panel on the
                     left, so that the picture holds the numbers as well as the curves.
    """
    t = np.asarray(tokens, dtype=float)
    fa, fo = np.asarray(flops_attention, dtype=float), np.asarray(flops_other, dtype=float)
    mem = np.asarray(memory_bytes, dtype=float)
    order = np.argsort(t)
    t, fa, fo, mem = t[order], fa[order], fo[order], mem[order]
    labels = [labels[i] for i in order] if labels is not None else None
    if table:
        fig = Figure(figsize=(14, 4.4), layout="constrained")
        ax_t, ax_f, ax_m = fig.subplots(1, 3, width_ratios=[0.8, 1, 1])
        ax_t.set_axis_off()
        ax_t.set_title("this configuration", fontsize=11)
        for row, (name, value) in enumerate(table):
            y = 0.93 - row * 0.135
            ax_t.text(0.0, y, name, transform=ax_t.transAxes, fontsize=10, va="top")
            ax_t.text(0.0, y - 0.055, value, transform=ax_t.transAxes, fontsize=11, va="top", weight="bold")
    else:
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        ax_f, ax_m = fig.subplots(1, 2)
    ax_f.plot(t, (fa + fo) / 1e9, "o-", color="black", label="total")
    ax_f.plot(t, fo / 1e9, "s--", color="tab:blue", label="linear layers (~ T)")
    ax_f.plot(t, fa / 1e9, "^--", color="tab:red", label="q k^T and A v (~ T^2)")
    ax_m.plot(t, mem / 2**20, "o-", color="tab:purple")
    for ax in (ax_f, ax_m):
        ax.axvline(current_tokens, color="tab:green", ls=":", label=f"current: T = {current_tokens}")
        ax.set(xscale="log", yscale="log", xlabel="sequence length T = N + 1 (log axis)")
        if labels is not None:
            sizes = {value: label for value, label in zip(t, labels)}
            kept = _spaced_ticks(list(sizes), [sizes[v] for v in sizes],
                                 keep_first=[v for v, lab in sizes.items() if v == current_tokens
                                             or lab in ("P=16", "P=32")])
            ax2 = ax.secondary_xaxis("top")
            ax2.set_xticks([v for v, _ in kept], [lab.removeprefix("P=") for _, lab in kept], fontsize=9)
            ax2.tick_params(which="minor", top=False)
            ax2.set_xlabel("patch size P", fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
    ax_f.set(ylabel="forward GFLOPs per image", title="compute per image")
    ax_m.set(ylabel="MiB (float32, all layers)", title="attention matrices of one image")
    ax_f.legend(fontsize=8)
    ax_m.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------ widgets


def vit_cost_widget(image_size: int = 224, patch_size: int = 16, dim: int = 768, depth: int = 12,
                    heads: int = 12, mlp_ratio: float = 4.0, in_channels: int = 3,
                    num_classes: int = 1000) -> SliderFigure:
    """Notebook 04: what a ViT's hyperparameters cost: sequence length, parameters, FLOPs, attention memory.

    Controls: `preset` (Table 1 variants, or custom), `image_size`, `patch_size`, `dim`, `depth`,
    `heads`, `mlp_ratio` (mlp_dim = round(mlp_ratio * dim)). An invalid combination (dim not divisible
    by heads, image size not divisible by patch size, ...) shows ViTConfig's message instead of a figure.
    Counts come from vitlib.cost, analytically, so even ViT-H costs nothing to show.
    """
    def config(values):
        mlp_dim = int(round(values["mlp_ratio"] * values["dim"]))
        return ViTConfig(image_size=values["image_size"], patch_size=values["patch_size"], in_channels=in_channels,
                         num_classes=num_classes, dim=values["dim"], depth=values["depth"],
                         heads=values["heads"], mlp_dim=mlp_dim)

    def draw(values):
        if values["mlp_ratio"] <= 0:
            raise ValueError(f"MLP ratio must be positive, got {values['mlp_ratio']}; the paper uses 4")
        if values["image_size"] > 4096:
            raise ValueError(f"image size {values['image_size']} is too large for this widget; use at most 4096")
        cfg = config(values)  # ValueError with ViTConfig's message if the combination is invalid
        cost = summary(cfg)
        t, params, fa, flops, memory = (cost.tokens, cost.params, cost.attention_matmul_flops, cost.forward_flops,
                                        cost.attention_memory_bytes)
        sizes = [q for q in range(1, cfg.image_size + 1)
                 if cfg.image_size % q == 0 and (cfg.image_size // q) ** 2 + 1 <= 20000]
        parts = [summary(cfg.replace(patch_size=q)) for q in sizes]
        rows = [
            ("patches N = (H/P)²", f"{cfg.grid_size} x {cfg.grid_size} = {cfg.num_patches:,}"),
            ("sequence length T = N + 1", f"{t:,}"),
            ("head size D_h = D / heads", f"{cfg.dim // cfg.heads}"),
            ("MLP size", f"{cfg.mlp_dim:,}"),
            ("parameters", f"{params:,} ({params / 1e6:.1f} M)"),
            ("forward FLOPs per image", f"{flops / 1e9:.2f} G ({fa / flops:.0%} in q k^T and A v)"),
            ("attention matrices, one image", f"{memory / 2**20:.2f} MiB (float32)"),
        ]
        fig = plot_vit_cost([x.tokens for x in parts], [x.attention_matmul_flops for x in parts],
                            [x.forward_flops - x.attention_matmul_flops for x in parts],
                            [x.attention_memory_bytes for x in parts], t, labels=[f"P={q}" for q in sizes],
                            title=f"{cfg.image_size} px images, D = {cfg.dim}, {cfg.depth} layers, "
                                  f"{cfg.heads} heads, MLP {cfg.mlp_dim}: cost as the patch size changes",
                            table=rows)
        return fig, (f"<p>T = {t:,} tokens, <b>{params:,}</b> parameters, {flops / 1e9:.2f} GFLOPs per image; "
                     "the curves vary only the patch size. Memory is per image: times B for a batch of B.</p>")

    def text(name, value, width="190px"):
        return widgets.IntText(value=value, description=name, style={"description_width": "initial"},
                          layout=widgets.Layout(width=width))

    controls = {
        "preset": widgets.Dropdown(options=["custom", *PRESETS], value="custom", description="preset"),
        "image_size": text("image size", image_size),
        "patch_size": text("patch size", patch_size),
        "dim": text("dim D", dim),
        "depth": widgets.IntSlider(value=depth, min=1, max=48, description="depth", continuous_update=False),
        "heads": widgets.IntSlider(value=heads, min=1, max=32, description="heads", continuous_update=False),
        "mlp_ratio": widgets.FloatSlider(value=mlp_ratio, min=0.5, max=8.0, step=0.5, description="MLP ratio",
                                    continuous_update=False),
    }
    app = SliderFigure(controls, draw, rows=[["preset", "image_size", "patch_size", "dim"],
                                             ["depth", "heads", "mlp_ratio"]],
                       watch=[name for name in controls if name != "preset"])

    def preset_chosen(change):
        if change["new"] == "custom" or app._hold:  # _hold: a change made by `set` or `edited`
            return
        layers, d, mlp, h = PRESETS[change["new"]]
        app.set(image_size=224, patch_size=int(change["new"].split("/")[1]), dim=d, depth=layers, heads=h,
                mlp_ratio=mlp / d)  # one redraw; `edited` leaves the preset's name shown while _hold is set

    def edited(change):
        if not app._hold and app.controls["preset"].value != "custom":
            with app.held():
                app.controls["preset"].value = "custom"

    controls["preset"].observe(preset_chosen, names="value")
    for name in ("image_size", "patch_size", "dim", "depth", "heads", "mlp_ratio"):
        controls[name].observe(edited, names="value")
    return app


# ------------------------------ exercise checkers


def _random_block_parts(dim: int = 16, heads: int = 2, seed: int = 0):
    """LayerNorms with random affine parameters, an MSA callable and an MLP, all fixed by `seed`."""
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random state alone
        torch.manual_seed(seed)
        norm1, norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        for norm in (norm1, norm2):  # random gain and bias, so swapping the two norms is visible
            nn.init.normal_(norm.weight, 1.0, 0.5)
            nn.init.normal_(norm.bias, 0.0, 0.5)
        msa = MultiHeadSelfAttention(dim, heads).eval()
        mlp = MLP(dim, 4 * dim).eval()
    return norm1, (lambda x: msa(x)[0]), norm2, mlp


@checker
def check_block_forward(block_forward) -> bool:
    """Notebook 04, exercise 1: block_forward(z, norm1, attn, norm2, mlp) -> z, the pre-norm block (Eq. 2-3).

    z' = z + attn(norm1(z));  out = z' + mlp(norm2(z')).   z (B, T, D) -> (B, T, D).
    """
    norm1, attn, norm2, mlp = _random_block_parts()
    z = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        attempted, got = run_answer(block_forward, z, norm1, attn, norm2, mlp, name="block_forward")
        if not attempted:
            return False
        expected = _block_pre_norm(z, norm1, attn, norm2, mlp)
        mistakes = [(wrong(z, norm1, attn, norm2, mlp), message) for wrong, message in _BLOCK_MISTAKES]
    require_tensor(got, "block_forward")
    if got.shape != z.shape:
        raise ExerciseError(f"block_forward: shape {tuple(got.shape)}, expected {tuple(z.shape)}: "
                            "a block maps (B, T, D) to (B, T, D)")
    name_the_mistake("block_forward", got, expected, mistakes)
    return passed("block_forward", "z' = z + MSA(LN(z)), out = z' + MLP(LN(z')), the pre-norm block of Eq. 2-3")


def _block_pre_norm(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))  # Eq. 2
    return z + mlp(norm2(z))  # Eq. 3


def _block_post_norm(z, norm1, attn, norm2, mlp):
    z = norm1(z + attn(z))
    return norm2(z + mlp(z))


def _block_no_residuals(z, norm1, attn, norm2, mlp):
    z = attn(norm1(z))
    return mlp(norm2(z))


def _block_no_first_residual(z, norm1, attn, norm2, mlp):
    z = attn(norm1(z))
    return z + mlp(norm2(z))


def _block_no_second_residual(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))
    return mlp(norm2(z))


def _block_normed_residuals(z, norm1, attn, norm2, mlp):
    n = norm1(z)
    z = n + attn(n)
    n = norm2(z)
    return n + mlp(n)


def _block_normed_first_residual(z, norm1, attn, norm2, mlp):
    n = norm1(z)
    z = n + attn(n)
    return z + mlp(norm2(z))


def _block_normed_second_residual(z, norm1, attn, norm2, mlp):
    z = z + attn(norm1(z))
    n = norm2(z)
    return n + mlp(n)


def _block_parallel(z, norm1, attn, norm2, mlp):
    return z + attn(norm1(z)) + mlp(norm2(z))


def _block_swapped_norms(z, norm1, attn, norm2, mlp):
    return _block_pre_norm(z, norm2, attn, norm1, mlp)


def _block_mlp_first(z, norm1, attn, norm2, mlp):
    z = z + mlp(norm2(z))
    return z + attn(norm1(z))


_BLOCK_MISTAKES = [
    (_block_post_norm, "this is post-norm (the original Transformer of 2017): LayerNorm after adding the residual. "
                 "ViT normalises the input of each sub-layer and leaves the residual stream alone: "
                 "z' = z + MSA(LN(z)) (Eq. 2)"),
    (_block_no_residuals, "both residual connections are missing: add each sub-layer's input back, "
                    "z' = z + MSA(LN(z)) and out = z' + MLP(LN(z'))"),
    (_block_no_first_residual, "the first residual connection is missing: z' = z + MSA(LN(z)) (Eq. 2)"),
    (_block_no_second_residual, "the second residual connection is missing: out = z' + MLP(LN(z')) (Eq. 3)"),
    (_block_normed_residuals, "the residuals must carry z itself, not LN(z): z' = z + MSA(LN(z)), not LN(z) + "
                              "MSA(LN(z))"),
    (_block_normed_first_residual, "the first residual must carry z itself, not LN(z): z' = z + MSA(LN(z))"),
    (_block_normed_second_residual, "the second residual must carry z' itself, not LN(z'): out = z' + MLP(LN(z'))"),
    (_block_parallel, "the MLP must see z' (the output of the attention step), not z: the two steps run one after "
                "the other (Eq. 2, then Eq. 3), not in parallel"),
    (_block_swapped_norms, "the two LayerNorms are swapped: norm1 goes before the attention, norm2 before the MLP"),
    (_block_mlp_first, "wrong order: attention comes first (Eq. 2), then the MLP (Eq. 3)"),
]

# What a parameter count misses when it forgets a part: (what, how many parameters it has).
_PARAM_PARTS = [
    ("the class token (D)", lambda c, n, pc: c.dim),
    ("the class token's row of E_pos (it has N + 1 rows, not N)", lambda c, n, pc: c.dim),
    ("the bias of the patch embedding E (D)", lambda c, n, pc: c.dim),
    ("the final LayerNorm of Eq. 4 (gain and bias: 2D)", lambda c, n, pc: 2 * c.dim),
    ("the two LayerNorms in every block (4D per block)", lambda c, n, pc: c.depth * 4 * c.dim),
    ("the biases inside every block (qkv 3D, U_msa D, MLP mlp_dim + D)",
     lambda c, n, pc: c.depth * (5 * c.dim + c.mlp_dim)),
    ("the output projection U_msa of every block (D*D + D)", lambda c, n, pc: c.depth * (c.dim**2 + c.dim)),
    ("two of the three projections q, k, v (each D*D + D per "
     "block)", lambda c, n, pc: c.depth * 2 * (c.dim**2 + c.dim)),
    ("the second MLP layer of every block (mlp_dim*D + D)", lambda c, n, pc: c.depth * (c.mlp_dim * c.dim + c.dim)),
    ("the classification head (D*K + K)", lambda c, n, pc: c.dim * c.num_classes + c.num_classes),
    ("the head's bias (K)", lambda c, n, pc: c.num_classes),
    ("the position embeddings E_pos ((N + 1) x D)", lambda c, n, pc: (n + 1) * c.dim),
    ("the patch embedding E (P*P*C x D, plus its bias D)", lambda c, n, pc: pc * c.dim + c.dim),
]


@checker
def check_param_count(count_vit_params) -> bool:
    """Notebook 04, exercise 2: count_vit_params(image_size, patch_size, in_channels, dim, depth, mlp_dim,
    num_classes) -> int, the exact parameter count of a ViT (learned E_pos, class token, linear head).

    Compared with vitlib.cost.count_params on ViT-B/16 and on a small ViT; a wrong count is matched
    against the parts people forget (class token, LayerNorms, biases, ...).
    """
    configs = {
        "ViT-B/16 (224 px, 1000 classes)": ViTConfig.preset("B/16", num_classes=1000),
        "a small ViT (32 px, P=4, C=1, D=96, 3 blocks, MLP 200, 10 classes)":
            ViTConfig(image_size=32, patch_size=4, in_channels=1, dim=96, depth=3, heads=3, mlp_dim=200,
                      num_classes=10),
    }
    got, expected = {}, {}
    for name, c in configs.items():
        args = (c.image_size, c.patch_size, c.in_channels, c.dim, c.depth, c.mlp_dim, c.num_classes)
        attempted, value = run_answer(count_vit_params, *args, name="count_vit_params")
        if not attempted:
            return False
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            if hasattr(value, "__index__"):  # numpy integers
                value = int(value)
            else:
                raise ExerciseError(f"count_vit_params: return an int, got {type(value).__name__} ({value!r})")
        got[name], expected[name] = value, count_params(c)
    if got == expected:
        return passed("count_vit_params", f"{', '.join(f'{v:,}' for v in got.values())} parameters, "
                   "equal to vitlib.cost.count_params (and to timm for ViT-B/16)")
    shortfall = [expected[name] - got[name] for name in configs]
    parts = [(what, [f(c, c.num_patches, c.patch_size**2 * c.in_channels) for c in configs.values()])
             for what, f in _PARAM_PARTS]
    explanations = [what for what, sizes in parts if sizes == shortfall]
    explanations += [f"{a} and {b}" for (a, sa), (b, sb) in combinations(parts, 2)
                     if [x + y for x, y in zip(sa, sb)] == shortfall]
    name = next(iter(configs))
    diff = shortfall[0]
    lines = [f"count_vit_params: {got[name]:,} for {name}, expected {expected[name]:,} "
             f"({'short by' if diff > 0 else 'too many by'} {abs(diff):,})."]
    if explanations:
        lines.append("That is exactly what you get if you forgot " + "; or ".join(explanations) + ".")
    elif diff < 0:
        lines.append("You count something twice or too big: heads do not add parameters (q, k, v are D x D "
                     "whatever the number of heads), and E_pos has N + 1 rows.")
    else:
        lines.append("Go through the parts: E and its bias, class token, E_pos, per block 2 LayerNorms, qkv, "
                     "U_msa, 2 MLP layers (with biases), the final LayerNorm, the head.")
    raise ExerciseError(" ".join(lines))


# ------------------------------ capstone: the whole forward pass, Eq. 1-4


def vit_weights(model) -> dict:
    """A vitlib ViT's weights as plain tensors named after the paper, each matrix (in, out) so `x @ W + b`.

    patch_size, heads; E (P*P*C, D) with rows in patchify's (p1 p2 c) order and E_bias (D,); x_class (D,);
    E_pos (N+1, D); layers: one dict per block with ln1_gain, ln1_bias, W_qkv (D, 3D) whose columns
    are (three heads D_h), b_qkv (3D,), U_msa (D, D), b_msa, ln2_gain, ln2_bias, W_fc1 (D, M), b_fc1,
    W_fc2 (M, D), b_fc2; ln_gain, ln_bias (Eq. 4); W_head (D, K), b_head (K,).
    Only the paper's layout: class token, learned E_pos, no patch-embedding norm, a linear head.
    """
    cfg = model.cfg
    if not (cfg.class_token and cfg.pool == "cls" and cfg.pos_embed == "learned" and not cfg.patch_embed_norm
            and cfg.head == "linear" and cfg.qkv_bias and cfg.final_norm == "before_pool"):
        raise ValueError("vit_weights reads the paper's layout only (class token, learned E_pos, plain patch "
                         "embedding, linear head); build the model with ViTConfig's defaults for these fields")

    def t(x):
        return x.detach().clone()

    layers = [{"ln1_gain": t(b.norm1.weight), "ln1_bias": t(b.norm1.bias),
               "W_qkv": t(b.attn.qkv.weight.T), "b_qkv": t(b.attn.qkv.bias),
               "U_msa": t(b.attn.proj.weight.T), "b_msa": t(b.attn.proj.bias),
               "ln2_gain": t(b.norm2.weight), "ln2_bias": t(b.norm2.bias),
               "W_fc1": t(b.mlp.fc1.weight.T), "b_fc1": t(b.mlp.fc1.bias),
               "W_fc2": t(b.mlp.fc2.weight.T), "b_fc2": t(b.mlp.fc2.bias)} for b in model.encoder.blocks]
    return {"patch_size": cfg.patch_size, "heads": cfg.heads,
            "E": t(model.patch_embed.E), "E_bias": t(model.patch_embed.proj.bias),
            "x_class": t(model.cls_token.token[0, 0]), "E_pos": t(model.pos_embed.pos_embed[0]),
            "layers": layers, "ln_gain": t(model.norm.weight), "ln_bias": t(model.norm.bias),
            "W_head": t(model.head.weight.T), "b_head": t(model.head.bias)}


def _ln(x, gain, bias):
    return nn.functional.layer_norm(x, x.shape[-1:], gain, bias, eps=1e-6)


def _forward(images, w, pos=True, cls_first=True, flatten="(p1 p2 c)", e_bias=True, scale="D_h", softmax_dim=-1,
             split_heads=True, post_norm=False, residual=True, u_msa=True, gelu="none", final_ln=True, read="first"):
    """Eq. 1-4 and the head written out, with switches that make the usual mistakes: -> (z0, zL, y, logits)."""
    p, heads = w["patch_size"], w["heads"]
    x = rearrange(images, f"b c (h p1) (w p2) -> b (h w) {flatten}", p1=p, p2=p)  # [B, N, P*P*C]
    x = x @ w["E"] + (w["E_bias"] if e_bias else 0)  # [B, N, D]
    cls = w["x_class"].expand(len(x), 1, -1)  # [B, 1, D]
    z = torch.cat([cls, x] if cls_first else [x, cls], dim=1) + (w["E_pos"] if pos else 0)  # z0: [B, N+1, D]
    z0 = z
    for layer in w["layers"]:
        n = z if post_norm else _ln(z, layer["ln1_gain"], layer["ln1_bias"])
        q, k, v = rearrange(n @ layer["W_qkv"] + layer["b_qkv"], "b t (three h d) -> three b h t d", three=3,
                            h=heads if split_heads else 1)  # [B, heads, T, D_h]
        s = {"D_h": q.shape[-1] ** -0.5, "D": z.shape[-1] ** -0.5, "none": 1.0}[scale]
        a = (q @ k.transpose(-2, -1) * s).softmax(dim=softmax_dim)  # [B, heads, T, T]
        out = rearrange(a @ v, "b h t d -> b t (h d)")  # [B, T, D]
        out = out @ layer["U_msa"] + layer["b_msa"] if u_msa else out
        z = (z if residual else 0) + out  # Eq. 2
        z = _ln(z, layer["ln1_gain"], layer["ln1_bias"]) if post_norm else z
        n = z if post_norm else _ln(z, layer["ln2_gain"], layer["ln2_bias"])
        hidden = nn.functional.gelu(n @ layer["W_fc1"] + layer["b_fc1"], approximate=gelu)
        z = (z if residual else 0) + hidden @ layer["W_fc2"] + layer["b_fc2"]  # Eq. 3
        z = _ln(z, layer["ln2_gain"], layer["ln2_bias"]) if post_norm else z
    token = {"first": z[:, 0], "last": z[:, -1], "mean": z.mean(dim=1)}[read]
    y = _ln(token, w["ln_gain"], w["ln_bias"]) if final_ln else token  # Eq. 4: [B, D]
    return z0, z, y, y @ w["W_head"] + w["b_head"]


# (what differs, which output shows it, the message); the checker tries them in this order
_FORWARD_MISTAKES = [
    (dict(pos=False), 0, "Eq. 1 is off: E_pos is missing; add it to every token, the class token included"),
    (dict(cls_first=False), 0, "Eq. 1 is off: the class token goes in FRONT of the patches (token 0), "
                               "z0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos"),
    (dict(flatten="(c p1 p2)"), 0, "Eq. 1 is off: the patches are flattened in (c p1 p2) order; E's rows are in "
                                   "patchify's order (p1 p2 c), as in notebook 01"),
    (dict(e_bias=False), 0, "Eq. 1 is off: the projection has a bias too, x_p E + E_bias"),
    (dict(scale="none"), 1, "Eq. 2 is off: the attention scores lack the scale 1/sqrt(D_h) (notebook 03)"),
    (dict(scale="D"), 1, "Eq. 2 is off: scale the scores by 1/sqrt(D_h), the width of one head, not 1/sqrt(D)"),
    (dict(softmax_dim=-2), 1, "Eq. 2 is off: the softmax runs over the keys (the last axis), so that each "
                              "query's weights sum to 1"),
    (dict(split_heads=False), 1, "Eq. 2 is off: this is one head of width D; split q, k, v into `heads` heads "
                                 "with 'b t (three h d) -> three b h t d'"),
    (dict(u_msa=False), 1, "Eq. 2 is off: the concatenated heads go through U_msa (and b_msa) before the residual"),
    (dict(post_norm=True), 1, "Eq. 2-3 are off: this is post-norm; ViT normalises each sub-layer's INPUT, "
                              "z' = MSA(LN(z)) + z"),
    (dict(residual=False), 1, "Eq. 2-3 are off: the residual connections are missing (+ z and + z')"),
    (dict(gelu="tanh"), 1, "Eq. 3 is off: the MLP uses the exact GELU, F.gelu(x), not the tanh approximation"),
    (dict(final_ln=False), 2, "Eq. 4 is off: y is the class token after one more LayerNorm, LN(z_L^0)"),
    (dict(read="mean"), 2, "Eq. 4 is off: y reads the class token, z_L^0 (token 0), not the mean of all tokens"),
    (dict(read="last"), 2, "Eq. 4 is off: y reads the class token, token 0, not the last token"),
]
_STAGES = ["z0 (Eq. 1)", "z_L (Eq. 2-3, after the last block)", "y (Eq. 4)", "the logits (the head, y W_head + b_head)"]


def capstone_model(seed: int = 0):
    """A small ViT (16 px RGB, P = 4, D = 16, 2 blocks of 2 heads, 5 classes) with every weight random and
    visible: non-zero class token and head, E_pos of std 0.5, LayerNorms with random gain and bias."""
    from ..model import ViT

    cfg = ViTConfig(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=16, depth=2, heads=2, mlp_dim=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ViT(cfg).eval()
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "norm" in name:
                    param.copy_(torch.randn_like(param) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
                elif name.startswith(("cls_token", "pos_embed", "head")):
                    param.copy_(torch.randn_like(param) * 0.5)
    return model


@checker
def check_vit_forward(vit_forward) -> bool:
    """Notebook 04, capstone: vit_forward(images, params) -> (z0, zL, y, logits), the whole ViT from
    `vit_weights(model)`: Eq. 1 (z0 [B, N+1, D]), Eq. 2-3 (z_L [B, N+1, D]), Eq. 4 (y [B, D]), head ([B, K]).

    Compared stage by stage with vitlib's ViT on a small random model; the first stage that differs is
    named, with the usual mistake it matches.
    """
    model = capstone_model()
    params = vit_weights(model)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        attempted, got = run_answer(vit_forward, images, params, name="vit_forward")
        if not attempted:
            return False
        expected = _forward(images, params)
        assert torch.allclose(expected[-1], model(images), atol=1e-5)  # the written-out reference is vitlib's ViT
        wrong = [(_forward(images, params, **flags), stage, message) for flags, stage, message in _FORWARD_MISTAKES]
    if not isinstance(got, tuple | list) or len(got) != 4:
        raise ExerciseError("vit_forward: return four tensors, `return z0, z, y, logits` (Eq. 1, Eq. 2-3, Eq. 4, head)")
    for stage, (mine, right) in enumerate(zip(got, expected)):
        name = f"vit_forward: {_STAGES[stage]}"
        if isinstance(mine, torch.Tensor) and mine.shape != right.shape:
            raise ExerciseError(f"{name} has shape {tuple(mine.shape)}, expected {tuple(right.shape)} "
                                f"(B = 2 images, N + 1 = 17 tokens, D = 16, K = 5 classes)")
        mistakes = [(outputs[stage], message) for outputs, at, message in wrong if at <= stage]
        name_the_mistake(name, mine, right, mistakes, atol=1e-4)
    return passed("vit_forward", "z0 (Eq. 1), z_L (Eq. 2-3, 2 blocks), y (Eq. 4) and the logits equal vitlib.ViT's")
