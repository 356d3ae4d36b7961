"""The "Your turn" exercises of the course notebooks, found from the notebooks themselves.

An exercise is a code cell (the stub) that defines the student's function with `raise NotImplementedError`
and calls its checker, `_ = nbNN.check_xxx(fn)`; the reference solution is the code cell tagged
`solution` below it that calls the same checker. tools/student_edition.py, tools/grade.py and the
checker tests (tests/course/test_discrimination.py) all read the exercises from here, so a new
exercise written this way is picked up by all three.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE_IMPORT = re.compile(r"from vitlib\.course import (nb\d\d_\w+) as (nb\d\d)\b")
CHECK_CALL = re.compile(r"\b(nb\d\d)\.(check_\w+)\(\s*(\w+)\s*\)")


@dataclass(frozen=True)
class Exercise:
    """One exercise of one notebook; cell positions are indices into the notebook's `cells`."""

    notebook: str  # the notebook's stem, e.g. "03_attention"
    function: str  # the function the student writes, e.g. "split_heads"
    checker: str  # its checker in the course module, e.g. "check_split_heads"
    module: str  # the course module, e.g. "vitlib.course.nb03_attention"
    alias: str  # the name the notebook imports the module as, e.g. "nb03"
    stub: int  # the "Your turn" cell
    solution: int | None  # the reference solution (tagged `solution`), if there is one
    used_after: tuple[int, ...]  # later code cells (not solutions) that call the function

    @property
    def number(self) -> str:
        return self.notebook[:2]


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def is_solution(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and "solution" in cell.get("metadata", {}).get("tags", [])


def course_module(cells: list[dict]) -> tuple[str, str] | None:
    """(module name, alias) of the course module the notebook imports, e.g. ("nb03_attention", "nb03")."""
    for cell in cells:
        if cell.get("cell_type") == "code":
            found = COURSE_IMPORT.search(cell_source(cell))
            if found:
                return found.group(1), found.group(2)
    return None


def _calls(source: str, name: str) -> bool:
    """True if `source` uses the name `name` (not as an attribute such as `cfg.name`)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}\b", source) is not None


def find_exercises(path: Path) -> list[Exercise]:
    """The exercises of the notebook at `path`, in order."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    module = course_module(cells)
    if module is None:
        return []
    found = []
    for i, cell in enumerate(cells):
        source = cell_source(cell)
        if cell.get("cell_type") != "code" or is_solution(cell) or "raise NotImplementedError" not in source:
            continue
        call = CHECK_CALL.search(source)
        if call is None or call.group(1) != module[1]:
            continue
        _, checker_name, function = call.groups()
        solution = next((j for j in range(i + 1, len(cells)) if is_solution(cells[j])
                         and f".{checker_name}(" in cell_source(cells[j])), None)
        after = (solution if solution is not None else i) + 1
        used = tuple(j for j in range(after, len(cells)) if cells[j].get("cell_type") == "code"
                     and not is_solution(cells[j]) and _calls(cell_source(cells[j]), function))
        found.append(Exercise(Path(path).stem, function, checker_name, f"vitlib.course.{module[0]}", module[1],
                              i, solution, used))
    return found


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks NN_*.ipynb in `folder`."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def definitions(source: str, functions: bool = True) -> str:
    """A cell's top-level imports and (if `functions`) function and class definitions, without the rest
    (checker calls, asserts, IPython magics): what later code can use from the cell."""
    source = re.sub(r"^[%!].*$", "", source, flags=re.M)  # %matplotlib inline, !pip ...
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef) if functions else (ast.Import, ast.ImportFrom)
    kept = [node for node in ast.parse(source).body if isinstance(node, kinds)]
    return "\n\n".join(ast.get_source_segment(source, node) for node in kept) + "\n"
