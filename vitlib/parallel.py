"""Independent runs side by side: one job per worker process, one thread each.

    from vitlib.parallel import run_in_processes
    results = run_in_processes(train_one, [dict(model="ViT", seed=0), dict(model="CNN", seed=0)])

A tiny model's matmuls are too small to split across threads: two threads make one training
barely faster, while two trainings in two processes, one thread each, run almost twice as fast
as one after the other. That is what a multi-seed sweep needs, and all this module does.

`fn` runs in another process, so it must be importable: a function defined in a module (such as
`vitlib.course.nb05_training`), not in a notebook cell or a lambda. Its keyword arguments and its
result travel between processes by pickling (numbers, tensors, Histories, even whole models).
Workers are started by "forkserver" where the platform has it (Linux, macOS) and by "spawn"
elsewhere; never by a plain "fork" of a process whose torch may already have started threads,
which can deadlock.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import torch

__all__ = ["JobError", "run_in_processes"]


class JobError(RuntimeError):
    """A job raised an exception in its worker; `job` names it, `__cause__` is the original error."""

    def __init__(self, message: str, index: int, job: dict):
        super().__init__(message)
        self.index, self.job = index, job


def _context():
    """forkserver where available (a fresh, thread-free process forks the workers), else spawn."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def _start_worker(threads: int) -> None:
    """Runs once in every worker process before its first job."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def _job_error(fn: Callable, index: int, job: dict, total: int, error: Exception) -> JobError:
    """A JobError that names the call, e.g. "job 3 of 24, train_one(model='ViT', seed=1), raised ValueError: ..."."""
    def short(value) -> str:
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."

    call = f"{fn.__name__}({', '.join(f'{k}={short(v)}' for k, v in job.items())})"
    return JobError(f"job {index + 1} of {total}, {call}, raised {type(error).__name__}: {error}", index, job)


def _check(fn, jobs, processes, threads) -> list[dict]:
    if not callable(fn):
        raise ValueError(f"fn must be a function, got {type(fn).__name__}")
    if getattr(fn, "__name__", "") == "<lambda>" or "<locals>" in getattr(fn, "__qualname__", ""):
        raise ValueError(f"fn ({fn.__qualname__}) must be importable by the worker processes: define it at the "
                         "top level of a module (not as a lambda or inside another function)")
    jobs = list(jobs)
    bad = [i for i, job in enumerate(jobs) if not isinstance(job, dict)]
    if bad:
        raise ValueError(f"every job must be a dict of keyword arguments for fn; job {bad[0]} is a "
                         f"{type(jobs[bad[0]]).__name__}, e.g. write dict(seed=0) instead of (0,)")
    for name, value in (("processes", processes), ("threads", threads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return jobs


def run_in_processes(fn: Callable[..., Any], jobs, processes: int = 2, threads: int = 1) -> list:
    """[fn(**job) for job in jobs], computed by `processes` worker processes with `threads` torch threads each.

    fn:        a function importable from a module (see the module docstring).
    jobs:      a list of dicts, the keyword arguments of each call.
    processes: how many jobs run at the same time (at most one per free CPU core is useful).
               processes=1 runs the jobs one after the other in this process (no workers started),
               with `threads` torch threads, and then restores the thread count.
    -> the results in the order of `jobs` (whatever order they finish in).

    Workers take the jobs in list order, each one the next job as soon as it is free, so put the
    longest jobs first for the processes to finish together. If a job raises, the jobs not yet
    started are cancelled (jobs already running finish in the background) and JobError names the
    failed job, with the worker's exception (and its traceback) as its __cause__.
    """
    jobs = _check(fn, jobs, processes, threads)
    if processes == 1 or len(jobs) <= 1:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return [_call(fn, i, job, len(jobs)) for i, job in enumerate(jobs)]
        finally:
            torch.set_num_threads(before)
    context = _context()
    if context.get_start_method() == "forkserver" and fn.__module__ != "__main__":
        context.set_forkserver_preload(["torch", fn.__module__])  # imported once, not once per worker
    pool = ProcessPoolExecutor(min(processes, len(jobs)), mp_context=context, initializer=_start_worker,
                               initargs=(threads,))
    failed = True
    try:
        futures = [pool.submit(fn, **job) for job in jobs]
        results = []
        for i, (future, job) in enumerate(zip(futures, jobs)):
            try:
                results.append(future.result())
            except Exception as error:
                raise _job_error(fn, i, job, len(jobs), error) from error
        failed = False
        return results
    finally:
        # after a failure or Ctrl-C: cancel the jobs not yet started, and do not wait for the running ones
        pool.shutdown(wait=not failed, cancel_futures=True)


def _call(fn: Callable, index: int, job: dict, total: int):
    try:
        return fn(**job)
    except Exception as error:
        raise _job_error(fn, index, job, total, error) from error
