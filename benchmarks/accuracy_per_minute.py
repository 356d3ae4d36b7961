"""Accuracy per minute on a CPU: the digits ViT (digits_vit_recipe) against a small CNN.

Both train on the same 32 x 32 upsampled digits with the same recipe (AdamW, warmup + cosine,
label smoothing, random shifts); the test accuracy is evaluated after every epoch and put against
the wall-clock seconds of training so far (evaluation time included). Prints the accuracy reached
at 10, 20, 30 and 60 s and the time to reach 95 / 97 / 98 %.

    python benchmarks/accuracy_per_minute.py                 # 1 thread, seed 0, 50 epochs
    python benchmarks/accuracy_per_minute.py --threads 2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import torch

from vitlib import ViT
from vitlib.baselines import SmallCNN
from vitlib.data import load_digits
from vitlib.precision import autocast_dtype
from vitlib.train import digits_vit_recipe, fit

CHECKPOINTS_S = (10, 20, 30, 60)
TARGETS = (0.95, 0.97, 0.98)


def accuracy_at(seconds: list[float], acc: list[float], t: float) -> float | None:
    """Test accuracy of the last epoch finished by t seconds (None if none finished)."""
    done = [a for s, a in zip(seconds, acc) if s <= t]
    return done[-1] if done else None


def time_to(seconds: list[float], acc: list[float], target: float) -> float | None:
    return next((s for s, a in zip(seconds, acc) if a >= target), None)


def run(name: str, make_model, data, fit_kwargs: dict, seed: int) -> tuple[list[float], list[float]]:
    torch.manual_seed(seed)
    model = make_model()
    x_train, y_train, x_test, y_test = data
    history = fit(model, (x_train, y_train), (x_test, y_test), **{**fit_kwargs, "seed": seed}, progress=False)
    elapsed, seconds = 0.0, []
    for s in history.seconds:
        elapsed += s
        seconds.append(elapsed)
    params = sum(p.numel() for p in model.parameters())
    print(f"  {name:4s} seed {seed}: {params:,} parameters, {history.epochs} epochs in {elapsed:.1f} s, "
          f"final {history.test_acc[-1]:.1%}, best {history.best_test_acc:.1%}", flush=True)
    return seconds, history.test_acc


def fmt(x, pct=True):
    if x is None:
        return "   -  "
    return f"{x:6.1%}" if pct else f"{x:5.1f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these tiny models)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    data_kwargs, cfg, fit_kwargs = digits_vit_recipe(epochs=args.epochs)
    data = load_digits(**data_kwargs)
    amp = autocast_dtype(torch.device("cpu"), "auto")
    print("command: python benchmarks/accuracy_per_minute.py "
          f"{' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), autocast {amp}")
    print(f"data: digits upsampled to 32 x 32, {len(data[1])} train / {len(data[3])} test images; "
          f"seeds {args.seeds}; recipe: { {k: v for k, v in fit_kwargs.items() if k != 'seed'} }")
    models = {
        "ViT": lambda: ViT(cfg),
        "CNN": lambda: SmallCNN(in_channels=1, num_classes=10, widths=(32, 64)),
    }
    results = {name: [run(name, make, data, fit_kwargs, seed) for seed in args.seeds] for name, make in models.items()}

    print()
    header = "model seed " + " ".join(f"acc@{t:>3d}s" for t in CHECKPOINTS_S) + "  " + " ".join(
        f"to {t:.0%}" for t in TARGETS)
    print(header)
    for name, runs in results.items():
        for seed, (seconds, acc) in zip(args.seeds, runs):
            cells = [fmt(accuracy_at(seconds, acc, t)) for t in CHECKPOINTS_S]
            times = [fmt(time_to(seconds, acc, t), pct=False) for t in TARGETS]
            print(f"{name:5s} {seed:4d} " + " ".join(f"{c:>8s}" for c in cells) + "  " + " ".join(times))
    vit_ok = [time_to(s, a, 0.97) is not None and time_to(s, a, 0.97) <= 60 for s, a in results["ViT"]]
    print(f"\nViT reaches >= 97% within 60 s of training: {sum(vit_ok)} of {len(vit_ok)} seed(s)"
          f" ({'yes' if all(vit_ok) else 'no' if not any(vit_ok) else 'sometimes'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
