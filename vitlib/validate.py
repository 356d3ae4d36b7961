"""Input checks for the public entry points: one small helper per kind of mistake.

Each helper raises a TypeError (the wrong kind of object, or the wrong dtype) or a ValueError
(a wrong value, range, shape or layout) whose message names the argument, says what is wrong
and how to fix it, e.g.

    images hold whole numbers (torch.uint8), but the model computes with floats; convert with
    images.float() / 255 (for 0..255 pixel values) or images.float()

The checks read shapes, dtypes and devices only, never the values of a tensor: a few microseconds
per call, whatever the size of the batch. Shapes are written with letters: B images, C channels,
H x W pixels, T tokens, D channels per token.

The contract on arrays: what computes with torch (models, layers, attention, embeddings, training)
takes torch tensors, and a numpy array gets a TypeError naming `torch.from_numpy(...)`. Pure
rearrangements (`patchify`, `unpatchify`) and the probes (read-outs) also accept numpy arrays.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["check_widths", "check_image_size", "check_channels", "check_tensor", "check_model", "check_labels",
           "check_float", "check_images", "check_image_shape", "check_tokens", "check_int", "check_number",
           "check_numbers", "check_rate", "check_flag", "check_choice", "check_fields"]


# ----------------------------------------------------------------------------- type


def _conversion(x, name: str) -> str:
    """How to turn `x` into a float tensor, in the user's terms."""
    if type(x).__module__.startswith("PIL"):  # a PIL image: (H, W, C) uint8
        return f"torch.from_numpy(np.asarray({name})).permute(2, 0, 1).float() / 255 (for an RGB image)"
    if isinstance(x, np.ndarray):
        scale = " / 255" if x.dtype.kind in "iub" else ""
        if x.ndim == 4 and x.shape[-1] <= 4 < x.shape[1]:  # channels-last (B, H, W, C), as images come
            return f"torch.from_numpy({name}).permute(0, 3, 1, 2).float(){scale}"
        if x.ndim == 3 and x.shape[-1] <= 4 < x.shape[0]:  # one (H, W, C) image
            return f"torch.from_numpy({name}).permute(2, 0, 1)[None].float(){scale}"
        return f"torch.from_numpy({name}).float(){scale}"
    return f"torch.as_tensor({name})"


def check_tensor(x, name: str, shape: str = "") -> None:
    """TypeError unless `x` is a torch.Tensor; numpy arrays, PIL images and lists get the conversion to use."""
    if not isinstance(x, torch.Tensor):
        kind = "a numpy array" if isinstance(x, np.ndarray) else f"a {type(x).__name__}"
        shape = f" of shape {shape}" if shape else ""
        raise TypeError(f"{name} must be a torch tensor{shape}, got {kind}; convert with {_conversion(x, name)}")


def check_model(model) -> None:
    """TypeError unless `model` is a torch module with parameters (ViT(cfg), SmallCNN(), ...)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch nn.Module such as ViT(cfg), got a {type(model).__name__}; "
                        "pass the model first, e.g. fit(model, (x_train, y_train))")
    if next(model.parameters(), None) is None:
        raise ValueError(f"model ({type(model).__name__}) has no parameters, so there is nothing to train or run")


def check_labels(model, data, name: str) -> None:
    """ValueError unless the labels of `data` (a pair (images, labels)) are class indices 0..K-1 of the model.

    One pass over the labels (not the images), once per call of fit/predict; skipped for a Dataset and
    for models whose number of classes is unknown.
    """
    cfg = getattr(model, "cfg", None)
    k = cfg.get("num_classes") if isinstance(cfg, dict) else getattr(cfg, "num_classes", None)
    if not k or not isinstance(data, (tuple, list)) or len(data[1]) == 0:
        return
    low, high = int(data[1].min()), int(data[1].max())
    if low < 0 or high >= k:
        raise ValueError(f"{name} labels run from {low} to {high}, but the model has {k} classes (0..{k - 1}); "
                         f"number the classes from 0 (e.g. labels - 1), or build the model with num_classes={high + 1}")


def check_widths(widths) -> tuple[int, ...]:
    """The channel widths of a CNN's stages as a tuple of positive integers; ValueError naming the fix otherwise."""
    widths = tuple(widths)
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"widths must be a non-empty sequence of positive integers, got {widths!r}; e.g. (32, 64)")
    return widths


