"""Probe a pretraining recipe on a small scale and measure what Figure 7 looks at.

    python tools/pretrain_probe.py --out runs/probe-noflip --classes 100 --epochs 8 --no-flip
    python tools/pretrain_probe.py --out runs/probe-seeded --classes 100 --epochs 8 --no-flip --init locality
    python tools/pretrain_probe.py --out runs/probe-cutmix --classes 100 --epochs 8 --no-flip --cutmix 1.0

Trains with `vitlib.pretrain` (all its arguments pass through), then prints and writes
<out>/probe.json: held-out accuracy, the position-similarity structure (neighbour, mirrors,
row, column), and each layer's mean attention distance per head on held-out images, with the
distance that uniform attention over the patches would give for reference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from vitlib import locality, pretrain, probes
from vitlib.checkpoints import load


def measure(model, images: torch.Tensor) -> dict:
    """Figure 7's numbers for `model` on `images` (B, C, H, W)."""
    cfg = model.cfg
    structure = probes.pos_similarity_structure(probes.pos_embed_similarity(model))
    _, attentions = probes.run_with_attention(model, images)
    distance = probes.mean_attention_distance(attentions, cfg.patch_size)  # (L, H)
    return {"pos_structure": {k: round(v, 3) for k, v in structure.items()},
            "distance_per_layer_head": [[round(float(d), 2) for d in row] for row in distance],
            "uniform_distance": round(locality.uniform_attention_distance(cfg.image_size // cfg.patch_size,
                                                                          cfg.patch_size), 2)}


def main(argv: list[str]) -> None:
    out = Path(argv[argv.index("--out") + 1])
    manifest = pretrain.main(argv)
    model = load(out / manifest["file"]).eval()
    (_, _), (held_x, _) = pretrain.make_data(manifest["recipe"])
    result = {"recipe": manifest["recipe"], "heldout_accuracy": manifest["heldout_accuracy"],
              "train_seconds": manifest["train_seconds"], **measure(model, held_x[:256])}
    (out / "probe.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "recipe"}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
