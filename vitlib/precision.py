"""Where and in what precision to compute: the device, and mixed precision (autocast) where it pays.

    device = pick_device()                       # CUDA, then Apple's MPS, then the CPU
    dtype = autocast_dtype(device, "auto")       # bf16/fp16 where the hardware computes it, else None
    with autocast(device, dtype): ...            # the forward pass in that dtype (nothing for None)
"""

from __future__ import annotations

import contextlib
import functools

import torch

__all__ = ["pick_device", "cpu_supports_bf16", "PRECISIONS", "autocast_dtype", "autocast"]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, or the best available: CUDA, then Apple's MPS, then the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.lru_cache(maxsize=None)
def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast is a big speed-up.

    Elsewhere bf16 on the CPU is emulated and slower than fp32, so autocast is not used.
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
        if {"avx512_bf16", "amx_bf16"} & flags:
            return True
    except OSError:  # not Linux
        pass
    return "AMX" in torch.backends.cpu.get_cpu_capability().upper()


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for `precision` on `device`, or None for plain fp32.

    "fp32": None (no autocast). "bf16", "fp16": that dtype (fp16 trains with a GradScaler).
    "auto", the default: mixed precision where the hardware computes it natively. CUDA: bf16 where
    supported (Ampere and newer), else fp16. CPU: bf16 where cpu_supports_bf16(). MPS and
    everything else: None.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}; "
                         "'fp32' for exactly comparable runs, 'auto' for the fastest the hardware allows")
    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("this GPU does not compute bf16; use precision 'fp16' (with loss scaling) or 'fp32'")
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for `dtype` on `device`, or a context that does nothing when dtype is None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
