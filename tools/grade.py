"""Grade students' notebooks with the course's own checkers.

    python tools/grade.py DIR [--cell-timeout 300] [--timeout 1200] [--full]
    (or: make grade SUBMISSIONS=DIR [CELL_TIMEOUT=300] [TIMEOUT=1200])

Every NN_*.ipynb-like notebook in DIR (as a student downloads it from Colab or JupyterLab; any file name)
is run in a kernel of its own, in quick mode, with a time limit per cell and per notebook
(tools/run_submission.py), and DIR/grades.csv gets one row per exercise per submission:

    submission,exercise,status,message

`exercise` is the function the student writes (e.g. num_patches); `status` is one of passed, failed,
not attempted, error, timed out; `message` is the checker's own words, the text the student saw. The
exercises expected of a submission are those of the course notebook it is a copy of (found by the course
module it imports, `from vitlib.course import nbNN_... as nbNN`), read from notebooks/: every one gets a
row, also when its cell was deleted, never ran, or the kernel died or ran out of time first. Submissions
are never changed; a crash or a time-out in one does not stop the others.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import nbformat

from course_exercises import NOTEBOOKS, Exercise, cell_source, course_module, course_notebooks, find_exercises
from run_submission import Limits, Run, run_notebook

COLUMNS = ["submission", "exercise", "status", "message"]
STATUSES = ("passed", "failed", "not attempted", "error", "timed out")


class NotGradable(ValueError):
    """A file in DIR that is not a course notebook; the message names the problem and the fix."""


def course_exercises(folder: Path = NOTEBOOKS) -> dict[str, list[Exercise]]:
    """Course module name (e.g. nb03_attention) -> the exercises of that notebook, from the notebooks in `folder`."""
    known = {}
    for path in course_notebooks(folder):
        exercises = find_exercises(path)
        if exercises:
            known[exercises[0].module.rsplit(".", 1)[1]] = exercises
    return known


def read_submission(path: Path, known: dict[str, list[Exercise]]):
    """-> (the notebook, its exercises); NotGradable if it is not a notebook or not one of the course's."""
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as error:  # not JSON, not a notebook, not UTF-8
        raise NotGradable(f"{path.name} is not a readable Jupyter notebook ({type(error).__name__}: {error}); "
                          "ask for the file again (Colab: File > Download > Download .ipynb)") from None
    module = course_module(nb.cells)
    if module is None or module[0] not in known:
        found = f"it imports {module[0]}" if module else "it imports no vitlib.course.nbNN_... module"
        raise NotGradable(f"{path.name} is not one of the course notebooks ({found}; the course has "
                          f"{', '.join(sorted(known))}); take it out of the folder, or grade it by hand")
    return nb, known[module[0]]


def _cell_of(nb, exercise: Exercise) -> int | None:
    """The submission's cell that calls the exercise's checker (students may add or move cells)."""
    call = f".{exercise.checker}("
    return next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and call in cell_source(cell)), None)


def verdict(nb, exercise: Exercise, run: Run) -> tuple[str, str]:
    """(status, message) of one exercise after `run`."""
    if exercise.checker in run.verdicts:
        return run.verdicts[exercise.checker]
    cell = _cell_of(nb, exercise)
    if cell is None:
        return "error", (f"the checker never ran: no cell calls {exercise.alias}.{exercise.checker}(...); put "
                         f"`_ = {exercise.alias}.{exercise.checker}({exercise.function})` back under your function")
    if run.stopped_at is not None and run.stopped_at <= cell:
        where = "while its cell ran" if run.stopped_at == cell else "before its cell ran"
        return run.stop_status, f"stopped {where}: {run.stop_reason}"
    if cell in run.errors:
        return "error", f"its cell (cell {cell + 1}) raised {run.errors[cell]} before the checker gave a verdict"
    return "error", f"the checker in cell {cell + 1} gave no verdict"


def grade_submission(path: Path, known: dict[str, list[Exercise]], limits: Limits) -> list[dict]:
    """The rows of one submission (at least one, even if it cannot be run)."""
    try:
        nb, exercises = read_submission(path, known)
    except NotGradable as problem:
        return [dict(submission=path.name, exercise="", status="error", message=str(problem))]
    try:
        run = run_notebook(nb, limits)
    except Exception as error:  # the kernel did not start, a malformed cell, ...
        run = Run(stopped_at=0, stop_status="error", stop_reason=f"the notebook could not be run "
                                                                 f"({type(error).__name__}: {error})")
    rows = []
    for exercise in exercises:
        status, message = verdict(nb, exercise, run)
        rows.append(dict(submission=path.name, exercise=exercise.function, status=status, message=message))
    return rows


def submissions(folder: Path) -> list[Path]:
    """The notebooks in `folder` (not in its subfolders); SystemExit naming the fix if there are none."""
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder: put the submitted .ipynb files in one folder and run "
                         "`make grade SUBMISSIONS=that/folder`")
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not found:
        raise SystemExit(f"no .ipynb files in {folder}: put the students' notebooks there (in Colab: File > "
                         "Download > Download .ipynb), then run `make grade SUBMISSIONS=" + str(folder) + "`")
    return found


def grade_folder(folder: Path, limits: Limits = Limits(), notebooks: Path = NOTEBOOKS, log=print) -> Path:
    """Grade every notebook in `folder`; -> the path of folder/grades.csv."""
    paths = submissions(folder)
    known = course_exercises(notebooks)
    if not known:
        raise SystemExit(f"no course notebooks with exercises in {notebooks}; run the grader from the course "
                         "repository (or pass --notebooks)")
    out = folder / "grades.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for path in paths:
            start = time.monotonic()
            rows = grade_submission(path, known, limits)
            writer.writerows(rows)
            f.flush()
            counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
            log(f"{path.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                + f" ({time.monotonic() - start:.0f} s)")
    log(f"wrote {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="the folder of submitted notebooks")
    parser.add_argument("--cell-timeout", type=int, default=Limits.cell, help="seconds per cell (default %(default)s)")
    parser.add_argument("--timeout", type=int, default=Limits.notebook,
                        help="seconds per notebook (default %(default)s)")
    parser.add_argument("--full", action="store_true", help="full mode instead of quick mode (VITLIB_QUICK=0)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the course notebooks (default notebooks/)")
    args = parser.parse_args(argv)
    limits = Limits(cell=args.cell_timeout, notebook=args.timeout, quick=not args.full)
    grade_folder(args.submissions, limits, args.notebooks)


if __name__ == "__main__":
    sys.exit(main())