# ----------------------------------------------------------------------------- dtype and device


def check_float(x: torch.Tensor, name: str, like: torch.Tensor | None = None) -> None:
    """TypeError unless `x` holds floats; with `like` (a weight), also the same dtype and device as it.

    Under torch.autocast, any float16/bfloat16/float32 input is fine: autocast converts it.
    """
    if x.is_complex():
        raise TypeError(f"{name} are complex ({x.dtype}); pass real floats, e.g. {name}.real or {name}.abs()")
    if not x.is_floating_point():
        raise TypeError(f"{name} hold whole numbers ({x.dtype}), but the model computes with floats; convert "
                        f"with {name}.float() / 255 (for 0..255 pixel values) or {name}.float()")
    if like is None:
        return
    if x.device != like.device:
        raise ValueError(f"{name} are on {x.device} but the model is on {like.device}; "
                         f"move them with {name}.to('{like.device}')")
    autocast = torch.amp.is_autocast_available(x.device.type) and torch.is_autocast_enabled(x.device.type)
    if x.dtype != like.dtype and not (autocast and x.dtype in (torch.float16, torch.bfloat16, torch.float32)):
        numpy = " (numpy arrays are float64 by default)" if x.dtype == torch.float64 else ""
        raise TypeError(f"{name} are {x.dtype}{numpy} but the model's weights are {like.dtype}; convert with "
                        f"{name}.to({like.dtype})")


# ----------------------------------------------------------------------------- shape and layout


def check_images(images, name: str = "images", channels: int | None = None, like: torch.Tensor | None = None) -> None:
    """Images must be a float tensor (B, C, H, W), with C = `channels` if given.

    One image without a batch axis, a channels-last batch (B, H, W, C) and integer pixels each get
    a message with the fix. `like` (a weight of the model) also checks dtype and device against it.
    """
    check_tensor(images, name, "(B, C, H, W)")
    check_image_shape(images.shape, name, channels)
    check_float(images, name, like)


def check_image_shape(shape, name: str = "images", channels: int | None = None) -> None:
    """ValueError unless `shape` is (B, C, H, W), with C = `channels` if given (see check_images)."""
    shape = tuple(shape)
    if len(shape) != 4:
        if len(shape) == 3 and channels is not None and shape[-1] == channels != shape[0]:
            fix = f"this looks like one image in (H, W, C) layout: use {name}.permute(2, 0, 1)[None]"
        elif len(shape) == 3:
            fix = f"for one image (C, H, W), add the batch axis with {name}[None] (or {name}.unsqueeze(0))"
        elif len(shape) == 2:
            fix = f"for one grey image (H, W), add the batch and channel axes with {name}[None, None]"
        else:
            fix = "B images of C channels, H x W pixels"
        raise ValueError(f"expected {name} of shape (B, C, H, W), got shape {shape}; {fix}")
    if channels is not None and shape[1] != channels:
        if shape[-1] == channels:
            raise ValueError(f"{name} of shape {shape} look channels-last (B, H, W, C), but vitlib takes "
                             f"(B, C, H, W) = (B, {channels}, H, W); use {name}.permute(0, 3, 1, 2)")
        convert = {(3, 1): f"to grey with {name}.mean(dim=1, keepdim=True)",
                   (1, 3): f"to RGB with {name}.expand(-1, 3, -1, -1)"}.get((shape[1], channels), "the images")
        plural = "s" if channels != 1 else ""
        raise ValueError(f"expected {channels} input channel{plural}, got {shape[1]} ({name} of shape {shape}, read "
                         f"as (B, C, H, W)); convert {convert}, or build the model with in_channels={shape[1]}")


