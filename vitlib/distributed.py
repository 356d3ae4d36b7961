"""Several processes, one training: what `fit` needs to run under torchrun.

    torchrun --standalone --nproc_per_node=2 -m vitlib.pretrain --epochs 2 --out runs

`torchrun` starts N copies of the program and tells each, in environment variables, who it is
(RANK 0..N-1, WORLD_SIZE N, LOCAL_RANK on its machine) and where to meet (MASTER_ADDR/PORT).
`setup` reads them and joins the process group (gloo on CPUs, NCCL on GPUs); without them it
is one ordinary process (rank 0 of 1) and nothing here talks to anyone.

How `fit` splits the work (data parallelism): every process holds the whole model and sees the
same sequence of GLOBAL batches (the same seed gives every process the same shuffle and the same
augmentation draws). Each process takes its own contiguous share of every global batch (`shard`),
computes the gradient of its share, and DistributedDataParallel averages the gradients across
processes during the backward pass, so every process takes the same optimiser step: the training
that one process would do with the whole global batch, up to the order of floating-point sums.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Processes", "setup", "processes", "shard", "sum_across", "gather", "broadcast", "close", "finish"]


@dataclass(frozen=True)
class Processes:
    """Who this process is among the processes of one training run."""

    rank: int = 0  # 0 .. world_size - 1; rank 0 prints, shows progress and writes files
    world_size: int = 1  # how many processes train together
    local_rank: int = 0  # the process's number on its own machine: which GPU it uses

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _from_environment() -> Processes:
    """What torchrun (or SLURM via torchrun, or any launcher that sets the same variables) says."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Processes()
    return Processes(rank=int(os.environ["RANK"]), world_size=world_size,
                     local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def processes() -> Processes:
    """This process's place in the run: from the process group if one is set up, else from the environment."""
    if dist.is_available() and dist.is_initialized():
        return Processes(rank=dist.get_rank(), world_size=dist.get_world_size(),
                         local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    return _from_environment()


def setup(device: torch.device) -> tuple[Processes, torch.device]:
    """Join the process group if a launcher started several processes; -> (Processes, the device to use).

    device: the device `fit` would use in one process. On CUDA each process takes the GPU of its
    LOCAL_RANK and the NCCL backend; elsewhere gloo. Calling setup again reuses the group.
    """
    procs = _from_environment()
    if not procs.is_distributed:
        return procs, device
    if device.type == "cuda":
        device = torch.device("cuda", procs.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(close)
    return processes(), device


def shard(n: int, procs: Processes) -> slice:
    """This process's contiguous share of n items: sizes differ by at most one, nothing is left
    out or repeated. E.g. n = 7 on 2 processes: rank 0 gets items 0-2, rank 1 items 3-6."""
    return slice(n * procs.rank // procs.world_size, n * (procs.rank + 1) // procs.world_size)


def sum_across(values: list[float], procs: Processes) -> list[float]:
    """The sums of `values` over all processes (float64), e.g. losses and counts of each process's share."""
    if not procs.is_distributed:
        return list(values)
    backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=backend_device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather(obj, procs: Processes) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every process (e.g. each process's RNG state)."""
    if not procs.is_distributed:
        return [obj]
    out = [None] * procs.world_size
    dist.all_gather_object(out, obj)
    return out


def close() -> None:
    """Leave the process group (at the end of a run; registered with atexit by setup)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def finish(procs: Processes) -> None:
    """The normal end of a run: wait until every process is here, then leave the process group.

    Without the wait, a process that is done early (every rank but 0, while rank 0 writes the files)
    leaves while the others still hold their connections to it, and gloo can abort such a process at
    exit ("terminate called without an active exception"). After an error, `close` (atexit) leaves
    without waiting, so that no process waits for one that has failed.
    """
    if procs.is_distributed and dist.is_initialized():
        dist.barrier()
    close()


def broadcast(obj, procs: Processes):
    """Rank 0's obj on every process (e.g. a checkpoint only rank 0 can read)."""
    if not procs.is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
