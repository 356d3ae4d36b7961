"""Pretrain a small ViT on formula-generated images, reproducibly: the bundled checkpoint.

The paper pretrains on ImageNet-21k or JFT-300M, then fine-tunes. Offline we have neither, so
we follow Kataoka et al. (2020) and Nakashima et al. (2022), who pretrain ViTs without natural
images: every class is one iterated function system (FractalDB-style, `vitlib.fractals.FractalDataset`),
and the task is to tell the systems apart. What the model learns there (strokes, shapes, 2D
position) transfers to real images; notebook 07 measures how much, on the digits.

    python -m vitlib.pretrain                       # the bundled recipe -> runs/fractal-vit.pt + .json
    python -m vitlib.pretrain --epochs 2 --out runs/try --classes 10   # a quick try
    python -m vitlib.pretrain --resume              # continue from runs/fractal-vit-run/last.pt
    python -m vitlib.pretrain --cutmix 0.5 --out runs/cutmix   # CutMix on half the batches
    python -m vitlib.pretrain --layer-decay 0.75    # layer-wise lr decay, as fit(layer_decay=0.75)
    python -m vitlib.pretrain --objective masked --name masked-vit   # no labels: masked patch prediction
    torchrun --standalone --nproc_per_node=2 -m vitlib.pretrain   # the same training on 2 processes

--objective masked pretrains the same ViT on the same images without their labels, by the paper's masked
patch prediction (Section 4.6, `vitlib.masked`): --mask-rate of the patches corrupted, each one's 3-bit mean
grey level predicted (--target-cells 2: a 2 x 2 grid of them). The checkpoint is the ViT without a head.

To bundle a checkpoint with the package, copy <name>.pt and <name>.json into data/ (or pass --out data).

Everything that defines the run (data recipe, model config, training settings, seed) is an argument
with the bundled recipe as default, and all of it is written to the manifest next to the checkpoint,
together with the exact command, the held-out accuracy, the time taken, the machine and the
checkpoint's sha256. `vitlib.checkpoints.pretrained(name)` loads it and verifies that sha256.
The same command on the same machine with the same thread count gives the same weights; another
CPU or thread count gives a (slightly) different floating-point path and so a different sha256.

Under torchrun (several processes, `vitlib.distributed`) `--batch-size` is the global batch, split
across the processes: the training is the one-process training, up to the order of floating-point
sums. Only rank 0 prints and writes files. `--resume` continues a run that was stopped at any moment
from out/<name>-run/last.pt and ends with the weights the run would have had (bit for bit in fp32,
with the same number of processes and threads); a last.pt from another recipe is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from .checkpoints import save
from .fractals import FractalDataset
from .distributed import finish, processes
from .files import file_digest, write_atomic
from .locality import seed_locality
from .masked import MaskedPatchPrediction, train_masked
from .model import ViT, ViTConfig
from .precision import PRECISIONS
from .train import fit

__all__ = ["RECIPE", "WEIGHT_INITS", "OBJECTIVES", "model_config", "initial_model", "make_data", "pretrain", "main"]

# The bundled recipe: every default of the command line.
RECIPE = dict(
    name="fractal-vit",
    classes=1000,  # FractalDB-1k's class count
    images_per_class=24,  # training instances per class
    heldout_per_class=5,  # further instances per class, never trained on: the held-out accuracy
    image_size=32,
    patch_size=4,  # 8 x 8 = 64 patches
    dim=96,
    depth=4,
    heads=4,
    mlp_dim=384,
    epochs=14,
    lr=2e-3,
    batch_size=256,
    weight_decay=0.05,
    warmup_epochs=1,
    label_smoothing=0.1,
    shift=2,
    cutmix=0.0,  # the probability of CutMix per batch (vitlib.augment.cutmix); manifests without it had 0.0
    layer_decay=None,  # layer-wise lr decay in (0, 1] (fit(layer_decay=...)); None: off, as in manifests without it
    init="standard",  # "locality": a locality-seeded start (vitlib.locality.seed_locality), not the paper's
    flip=False,  # True mirrors half the images left-right (FractalDB): position embeddings then learn the mirror
    objective="classes",  # "classes": tell the formula classes apart; "masked": masked patch prediction, no labels
    mask_rate=0.5,  # masked: the share of patches corrupted (the paper's 50%)
    target_cells=1,  # masked: predict a cells x cells grid of 3-bit colours per patch (1: the patch's mean)
    seed=0,
    precision="auto",  # "fp32" for runs that must compare exactly; "auto" is bf16 where the CPU/GPU computes it
)


WEIGHT_INITS = ("standard", "locality")  # how --init starts the weights (not notebook 07's starting points)
OBJECTIVES = ("classes", "masked")


def model_config(recipe: dict) -> ViTConfig:
    """The ViT being pretrained: grey images, the paper's pretraining head (an MLP with tanh); no head for the
    masked objective, whose predictor is not part of the ViT (vitlib.masked)."""
    masked = recipe.get("objective", "classes") == "masked"
    return ViTConfig(image_size=recipe["image_size"], patch_size=recipe["patch_size"], in_channels=1,
                     num_classes=0 if masked else recipe["classes"], dim=recipe["dim"], depth=recipe["depth"],
                     heads=recipe["heads"], mlp_dim=recipe["mlp_dim"], head="mlp")


def initial_model(recipe: dict) -> ViT:
    """The model a run of `recipe` starts from (the same weights every time): standard or locality-seeded."""
    recipe = {**RECIPE, **recipe}
    if recipe["objective"] not in OBJECTIVES:
        raise ValueError(f"--objective must be one of {OBJECTIVES}, got {recipe['objective']!r}")
    if recipe["init"] not in WEIGHT_INITS:
        raise ValueError(f"--init must be one of {WEIGHT_INITS}, got {recipe['init']!r}")
    torch.manual_seed(recipe["seed"])
    model = ViT(model_config(recipe))
    if recipe["init"] == "locality":
        seed_locality(model, seed=recipe["seed"])
    return model


def _render(args: tuple[FractalDataset, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    dataset, start, stop = args
    items = [dataset[i] for i in range(start, stop)]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.int64)


def make_data(recipe: dict, workers: int = 1) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                                       tuple[torch.Tensor, torch.Tensor]]:
    """Render the training and held-out images: -> (x_train (B, 1, S, S), y_train), (x_held, y_held).

    Item i of a FractalDataset is class i % C, instance i // C, so its first C * images_per_class
    items are the training set and the next C * heldout_per_class the held-out set: other
    instances (other orbits and coefficient jitter) of the same systems.
    """
    c, n, m = recipe["classes"], recipe["images_per_class"], recipe["heldout_per_class"]
    dataset = FractalDataset(num_classes=c, images_per_class=n + m, image_size=recipe["image_size"],
                             seed=recipe["seed"], flip=recipe.get("flip", True))
    total, chunk = c * (n + m), 2000
    jobs = [(dataset, start, min(start + chunk, total)) for start in range(0, total, chunk)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_render, jobs))
    else:
        parts = [_render(job) for job in jobs]
    x, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return (x[: c * n], y[: c * n]), (x[c * n :], y[c * n :])


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "system": platform.system()}


def pretrain(recipe: dict, out: str | os.PathLike = "runs", workers: int = 1, progress: bool = True,
             command: str | None = None, resume: bool = False) -> dict | None:
    """Run `recipe` (RECIPE with any changes), write out/<name>.pt (fp16 weights) and out/<name>.json
    (the manifest); -> the manifest (on rank 0; None on the other processes under torchrun).
    Per-epoch checkpoints go to out/<name>-run/ (best.pt, last.pt) so an interrupted run keeps what
    it had, and resume=True continues from its last.pt."""
    recipe = {**RECIPE, **recipe}
    if recipe["precision"] not in PRECISIONS:
        raise ValueError(f"--precision must be one of {PRECISIONS}, got {recipe['precision']!r}")
    out = Path(out)
    run_dir = out / f"{recipe['name']}-run"
    start = time.perf_counter()
    train, held = make_data(recipe, workers)  # every process renders all images: the same data everywhere
    data_seconds = time.perf_counter() - start
    model = initial_model(recipe)
    if recipe["objective"] == "masked":
        if processes().is_distributed:
            raise ValueError("--objective masked trains on one process; run it without torchrun")
        if resume:
            raise ValueError("--resume continues supervised runs only; a masked run keeps its last finished "
                             f"epoch in {run_dir / 'last.pt'} (read it with vitlib.checkpoints.read_checkpoint)")
        masked = MaskedPatchPrediction(model, mask_rate=recipe["mask_rate"], cells=recipe["target_cells"])
        history = train_masked(masked, train[0], held[0], epochs=recipe["epochs"], lr=recipe["lr"],  # images only
                               batch_size=recipe["batch_size"], weight_decay=recipe["weight_decay"],
                               warmup_epochs=recipe["warmup_epochs"], shift=recipe["shift"], seed=recipe["seed"],
                               precision=recipe["precision"], checkpoint_dir=run_dir, progress=progress)
        return _write_outputs(model, history, recipe, out, command, data_seconds, processes(),
                              masked_head=masked.head_state())  # the [mask] embedding and predictor, for notebook 09
    history = fit(model, train, held, epochs=recipe["epochs"], lr=recipe["lr"], batch_size=recipe["batch_size"],
                  weight_decay=recipe["weight_decay"], warmup_epochs=recipe["warmup_epochs"],
                  label_smoothing=recipe["label_smoothing"], shift=recipe["shift"], cutmix=recipe["cutmix"],
                  layer_decay=recipe["layer_decay"],
                  seed=recipe["seed"], precision=recipe["precision"], checkpoint_dir=run_dir, resume=resume,
                  checkpoint_meta={"pretrain_recipe": recipe}, progress=progress)
    if history.interrupted:
        raise KeyboardInterrupt(f"pretraining interrupted; continue it with the same command and --resume "
                                f"(from {run_dir / 'last.pt'})")
    procs = processes()
    manifest = _write_outputs(model, history, recipe, out, command, data_seconds, procs) if procs.is_main else None
    finish(procs)  # every process waits for rank 0's files, then all leave the process group together
    return manifest


def _write_outputs(model, history, recipe: dict, out: Path, command: str | None, data_seconds: float,
                   procs, **extra_meta) -> dict:
    """Rank 0's part of the end of a run: <name>.pt (fp16) and its manifest <name>.json -> the manifest."""
    path = out / f"{recipe['name']}.pt"
    meta = {"recipe": recipe, "heldout_accuracy": history.test_acc[-1], **extra_meta}
    save(model.half(), path, **meta)  # fp16 halves the file; load() casts back to fp32
    manifest = {
        "name": recipe["name"],
        "file": path.name,
        "sha256": file_digest(path, "sha256"),
        "bytes": path.stat().st_size,
        "config": model.cfg.to_dict(),
        "recipe": recipe,
        "command": command or "(called from Python: vitlib.pretrain.pretrain)",
        "heldout_accuracy": round(history.test_acc[-1], 4),
        "heldout_metric": ("the corrupted patches' colours predicted exactly" if recipe["objective"] == "masked"
                           else "formula classes told apart"),
        "train_accuracy_last_epoch": round(history.train_acc[-1], 4),
        "heldout_accuracy_per_epoch": [round(a, 4) for a in history.test_acc],
        "data_seconds": round(data_seconds, 1),
        "train_seconds": round(history.total_seconds, 1),
        "machine": {**_machine(), "processes": procs.world_size},
        "date": time.strftime("%Y-%m-%d"),
    }
    manifest_path = out / f"{recipe['name']}.json"
    write_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")  # never half a manifest
    return manifest


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m vitlib.pretrain", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for key, value in RECIPE.items():
        if key == "init":
            parser.add_argument("--init", choices=WEIGHT_INITS, default=value,
                                help="locality: start with local attention heads, put in by hand (vitlib.locality)")
        elif key == "precision":
            parser.add_argument("--precision", choices=PRECISIONS, default=value,
                                help="fp32: exactly comparable runs; auto: bf16 where the hardware computes it")
        elif key == "objective":
            parser.add_argument("--objective", choices=OBJECTIVES, default=value,
                                help="masked: masked patch prediction (vitlib.masked), the labels never read")
        elif key == "layer_decay":
            parser.add_argument("--layer-decay", type=float, default=value,
                                help="layer-wise learning-rate decay in (0, 1]: layer i of L trains at lr * "
                                     "decay^(L+1-i) (fit(layer_decay=...)); default: off")
        elif isinstance(value, bool):
            parser.add_argument("--" + key.replace("_", "-"), action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    parser.add_argument("--out", default="runs", help="folder for <name>.pt and <name>.json (copy them to data/ "
                        "to bundle them)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/<name>-run/last.pt (same arguments as the run it continues)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--workers", type=int, default=2, help="processes that render the images")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = vars(parser.parse_args(argv))
    out, threads, workers, resume = args.pop("out"), args.pop("threads"), args.pop("workers"), args.pop("resume")
    if threads is not None:
        torch.set_num_threads(threads)
    # the command that makes this model: --resume and where the files went (--out) do not change it
    kept = [a for i, a in enumerate(argv) if a != "--resume" and a != "--out" and (i == 0 or argv[i - 1] != "--out")
            and not a.startswith("--out=")]
    command = " ".join(["python -m vitlib.pretrain", *map(shlex.quote, kept)])
    manifest = pretrain(args, out, workers, command=command, resume=resume)
    if manifest is not None:  # rank 0
        print(json.dumps({k: manifest[k] for k in ("file", "sha256", "heldout_accuracy", "train_seconds")}, indent=2))
    return manifest


if __name__ == "__main__":
    main()