def check_tokens(x, name: str = "x", dim: int | None = None, like: torch.Tensor | None = None) -> None:
    """Tokens must be a float tensor (B, T, D), with D = `dim` if given."""
    check_tensor(x, name, "(B, T, D)")
    if x.ndim != 3 or (dim is not None and x.shape[-1] != dim):
        d = "D" if dim is None else f"D={dim}"
        fix = f"; for one sequence (T, D), add the batch axis with {name}[None]" if x.ndim == 2 else ""
        raise ValueError(f"expected {name} of shape (B, T, {d}) (B sequences of T tokens), got shape "
                         f"{tuple(x.shape)}{fix}")
    check_float(x, name, like)


# ----------------------------------------------------------------------------- ranges of plain values

# A value to suggest for the fields whose range errors students meet most.
_EXAMPLES = {
    "heads": "ViT-B has 12 heads, a small model 2-4",
    "patch_size": "the paper uses 14, 16 or 32",
    "image_size": "e.g. 32 or 224",
    "depth": "ViT-B has 12 layers",
    "dim": "ViT-B has 768, a small model 64",
    "mlp_dim": "usually 4 x dim",
    "batch_size": "try 64",
    "epochs": "try 10",
    "num_classes": "0 means no head: the model returns features",
    "new_grid": "patches per side of the new grid: image size // patch size",
}


def _example(name: str) -> str:
    return f" ({_EXAMPLES[name]})" if name in _EXAMPLES else ""


def check_image_size(image_size, smallest: int = 1) -> None:
    """An image side in pixels: an integer >= smallest."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < smallest:
        raise ValueError(f"image_size must be an integer >= {smallest}, got {image_size!r}; use e.g. 8, 16 or 32")


def check_channels(channels) -> None:
    """1 (grey) or 3 (RGB)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def check_int(value, name: str, minimum: int = 1, allow_none: bool = False) -> None:
    """A whole number >= minimum (bool and float are refused: 2.0 is not a head count)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {value!r} ({type(value).__name__}){_example(name)}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}{_example(name)}")


def check_number(value, name: str, minimum: float | None = None, above: float | None = None,
                 allow_none: bool = False) -> None:
    """A real number (not a bool or a string), >= minimum or > above if given."""
    if value is None and allow_none:
        return
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if minimum is not None and not value >= minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be greater than {above}, got {value}")


def check_numbers(**values) -> None:
    """TypeError unless every value is a real number, e.g. check_numbers(lr=lr, epochs=epochs)."""
    for name, value in values.items():
        check_number(value, name)


def check_rate(value, name: str) -> None:
    """A probability in [0, 1): dropout rates, drop-path, label smoothing."""
    check_number(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} is a probability and must be in [0, 1), got {value}; 0 switches it off, "
                         "0.1 is a common value")


def check_flag(value, name: str) -> None:
    """True or False (a string such as "False" would silently count as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def check_choice(value, name: str, allowed) -> None:
    """One of `allowed` (e.g. pool in ("cls", "mean"))."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; use one of {tuple(allowed)}")


def check_fields(obj, sizes=(), counts=(), optional_sizes=(), rates=(), flags=(), positive=()) -> None:
    """Check a config's fields by kind, in one call from its __post_init__.

    sizes: whole numbers >= 1; counts: >= 0; optional_sizes: None or >= 1; rates: in [0, 1);
    flags: True/False; positive: numbers > 0.
    """
    for name in sizes:
        check_int(getattr(obj, name), name, minimum=1)
    for name in counts:
        check_int(getattr(obj, name), name, minimum=0)
    for name in optional_sizes:
        check_int(getattr(obj, name), name, minimum=1, allow_none=True)
    for name in rates:
        check_rate(getattr(obj, name), name)
    for name in flags:
        check_flag(getattr(obj, name), name)
    for name in positive:
        check_number(getattr(obj, name), name, above=0)
