"""Choose notebook 09's fine-tuning learning rates, one per starting point and label budget, on validation digits.

    python tools/choose_lr_09.py         # 30 short runs, two at a time: a few minutes on 2 cores

Seed 0, fp32, the training pool minus the 200 validation digits; the test digits are never looked at. Prints
each rate's validation accuracy; copy the best into nb09.FINETUNE_LR and the table into notebook 09's text.
"""

import platform

import torch

from vitlib.course import nb09_masked_patch_prediction as nb09

RATES = (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3)
STEPS = {10: 80, None: 108}  # notebook 09's budgets, the same as notebook 07's


def main() -> None:
    starts = nb09.load_starts(seed=0)
    runs = [dict(start=name, labels_per_class=budget, lr=lr, steps=STEPS[budget], validation=True)
            for name in nb09.STARTS for budget in STEPS for lr in RATES]
    found = nb09.finetune_runs(starts, runs, seed=0, precision="fp32")
    print(f"# fp32, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    for name in nb09.STARTS:
        for budget in STEPS:
            by_lr = {run["lr"]: acc for run, acc in zip(runs, found)
                     if run["start"] == name and run["labels_per_class"] == budget}
            best = max(by_lr, key=by_lr.get)
            print(f"({name!r}, {budget}): {best:g},  # validation: "
                  + ", ".join(f"{lr:g} {100 * acc:.1f}%" for lr, acc in by_lr.items()))


if __name__ == "__main__":
    main()
