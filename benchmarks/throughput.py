"""Training throughput: vitlib vs Hugging Face transformers' ViT vs the textbook ViT.

One training step = forward + backward + AdamW step on a batch of 128 random
32x32 images (patch 4, dim 192, depth 6, heads 3, MLP 768, 10 classes), in fp32
and under bf16 autocast. All (model, precision) pairs run interleaved, round
after round, so machine noise hits them alike; we report the median step time,
images/s, the ratios, and achieved GFLOP/s against the machine's measured
matmul peak in the same precision.

    .venv/bin/python benchmarks/throughput.py [--rounds 5] [--steps 5] [--batch 128] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from textbook_vit import TextbookViT  # noqa: E402

from vitlib import ViT, ViTConfig  # noqa: E402
from vitlib.cost import train_flops  # noqa: E402

CFG = ViTConfig(image_size=32, patch_size=4, in_channels=3, num_classes=10, dim=192, depth=6, heads=3, mlp_dim=768)


def build(name: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "vitlib":
        return ViT(CFG).to(device)
    if name == "textbook":
        return TextbookViT(CFG.image_size, CFG.patch_size, CFG.num_classes, CFG.dim, CFG.depth, CFG.heads,
                           CFG.mlp_dim).to(device)
    from transformers import ViTConfig as HFConfig, ViTForImageClassification

    hf = HFConfig(image_size=CFG.image_size, patch_size=CFG.patch_size, num_channels=CFG.in_channels,
                  hidden_size=CFG.dim, num_hidden_layers=CFG.depth, num_attention_heads=CFG.heads,
                  intermediate_size=CFG.mlp_dim, num_labels=CFG.num_classes, layer_norm_eps=1e-6)
    hf._attn_implementation = "sdpa"
    model = ViTForImageClassification(hf).to(device)
    assert model.config._attn_implementation == "sdpa"
    return _LogitsOnly(model)


class _LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(pixel_values=x).logits


def matmul_peak(dtype: torch.dtype, device: str, n: int = 2048, reps: int = 10) -> float:
    """Measured matmul GFLOP/s: median over `reps` products of two n x n matrices."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for _ in range(reps + 2):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times[2:]) / 1e9


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per model per round")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="vitlib,transformers,textbook")
    args = ap.parse_args()
    device = args.device
    names = args.models.split(",")
    precisions = ["fp32", "bf16"]

    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, CFG.image_size, CFG.image_size, device=device)
    y = torch.randint(0, CFG.num_classes, (args.batch,), device=device)
    runs = {}
    for name in names:
        for prec in precisions:
            model = build(name, device).train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda" or None)
            runs[name, prec] = (model, opt, [])

    def step(model, opt, prec):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=prec == "bf16"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for (name, prec), (model, opt, _) in runs.items():  # warm-up
        for _ in range(2):
            step(model, opt, prec)
    for _ in range(args.rounds):
        for (name, prec), (model, opt, times) in runs.items():
            for _ in range(args.steps):
                _sync(device)
                t = time.perf_counter()
                step(model, opt, prec)
                _sync(device)
                times.append(time.perf_counter() - t)

    peak = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    flops = train_flops(CFG)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device}, torch {torch.__version__}")
    print(f"config: image 32, patch 4, dim 192, depth 6, heads 3, MLP 768, batch {args.batch}; "
          f"{flops / 1e9:.3f} GFLOP per training image (matmuls)")
    print(f"matmul peak (2048^2): fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s")
    print(f"{args.rounds} interleaved rounds x {args.steps} steps; medians\n")
    print(f"{'model':<14}{'precision':<11}{'ms/step':>9}{'img/s':>9}{'GFLOP/s':>9}{'% peak':>8}")
    ips = {}
    for (name, prec), (_, _, times) in runs.items():
        med = statistics.median(times)
        ips[name, prec] = args.batch / med
        gflops = ips[name, prec] * flops / 1e9
        print(f"{name:<14}{prec:<11}{med * 1e3:>9.1f}{ips[name, prec]:>9.1f}{gflops:>9.0f}"
              f"{100 * gflops / peak[prec]:>7.0f}%")
    print()
    for other in [n for n in names if n != "vitlib"]:
        for prec in precisions:
            print(f"vitlib / {other} ({prec}): {ips['vitlib', prec] / ips[other, prec]:.2f}x")
    for name in names:
        print(f"{name} bf16 / fp32: {ips[name, 'bf16'] / ips[name, 'fp32']:.2f}x")


if __name__ == "__main__":
    main()
