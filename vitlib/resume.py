"""Resuming a training run exactly where it stopped: what `fit(..., resume=True)` restores.

A run can be killed at any moment (Ctrl-C, a lost machine, `kill -9`). After every epoch `fit`
writes last.pt: the weights, and under "training" everything else the next epoch depends on:
the optimiser's moments, the step (the position in the learning-rate schedule), the GradScaler,
the generator that draws batch order and augmentation, and each process's global generator
(dropout, drop-path). Restoring all of it makes the continued run compute exactly what the
uninterrupted run computed from that epoch on: the same weights, bit for bit (in fp32).
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import distributed
from .checkpoints import read_checkpoint
from .distributed import Processes

__all__ = ["ADDED_LATER", "differences", "rng_states", "restore"]


# Recipe keys added after checkpoints were written, with the value every run before had: a recipe
# without one of them (at any depth, e.g. pretrain_recipe.cutmix) counts as having that value.
ADDED_LATER = {"cutmix": 0.0, "layer_decay": None, "objective": "classes", "mask_rate": 0.5, "target_cells": 1}


def differences(saved, now, name: str = "") -> list[str]:
    """Where two recipes (nested dicts of plain values) differ: ["lr: 0.002 in the checkpoint, 0.001 now", ...]."""
    if isinstance(saved, dict) and isinstance(now, dict):
        return [d for key in sorted(set(saved) | set(now), key=str)
                for d in differences(saved.get(key, ADDED_LATER.get(key)), now.get(key, ADDED_LATER.get(key)),
                                     f"{name}.{key}" if name else str(key))]
    if isinstance(saved, (list, tuple)) and isinstance(now, (list, tuple)):
        saved, now = list(saved), list(now)
    return [] if saved == now else [f"{name}: {saved!r} in the checkpoint, {now!r} now"]


def rng_states(procs: Processes, device: torch.device) -> list[dict]:
    """Each process's global random-number state (dropout, drop-path draw from it), gathered to all."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return distributed.gather(state, procs)


def restore(path: Path, recipe: dict, model, optimizer, scaler, generator, procs: Processes, device, say):
    """Load last.pt (on rank 0, sent to the others) into model, optimiser, scaler and generators.

    -> (history as a dict, step, best score, first epoch to run), or None if there is no last.pt.
    Refuses (ValueError) a checkpoint made with a different recipe, naming each difference.
    """
    payload = None
    if procs.is_main and path.exists():
        payload = read_checkpoint(path, map_location="cpu")
    payload = distributed.broadcast(payload, procs)
    if payload is None:
        say(f"nothing to resume at {path}: starting from scratch")
        return None
    if "training" not in payload:
        raise ValueError(f"{path} holds no training state to resume from (written by checkpoints.save without "
                         "training=, or by an older vitlib); start afresh without resume, or with another "
                         "checkpoint_dir")
    changed = differences(payload["meta"].get("recipe"), recipe)
    if changed:
        raise ValueError(f"cannot resume from {path}: it was made with another recipe ("
                         + "; ".join(changed) + "). Resume with the same arguments as the run it "
                         "continues, or start afresh without resume (or with another output folder)")
    training = payload["training"]
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(training["optimizer"])
    scaler.load_state_dict(training["scaler"])
    generator.set_state(training["batch_generator"])
    if len(training["rng"]) == procs.world_size:  # the same processes: every one continues its own draws
        torch.set_rng_state(training["rng"][procs.rank]["cpu"])
        if device.type == "cuda" and "cuda" in training["rng"][procs.rank]:
            torch.cuda.set_rng_state(training["rng"][procs.rank]["cuda"], device)
    else:
        say(f"resuming a run of {len(training['rng'])} process(es) on {procs.world_size}: batches and "
            "augmentation continue exactly, dropout and drop-path draws from fresh seeds")
        torch.manual_seed(1_000_003 * training["epoch"] + procs.rank)
    say(f"resuming from {path} after epoch {training['epoch']}")
    return payload["meta"]["history"], training["step"], training["best"], training["epoch"] + 1
