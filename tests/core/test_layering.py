"""The core never depends on the course layer: data flows one way, core -> course -> notebooks."""

import ast
from pathlib import Path

import vitlib

CORE = sorted(Path(vitlib.__file__).parent.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved inside the vitlib package."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ("vitlib." if node.level else "") + (node.module or "")
            names.add(base.rstrip("."))
            names |= {f"{base.rstrip('.')}.{alias.name}" for alias in node.names}
    return names


def test_the_core_is_found():
    assert {"model.py", "patches.py", "train.py"} <= {p.name for p in CORE}


def test_no_core_module_imports_the_course_layer():
    offenders = {p.name: sorted(n for n in imported_modules(p) if n.startswith("vitlib.course") or n == "vitlib.course")
                 for p in CORE}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_a_notebook_module_never_imports_another_notebooks_module():
    course = Path(vitlib.__file__).parent / "course"
    for path in sorted(course.glob("nb*.py")):
        own = f"vitlib.course.{path.stem}"
        others = sorted(n for n in imported_modules(path) if ".nb" in n and not n.startswith(own))
        assert not others, f"{path.name} imports {others}; share through vitlib.course.figures or ui instead"
