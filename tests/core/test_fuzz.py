"""Property-based tests (Hypothesis): random shapes, dtypes, layouts and values at each public entry point.

The contract: a correct result, or a ValueError/TypeError raised by vitlib itself whose message names the
argument. Never an error from inside PyTorch, einops or numpy, and never a silently wrong shape. Each test
also says which inputs are valid (a small oracle), so a check that refuses good input fails too.

Bounded for CI: derandomized (the same examples on every run), few examples, no deadline, no database.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vitlib
from vitlib import ViT, ViTConfig
from vitlib.attention import MultiHeadSelfAttention, fast_attention, scaled_dot_product_attention
from vitlib.baselines import SmallCNN, SmallResNet
from vitlib.converters import from_timm
from vitlib.data import load_digits, resize_images
from vitlib.fractals import FractalDataset
from vitlib.embeddings import INTERPOLATION_MODES, resize_pos_embed
from vitlib.patches import PatchEmbed, patchify, unpatchify
from vitlib.probes import attention_maps, attention_rollout, mean_attention_distance, pos_embed_similarity
from vitlib.train import fit, predict

FUZZ = settings(derandomize=True, max_examples=25, deadline=None, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
VITLIB = str(Path(vitlib.__file__).parent)

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.uint8, torch.int64, torch.bool]


def call(fn, *args, names, **kwargs):
    """fn(*args, **kwargs) -> (result, None), or (None, error) for a ValueError/TypeError that vitlib raised
    naming one of `names`. Any other error, or one raised inside a library, fails the test."""
    try:
        return fn(*args, **kwargs), None
    except (ValueError, TypeError) as error:
        tb = error.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        where = tb.tb_frame.f_code.co_filename
        assert where.startswith(VITLIB), f"{type(error).__name__} from inside {where}: {error}"
        assert any(name in str(error) for name in names), f"the message names none of {names}: {error}"
        return None, error


def make(shape, dtype=torch.float32, kind="tensor"):
    """An array of `shape`: a tensor, or (kind="numpy", where numpy has the dtype) a numpy array."""
    x = torch.rand(shape) if dtype.is_floating_point else torch.randint(0, 2, shape)
    x = x.to(dtype)
    return x.numpy() if kind == "numpy" and dtype != torch.bfloat16 else x


kinds = st.sampled_from(["tensor", "tensor", "numpy"])
dtypes = st.sampled_from(DTYPES)
whole = st.integers(-2, 9)
plain_values = st.one_of(whole, st.floats(-1, 2, allow_nan=False), st.booleans(), st.none(), st.just("4"))


def image_shapes(c, s):
    """Shapes around (B, c, s, s): right, channels-last, one image, a wrong channel count or size, random."""
    b = st.integers(0, 3)
    return st.one_of(
        b.map(lambda n: (n, c, s, s)), b.map(lambda n: (n, s, s, c)), st.just((c, s, s)), st.just((s, s, c)),
        st.just((s, s)), b.map(lambda n: (n, c + 1, s, s)), b.map(lambda n: (n, c, s // 2, s)),
        st.lists(st.integers(0, 5), min_size=1, max_size=5).map(tuple),
    )


# ----------------------------------------------------------------------------- model, patches, embeddings

GREY = ViT(ViTConfig(image_size=8, patch_size=4, in_channels=1, num_classes=3, dim=8, depth=1, heads=2,
                     mlp_dim=8)).eval()
RGB = ViT(ViTConfig(image_size=8, patch_size=4, in_channels=3, num_classes=0, dim=8, depth=1, heads=2, mlp_dim=8,
                    patch_embed_norm=True)).eval()


@settings(FUZZ, max_examples=50)
@given(model=st.sampled_from([GREY, RGB]), data=st.data(), dtype=dtypes, kind=kinds)
def test_model_forward(model, data, dtype, kind):
    c = model.cfg.in_channels
    shape = data.draw(image_shapes(c, 8))
    images = make(shape, dtype, kind)
    valid = isinstance(images, torch.Tensor) and dtype == torch.float32 and len(shape) == 4 and shape[1:] == (c, 8, 8)
    with torch.no_grad():
        out, error = call(model, images, names=["images"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (shape[0], model.cfg.num_classes or model.cfg.dim)
    elif isinstance(images, torch.Tensor) and len(shape) == 4 and shape[1] != c:  # the layout is named first
        fix = "permute(0, 3, 1, 2)" if shape[-1] == c else f"in_channels={shape[1]}"
        assert fix in str(error), error


@FUZZ
@given(form=st.sampled_from(["conv", "linear"]), data=st.data(), dtype=dtypes, kind=kinds)
def test_patch_embed(form, data, dtype, kind):
    embed = PatchEmbed(8, 4, 3, 6, form=form)
    shape = data.draw(image_shapes(3, 8))
    valid = kind == "tensor" and dtype == torch.float32 and len(shape) == 4 and shape[1:] == (3, 8, 8)
    with torch.no_grad():
        out, error = call(embed, make(shape, dtype, kind), names=["images"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (shape[0], 4, 6)


@FUZZ
@given(shape=st.one_of(image_shapes(3, 8), image_shapes(1, 12)), p=st.one_of(st.integers(-1, 9), st.just(2.0)),
       dtype=dtypes, kind=kinds)
def test_patchify_round_trip(shape, p, dtype, kind):
    images = make(shape, dtype, kind)
    valid = (len(shape) == 4 and isinstance(p, int) and p >= 1 and min(shape[2:]) >= 1
             and shape[2] % p == 0 and shape[3] % p == 0)
    patches, error = call(patchify, images, p, names=["images", "image", "patch_size"])
    assert (error is None) == valid, error
    if valid:
        b, c, h, w = shape
        assert patches.shape == (b, (h // p) * (w // p), p * p * c) and type(patches) is type(images)
        back = unpatchify(patches, p, (h // p, w // p))
        assert (back == images).all()


@FUZZ
@given(shape=st.lists(st.integers(0, 6), min_size=1, max_size=4).map(tuple), p=st.integers(-1, 3),
       grid=st.one_of(st.none(), st.integers(-1, 3), st.tuples(st.integers(0, 3), st.integers(1, 3))), kind=kinds)
def test_unpatchify(shape, p, grid, kind):
    patches = make(shape, torch.float32, kind)
    rows, cols = (grid, grid) if isinstance(grid, int) else grid if grid else (None, None)
    valid = len(shape) == 3 and shape[1] >= 1 and shape[2] >= 1 and p >= 1 and shape[2] % (p * p) == 0
    if valid and grid is None:
        side = math.isqrt(shape[1])
        rows = cols = side
        valid = side * side == shape[1]
    elif valid:
        valid = rows >= 1 and cols >= 1 and rows * cols == shape[1]
    images, error = call(unpatchify, patches, p, grid, names=["patches", "patch", "grid"])
    assert (error is None) == valid, error
    if valid:
        assert images.shape == (shape[0], shape[2] // (p * p), rows * p, cols * p)


@FUZZ
@given(prefix=st.integers(0, 2), old=st.integers(0, 4), dim=st.integers(0, 3), batch=st.integers(1, 2),
       new=st.one_of(st.integers(-1, 5), st.tuples(st.integers(0, 4), st.integers(1, 4)), st.just(2.5)),
       num_prefix=st.integers(-1, 3), mode=st.sampled_from([*INTERPOLATION_MODES, "linear"]),
       antialias=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64, torch.int64]), kind=kinds)
def test_resize_pos_embed(prefix, old, dim, batch, new, num_prefix, mode, antialias, dtype, kind):
    pos_embed = make((batch, prefix + old * old, dim), dtype, kind)
    rows, cols = new if isinstance(new, tuple) else (new, new)
    valid = (kind == "tensor" and dtype != torch.int64 and batch == 1 and dim >= 1 and prefix + old * old >= 1
             and isinstance(rows, int) and rows >= 1 and cols >= 1 and 0 <= num_prefix < prefix + old * old
             and mode != "linear" and not (antialias and mode not in ("bilinear", "bicubic")))
    if valid:  # the patch rows after num_prefix must form a square grid
        n = prefix + old * old - num_prefix
        valid = math.isqrt(n) ** 2 == n
    out, error = call(resize_pos_embed, pos_embed, new, num_prefix, mode=mode, antialias=antialias,
                      names=["pos_embed", "position embeddings", "new_grid", "num_prefix_tokens", "mode", "antialias"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (1, num_prefix + rows * cols, dim)


# ----------------------------------------------------------------------------- the config


def _model_is_buildable(cfg: ViTConfig) -> None:
    """An accepted config gives a model that runs."""
    model = ViT(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(1, cfg.in_channels, cfg.image_size, cfg.image_size))
    assert out.shape == (1, cfg.num_classes or cfg.dim)


CONFIG_FIELDS = dict(
    image_size=st.one_of(st.sampled_from([4, 8]), plain_values), patch_size=st.one_of(st.just(4), plain_values),
    in_channels=st.one_of(st.just(1), plain_values), num_classes=plain_values, dim=st.one_of(st.just(8), plain_values),
    depth=st.one_of(st.just(1), plain_values), heads=st.one_of(st.just(2), plain_values), mlp_dim=plain_values,
    head_hidden_dim=plain_values, dropout=plain_values, attention_dropout=plain_values, drop_path=plain_values,
    norm_eps=st.one_of(st.just(1e-6), plain_values), qkv_bias=plain_values, patch_embed_norm=plain_values,
    pool=st.sampled_from(["cls", "mean", "max", 1]), pos_embed=st.sampled_from(["learned", "sincos2d", "none", "1d"]),
    head=st.sampled_from(["linear", "mlp", None]), gelu=st.sampled_from(["exact", "tanh", "relu"]),
)


@FUZZ
@given(fields=st.fixed_dictionaries({}, optional=CONFIG_FIELDS))
def test_vit_config(fields):
    defaults = {f.name: f.default for f in dataclasses.fields(ViTConfig)}
    base = dict(image_size=8, patch_size=4, in_channels=1, num_classes=2, dim=8, depth=1, heads=2, mlp_dim=8)
    values = {**defaults, **base, **fields}
    cfg, error = call(ViTConfig, **values, names=list(CONFIG_FIELDS) + ["image size", "patch size"])
    if error is None:  # accepted: every field is of its kind and in its range, and the model runs
        for name in ("image_size", "patch_size", "in_channels", "dim", "depth", "heads", "mlp_dim"):
            assert type(values[name]) is int and values[name] >= 1, name
        assert type(values["num_classes"]) is int and values["num_classes"] >= 0
        for name in ("dropout", "attention_dropout", "drop_path"):
            assert not isinstance(values[name], (bool, str, type(None))) and 0 <= values[name] < 1, name
        for name in ("qkv_bias", "patch_embed_norm"):
            assert isinstance(values[name], bool), name
        if cfg.pos_embed != "sincos2d" or cfg.dim % 4 == 0:  # dim % 4 is checked when the table is made
            _model_is_buildable(cfg)


# ----------------------------------------------------------------------------- attention


qkv_shapes = st.lists(st.integers(0, 4), min_size=1, max_size=4).map(tuple)


@FUZZ
@given(q=qkv_shapes, k=qkv_shapes, v=qkv_shapes, dtype_k=st.sampled_from([torch.float32, torch.float64, torch.int64]),
       p=st.one_of(st.just(0.0), plain_values), fn=st.sampled_from([scaled_dot_product_attention, fast_attention]),
       kind=kinds, data=st.data())
def test_attention_functions(q, k, v, dtype_k, p, fn, kind, data):
    if data.draw(st.booleans()):  # often a consistent triple, so that valid inputs are tried too
        t_k = data.draw(st.integers(1, 3))
        q = (*q[:-1], max(q[-1], 1)) if len(q) >= 2 else (2, 3)
        k = v = (*q[:-2], t_k, q[-1])
    qt, kt, vt = make(q), make(k, dtype_k, kind), make(v)
    valid = (kind == "tensor" and dtype_k == torch.float32 and len(q) == len(k) == len(v) >= 2
             and q[:-2] == k[:-2] and k[:-1] == v[:-1] and q[-1] == k[-1] and q[-1] >= 1 and k[-2] >= 1
             and isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 1)
    out, error = call(fn, qt, kt, vt, p, names=["q", "k", "v", "dropout_p"])
    assert (error is None) == valid, error
    if valid:
        out = out[0] if fn is scaled_dot_product_attention else out
        assert out.shape == (*q[:-1], v[-1])


@FUZZ
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple), dtype=dtypes, kind=kinds,
       weights=st.booleans())
def test_multi_head_self_attention(shape, dtype, kind, weights):
    msa = MultiHeadSelfAttention(4, 2).eval()
    valid = kind == "tensor" and dtype == torch.float32 and len(shape) == 3 and shape[-1] == 4
    with torch.no_grad():
        out, error = call(msa, make(shape, dtype, kind), weights, names=["x"])
    assert (error is None) == valid, error
    if valid:
        assert out[0].shape == shape and (out[1] is None) != weights


# ----------------------------------------------------------------------------- probes


@FUZZ
@given(b=st.integers(0, 2), h=st.integers(0, 2), t=st.integers(0, 11), square=st.booleans(),
       patch_size=st.one_of(st.integers(-1, 4), st.just(2.0)), prefix=st.integers(-1, 2),
       layers=st.sampled_from(["one", "list", "stacked", "empty"]), kind=kinds)
def test_attention_probes(b, h, t, square, patch_size, prefix, layers, kind):
    attn = make((b, h, t, t if square else t + 1), torch.float32, kind)
    n = t - prefix
    grid_ok = square and b >= 1 and h >= 1 and t >= 1 and prefix >= 0 and n >= 1 and math.isqrt(n) ** 2 == n
    arg = {"one": attn, "list": [attn, attn], "stacked": np.stack([attn, attn]) if kind == "numpy" else
           torch.stack([attn, attn]), "empty": []}[layers]
    names = ["attn", "patch_size", "num_prefix_tokens", "tokens", "layer"]
    valid = grid_ok and layers != "empty" and isinstance(patch_size, int) and patch_size >= 1
    out, error = call(mean_attention_distance, arg, patch_size, prefix, names=names)
    assert (error is None) == valid, error
    if valid:
        assert out.shape == ((h,) if layers == "one" else (2, h))
    valid = grid_ok and prefix == 1 and layers in ("list", "stacked")  # rollout: one [class] token, a stack of layers
    out, error = call(attention_rollout, arg, names=["attention", "tokens"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (b, math.isqrt(n), math.isqrt(n))
    valid = grid_ok
    out, error = call(attention_maps, attn, 0, prefix, names=names + ["query"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (b, h, math.isqrt(n), math.isqrt(n))


@FUZZ
@given(shape=st.lists(st.integers(0, 10), min_size=1, max_size=4).map(tuple), prefix=st.integers(-1, 2), kind=kinds)
def test_pos_embed_similarity(shape, prefix, kind):
    table = make(shape, torch.float32, kind)
    rows = shape[-2] if len(shape) == 2 or (len(shape) == 3 and shape[0] == 1) else None
    n = rows - prefix if rows is not None else -1
    valid = n >= 1 and prefix >= 0 and math.isqrt(n) ** 2 == n
    out, error = call(pos_embed_similarity, table, prefix, names=["pos_embed", "position embeddings",
                                                                    "num_prefix_tokens"])
    assert (error is None) == valid, error
    if valid:
        g = math.isqrt(n)
        assert out.shape == (g, g, g, g)


# ----------------------------------------------------------------------------- data, training, converters, baselines


@FUZZ
@given(shape=image_shapes(1, 8), size=st.one_of(st.integers(-1, 12), st.just(8.0)), dtype=dtypes, kind=kinds)
def test_resize_images(shape, size, dtype, kind):
    valid = (kind == "tensor" and dtype in (torch.float32, torch.float64, torch.bfloat16) and len(shape) == 4
             and min(shape[2:]) >= 1 and type(size) is int and size >= 1)
    out, error = call(resize_images, make(shape, dtype, kind), size, names=["images", "image_size"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (*shape[:2], size, size)


@settings(FUZZ, max_examples=10)
@given(image_size=st.one_of(st.sampled_from([8, 12]), plain_values), channels=st.one_of(st.sampled_from([1, 3]), whole),
       test_fraction=st.one_of(st.just(0.25), plain_values), train_size=st.one_of(st.none(), st.sampled_from([50, 0.3]),
                                                                                     plain_values))
def test_load_digits(image_size, channels, test_fraction, train_size):
    out, error = call(load_digits, image_size, channels, test_fraction, 0, train_size,
                      names=["image_size", "channels", "test_fraction", "train_size"])
    valid = (type(image_size) is int and image_size >= 8 and channels in (1, 3) and type(test_fraction) in (int, float)
             and 0 < test_fraction < 1)
    if not valid:
        assert error is not None
    elif error is None:
        x_train, y_train, x_test, y_test = out
        assert x_train.shape[1:] == (channels, image_size, image_size) and len(x_train) == len(y_train)
    else:  # a train_size too small for ten classes, or too large for the split, is refused by name
        assert "train_size" in str(error) or "test_fraction" in str(error)


@FUZZ
@given(num_classes=plain_values, images_per_class=plain_values, image_size=plain_values, channels=whole,
       seed=plain_values, max_maps=plain_values, min_fill=plain_values)
def test_fractal_dataset_arguments(num_classes, images_per_class, image_size, channels, seed, max_maps, min_fill):
    ds, error = call(FractalDataset, num_classes, images_per_class, image_size, channels, seed, None, min_fill,
                     max_maps, names=["num_classes", "images_per_class", "image_size", "channels", "seed",
                                      "max_maps", "min_fill"])
    if error is None:
        assert len(ds) == num_classes * images_per_class >= 1 and channels in (1, 3) and 0 <= min_fill < 0.5
        assert ds[0][0].shape == (channels, image_size, image_size)


TINY = dict(image_size=8, patch_size=4, in_channels=1, num_classes=2, dim=8, depth=1, heads=2, mlp_dim=8)
X, Y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])


@settings(FUZZ, max_examples=8)
@given(epochs=st.one_of(st.just(1), plain_values), lr=st.one_of(st.just(1e-3), plain_values),
       batch_size=st.one_of(st.just(2), plain_values), label_smoothing=st.one_of(st.just(0.0), plain_values),
       shift=st.one_of(st.just(0), plain_values), grad_clip=st.one_of(st.just(1.0), plain_values),
       data=st.sampled_from(["ok", "numpy", "uint8", "channels-last"]))
def test_fit_arguments(epochs, lr, batch_size, label_smoothing, shift, grad_clip, data):
    images = {"ok": X, "numpy": X.numpy(), "uint8": (X * 255).to(torch.uint8),
              "channels-last": X.permute(0, 2, 3, 1)}[data]
    torch.manual_seed(0)
    history, error = call(fit, ViT(ViTConfig(**TINY)), (images, Y), epochs=epochs, lr=lr, batch_size=batch_size,
                          label_smoothing=label_smoothing, shift=shift, grad_clip=grad_clip, warmup_epochs=0,
                          progress=False, precision="fp32",
                          names=["epochs", "lr", "batch_size", "label_smoothing", "shift", "grad_clip", "train"])
    number = lambda v: type(v) in (int, float)  # noqa: E731
    valid = (data == "ok" and type(epochs) is int and epochs >= 1 and number(lr) and lr > 0 and type(batch_size) is int
             and batch_size >= 1 and number(label_smoothing) and 0 <= label_smoothing < 1 and type(shift) is int
             and shift >= 0 and (grad_clip is None or number(grad_clip) and grad_clip > 0))
    assert (error is None) == valid, error
    if valid:
        assert history.epochs == epochs and all(math.isfinite(v) for v in history.train_loss)


@FUZZ
@given(heads=plain_values)
def test_from_timm_heads(heads):
    model = ViT(ViTConfig(**{**TINY, "heads": 4}))
    state = {k.replace("encoder.blocks.", "blocks."): v for k, v in model.state_dict().items()}
    state["cls_token"], state["pos_embed"] = state.pop("cls_token.token"), state.pop("pos_embed.pos_embed")
    out, error = call(from_timm, state, heads=heads, names=["heads"])
    # D = 8 and MLP 8 match no preset, so a state dict alone cannot tell the heads: heads=None is refused too
    valid = type(heads) is int and heads >= 1 and 8 % heads == 0
    assert (error is None) == valid, error
    if valid:
        assert out.cfg.heads == heads


CNN, RESNET = SmallCNN(1, 3, widths=(4, 8)).eval(), SmallResNet(1, 3, widths=(4, 8)).eval()


@FUZZ
@given(model=st.sampled_from([CNN, RESNET]), shape=image_shapes(1, 8), dtype=dtypes, kind=kinds)
def test_baselines_forward(model, shape, dtype, kind):
    valid = kind == "tensor" and dtype == torch.float32 and len(shape) == 4 and shape[1] == 1 and min(shape[2:]) >= 2
    with torch.no_grad():
        out, error = call(model, make(shape, dtype, kind), names=["images"])
    assert (error is None) == valid, error
    if valid:
        assert out.shape == (shape[0], 3)


@FUZZ
@given(batch_size=plain_values, data=st.sampled_from(["ok", "numpy", "float labels"]))
def test_predict_arguments(batch_size, data):
    images, labels = {"ok": (X, Y), "numpy": (X.numpy(), Y), "float labels": (X, Y.float())}[data]
    out, error = call(predict, GREY, (images, labels), batch_size, names=["batch_size", "data"])
    valid = data == "ok" and type(batch_size) is int and batch_size >= 1
    assert (error is None) == valid, error
    if valid:
        assert out[0].shape == (4, 3)
