"""vitlib.parallel: jobs in worker processes, one torch thread each, results in job order, errors named."""

import os
import time

import pytest
import torch

from vitlib.parallel import JobError, run_in_processes


# The jobs: top-level functions, so that the worker processes can import them.
def where(delay: float = 0.0, tag: str = ""):
    """Sleep `delay` s, then say who ran the job: (tag, process id, torch threads)."""
    time.sleep(delay)
    return tag, os.getpid(), torch.get_num_threads()


def meet(folder: str, me: str, other: str, timeout: float = 60.0):
    """Leave a file, then wait for the other job's: returns only if both jobs run at the same time."""
    with open(os.path.join(folder, me), "w"):
        pass
    deadline = time.monotonic() + timeout
    while not os.path.exists(os.path.join(folder, other)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{other} never started while {me} was running")
        time.sleep(0.02)
    return me


def fail_on(x: int, bad: int):
    if x == bad:
        raise ValueError(f"x = {x} is bad")
    return torch.full((2,), x)  # tensors travel back too


def test_results_come_back_in_job_order_from_one_thread_workers():
    jobs = [dict(delay=0.6, tag="slow"), dict(delay=0.0, tag="fast"), dict(delay=0.1, tag="third")]
    results = run_in_processes(where, jobs, processes=2)
    assert [tag for tag, _, _ in results] == ["slow", "fast", "third"]  # job order, not finishing order
    pids = {pid for _, pid, _ in results}
    assert os.getpid() not in pids and len(pids) == 2  # two workers, neither of them this process
    assert all(threads == 1 for _, _, threads in results)


def test_two_processes_run_two_jobs_at_the_same_time(tmp_path):
    jobs = [dict(folder=str(tmp_path), me="a", other="b"), dict(folder=str(tmp_path), me="b", other="a")]
    assert run_in_processes(meet, jobs, processes=2) == ["a", "b"]


def test_a_failing_job_is_named_and_its_error_kept():
    with pytest.raises(JobError, match=r"job 2 of 3, fail_on\(x=2, bad=2\), raised ValueError: x = 2 is bad") as info:
        run_in_processes(fail_on, [dict(x=x, bad=2) for x in (1, 2, 3)], processes=2)
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.index == 1 and info.value.job == dict(x=2, bad=2)
    good = run_in_processes(fail_on, [dict(x=x, bad=-1) for x in (1, 2)], processes=2)
    assert [t.tolist() for t in good] == [[1, 1], [2, 2]]


def test_one_process_runs_here_with_the_thread_count_restored():
    before = torch.get_num_threads()
    results = run_in_processes(where, [dict(tag="a"), dict(tag="b")], processes=1, threads=1)
    assert [(tag, pid, threads) for tag, pid, threads in results] == [("a", os.getpid(), 1), ("b", os.getpid(), 1)]
    assert torch.get_num_threads() == before
    with pytest.raises(JobError, match=r"job 1 of 1, fail_on\(x=0, bad=0\)") as info:
        run_in_processes(fail_on, [dict(x=0, bad=0)], processes=1)
    assert isinstance(info.value.__cause__, ValueError)
    assert run_in_processes(where, [], processes=2) == []


def test_clear_errors_for_what_cannot_run():
    with pytest.raises(ValueError, match="importable"):
        run_in_processes(lambda: 1, [{}])

    def local():
        return 1

    with pytest.raises(ValueError, match="top level of a module"):
        run_in_processes(local, [{}])
    with pytest.raises(ValueError, match=r"dict of keyword arguments.*job 1 is a tuple"):
        run_in_processes(where, [dict(tag="a"), (0.1, "b")])
    with pytest.raises(ValueError, match="processes must be a positive integer"):
        run_in_processes(where, [{}], processes=0)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        run_in_processes(where, [{}], threads=1.5)
