"""Run one submitted notebook in a kernel of its own, with time limits, and collect the checkers' verdicts.

The grader's process never runs the student's code: nbclient starts a fresh Jupyter kernel (a separate
process, the course's own Python environment) for each submission, in an empty temporary folder, and
executes a copy of the notebook there cell by cell, going on after a cell's error as a student clicking
"Run all" would not, so that one broken exercise does not hide the others. The checkers (marked
`@checker` in vitlib.course) append their verdicts to the file named by $VITLIB_VERDICTS; that file, not
the notebook's outputs, is what counts. A cell that runs past its limit, or a notebook past its own, stops
the run and the kernel is killed with its whole process group. The file submitted is only read.

This is a time limit and a separate process, not a sandbox: the student's code can read and write
whatever the grader's user can. Grade untrusted code in a container or a throw-away VM.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from vitlib.course.exercise import VERDICTS_ENV


@dataclass(frozen=True)
class Limits:
    """Time limits in seconds, and the environment the notebook runs in."""

    cell: int = 300  # one cell
    notebook: int = 1200  # the whole notebook, kernel start included
    quick: bool = True  # VITLIB_QUICK=1: small data and few epochs, as in CI


@dataclass
class Run:
    """What happened when a submission ran."""

    verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)  # checker -> (status, message), the last
    errors: dict[int, str] = field(default_factory=dict)  # cell index -> "NameError: name 'x' is not defined"
    stopped_at: int | None = None  # the cell that was running when the run stopped early
    stop_status: str = ""  # "timed out" or "error"
    stop_reason: str = ""  # why, in words
    seconds: float = 0.0


def _read_verdicts(path: Path) -> dict[str, tuple[str, str]]:
    """The last verdict of each checker in the JSON-lines file the checkers wrote."""
    verdicts = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                verdicts[record["checker"]] = (record["status"], record["message"])
            except (ValueError, KeyError, TypeError):
                continue  # a line the student's code wrote or cut short: not a verdict
    return verdicts


def _cell_errors(nb) -> dict[int, str]:
    return {i: f"{out.get('ename')}: {out.get('evalue')}" for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" for out in cell.get("outputs", []) if out.get("output_type") == "error"}


def run_notebook(nb, limits: Limits) -> Run:
    """Execute `nb` (an nbformat notebook; a copy is run) in a fresh kernel; -> the verdicts and how it ended."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a deep copy: the caller's notebook stays as it was
    run = Run()
    with tempfile.TemporaryDirectory(prefix="vitlib-grade-") as workdir:
        verdicts = Path(workdir) / ".verdicts.jsonl"
        env = {**os.environ, VERDICTS_ENV: str(verdicts), "VITLIB_QUICK": "1" if limits.quick else "0"}
        env.pop("MPLBACKEND", None)  # the kernel's own inline backend, as in Jupyter
        start = time.monotonic()
        running = {"index": 0, "limit": limits.cell}  # the cell running now, and its limit

        def cell_limit(cell) -> int:
            left = int(limits.notebook - (time.monotonic() - start))
            running["limit"] = max(1, min(limits.cell, left))
            return running["limit"]

        def on_cell_execute(cell, cell_index):
            running["index"] = cell_index

        # the course's own Python (the kernel named python3 of this environment); local sockets, no TCP ports
        kernel = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(workdir, ".kernel"))
        client = NotebookClient(nb, km=kernel, timeout_func=cell_limit, allow_errors=True,
                                shutdown_kernel="immediate", record_timing=False, on_cell_execute=on_cell_execute,
                                resources={"metadata": {"path": workdir}})
        try:
            client.execute(env=env, cleanup_kc=True)  # cleanup_kc: shut the kernel down (we made it)
        except CellTimeoutError:
            run.stopped_at, run.stop_status = running["index"], "timed out"
            run.stop_reason = (f"the notebook ran past its time limit of {limits.notebook} s"
                               if running["limit"] < limits.cell else
                               f"cell {running['index'] + 1} ran past the time limit of {limits.cell} s per cell")
        except DeadKernelError:
            run.stopped_at, run.stop_status = running["index"], "error"
            run.stop_reason = (f"the kernel died while running cell {running['index'] + 1} (out of memory, or the "
                               "code ended the Python process)")
        run.seconds = time.monotonic() - start
        run.verdicts = _read_verdicts(verdicts)
    run.errors = _cell_errors(nb)
    return run
