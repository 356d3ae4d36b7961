"""Probe a masked-patch-prediction recipe at small scale before spending the full budget on it.

    python tools/masked_probe.py --classes 200 --rate 0.5 --cells 1 --out build/masked-probes/mean-50.json

Pretrains the bundled recipe's ViT (vitlib.pretrain.RECIPE) with masked patch prediction on the first
`--classes` formula classes (images only), then measures what the paper measures: the few-shot linear
evaluation (ridge regression on frozen features, 10 digits per class, 5 draws) with the class token and with
the mean patch token, against the same ViT untrained. Also reports the held-out masked-patch accuracy and the
majority baseline (always the most common colour).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vitlib.data import load_digits
from vitlib.masked import MaskedPatchPrediction, patch_targets, train_masked
from vitlib.model import ViT
from vitlib.pretrain import RECIPE, make_data, model_config
from vitlib.probes import few_shot_linear, frozen_features


def few_shot(vit: ViT, pool: str, draws: int = 5, shots: int = 10) -> list[float]:
    """10-shot linear accuracy on the digits' test split, one value per draw of the labelled images."""
    x_train, y_train, x_test, y_test = load_digits(image_size=32)
    train_f, test_f = frozen_features(vit, x_train, pool=pool), frozen_features(vit, x_test, pool=pool)
    scores = []
    for draw in range(draws):
        g = torch.Generator().manual_seed(draw)
        pick = torch.cat([torch.nonzero(y_train == k)[torch.randperm(int((y_train == k).sum()), generator=g)[:shots], 0]
                          for k in range(10)])
        scores.append(few_shot_linear(train_f[pick], y_train[pick], test_f, y_test))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--cells", type=int, default=1)
    parser.add_argument("--bits", type=int, default=3)
    parser.add_argument("--target", default="colours", choices=("colours", "pixels"))
    parser.add_argument("--lr", type=float, default=RECIPE["lr"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = {**RECIPE, "classes": args.classes, "seed": args.seed}
    (x_train, _), (x_held, _) = make_data(recipe)  # the labels are dropped here: never read
    torch.manual_seed(args.seed)
    vit = ViT(model_config(recipe).replace(num_classes=0))
    untrained = {pool: few_shot(vit, pool) for pool in ("model", "mean")}
    model = MaskedPatchPrediction(vit, mask_rate=args.rate, bits=args.bits, cells=args.cells, target=args.target)
    start = time.perf_counter()
    history = train_masked(model, x_train, x_held, epochs=args.epochs, lr=args.lr, seed=args.seed, precision="fp32")
    targets = patch_targets(x_held, recipe["patch_size"], args.bits, args.cells)
    majority = float((targets == targets.flatten().mode().values).float().mean())
    result = dict(args=vars(args), train_seconds=round(time.perf_counter() - start, 1),
                  heldout_masked_accuracy=history.test_acc, majority_baseline=majority,
                  few_shot={pool: few_shot(vit, pool) for pool in ("model", "mean")}, few_shot_untrained=untrained)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "heldout_masked_accuracy"}, indent=2))


if __name__ == "__main__":
    main()
