"""Choose notebook 07's learning rates the same way for every arm: on validation digits, never the test set.

    python tools/choose_lr.py            # a few minutes on 2 cores (about 45 short runs, two at a time)

For each arm (pretrained, from scratch, CNN) and label budget (10 per class, all), fine-tune seed 0 with
every learning rate of nb07.LEARNING_RATES (and higher ones while the best is the highest tried) on the
training pool minus the 200 validation digits, and
print the validation accuracies and the best rate; copy them into nb07.FINETUNE_LR and nb07.LR_CHOICE.
"""

import platform

import torch

from vitlib import checkpoints
from vitlib.course import nb07_finetuning as nb07

STEPS = {10: 80, None: 108}  # notebook 07's budgets: 80 steps with 10 labels per class, 3 epochs with all labels


def main() -> None:
    backbone = checkpoints.pretrained("fractal-vit")
    found = nb07.choose_lr(backbone, steps=STEPS.get, precision="fp32")
    print(f"# fp32, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    for (init, budget), by_lr in found.items():
        best = max(by_lr, key=by_lr.get)
        print(f"({init!r}, {budget}): {best:g},  # validation: "
              + ", ".join(f"{lr:g} {100 * acc:.1f}%" for lr, acc in by_lr.items()))
    print("LR_CHOICE =", {key: {lr: round(acc, 4) for lr, acc in by_lr.items()} for key, by_lr in found.items()})


if __name__ == "__main__":
    main()
