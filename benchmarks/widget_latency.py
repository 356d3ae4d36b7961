"""Latency of the notebook-06 and 07 widgets: milliseconds per slider move, measured headless.

Builds each widget of notebook 06 on the notebook's model configuration (32 px digits-sized images,
patch 4, an 8 x 8 grid, 6 layers x 8 heads, D = 64; random weights: latency does not depend on
training; notebook 07's explorer gets a synthetic sweep of the same shape as the notebook's: 5 label
budgets x 2 resolutions x 2 inits, 3 seeds), then moves every slider and dropdown through its values, round after
round, and times each move: the widget's redraw (index precomputed arrays, build the matplotlib Figure, render the
PNG that the browser shows). Prints the median and p90 per widget and control, the build time, and the command
and machine. Target: a median of at most 150 ms per move on 2 CPU cores.

    .venv/bin/python benchmarks/widget_latency.py [--rounds 5] [--images 128] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vitlib import ViT, ViTConfig  # noqa: E402
from vitlib.finetune import at_resolution  # noqa: E402
from vitlib.course.nb06_inside_vit import (attention_distance_widget, attention_maps_widget,  # noqa: E402
                                           filter_pcs_widget, pos_similarity_widget)
from vitlib.course.nb07_finetuning import finetune_results_widget  # noqa: E402

TARGET_MS = 150.0


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def sweep(control):
    """The values a student would step through: every slider value (at most 12, spread), every option."""
    if hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
    elif isinstance(control.value, bool):
        values = [not control.value, control.value]
    else:
        lo, hi = control.min, control.max
        step = max(1, (hi - lo) // 11)
        values = list(range(lo, hi + 1, step))
    start = control.value
    return [v for v in values if v != start] + [start]


def time_moves(widget, rounds):
    """{control: [ms per move]} moving each control through its values `rounds` times."""
    times = {}
    for name, control in widget.controls.items():
        times[name] = []
        for _ in range(rounds):
            for value in sweep(control):
                t = time.perf_counter()
                control.value = value  # the observer redraws synchronously, as in the notebook
                times[name].append(1000 * (time.perf_counter() - t))
        if "color:#b00020" in widget.message.value:
            raise RuntimeError(f"{name}: the sweep ended on an error message: {widget.message.value}")
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="sweeps through each control's values")
    parser.add_argument("--images", type=int, default=128, help="images for the mean attention distance")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    cfg = ViTConfig(image_size=32, patch_size=4, in_channels=1, num_classes=10, dim=64, depth=6, heads=8, mlp_dim=128)
    trained, init = ViT(cfg).eval(), ViT(cfg).eval()
    images = torch.rand(args.images, 1, 32, 32)
    builders = {
        "filter PCs (Fig. 7 "
        "left)": lambda: filter_pcs_widget({"a": trained, "b": init}, components=8, max_components=16),
        "position similarity (Fig. 7 centre)": lambda: pos_similarity_widget(
            {"a": trained, "b": init, "resized 48 px": at_resolution(trained, 48)}),
        "attention distance (Fig. 7 right)": lambda: attention_distance_widget({"a": trained, "b": init}, images),
        "attention maps + rollout": lambda: attention_maps_widget(trained, images[:12]),
        "fine-tuning explorer (07)": lambda: finetune_results_widget(
            {(init, size, budget): torch.rand(3).tolist() for init in ("pretrained", "scratch") for size in (32, 48)
             for budget in (2, 5, 10, 25, None)}),
    }

    rows = []
    for title, build in builders.items():
        t = time.perf_counter()
        widget = build()
        build_s = time.perf_counter() - t
        for control, ms in time_moves(widget, args.rounds).items():
            rows.append((title, control, len(ms), statistics.median(ms), percentile(ms, 90), build_s))

    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"matplotlib {matplotlib.__version__}, load average {os.getloadavg()[0]:.1f}")
    print()
    header = f"| {'widget':<36} | {'control':<10} | {'moves':>5} | {'median ms':>9} | {'p90 ms':>7} | {'build s':>7} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for title, control, n, med, p90, build_s in rows:
        print(f"| {title:<36} | {control:<10} | {n:>5} | {med:>9.0f} | {p90:>7.0f} | {build_s:>7.1f} |")
    all_medians = {title: statistics.median([r[3] for r in rows if r[0] == title]) for title in builders}
    print()
    for title, med in all_medians.items():
        verdict = "ok" if med <= TARGET_MS else f"ABOVE the {TARGET_MS:.0f} ms target"
        print(f"{title}: median of its controls {med:.0f} ms ({verdict})")


if __name__ == "__main__":
    main()
