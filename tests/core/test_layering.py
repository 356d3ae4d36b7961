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


# A name in a module's __all__ that the module imports from another vitlib module is a second address for it.
# These are kept on purpose, each with its reason; every other name is imported from the module that defines it.
REEXPORTS = {
    ("vitlib", "ViT"): "the package's front door: `from vitlib import ViT, ViTConfig`",
    ("vitlib", "ViTConfig"): "the package's front door",
}
COURSE_FACADE = ("vitlib.course.figures", "vitlib.course.ui")  # each notebook's module hands on its shared drawings


def test_every_public_name_has_one_address():
    root = Path(vitlib.__file__).parent
    extra = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(("vitlib", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        imported = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
                imported |= {alias.asname or alias.name: source for alias in node.names}
        names = next((ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                      and any(getattr(t, "id", None) == "__all__" for t in node.targets)), [])
        for name in names:
            source = imported.get(name)
            if source is None or (module, name) in REEXPORTS:
                continue
            if module.startswith("vitlib.course.nb") and source in COURSE_FACADE:
                continue
            extra.append(f"{module}.{name} (defined in {source})")
    assert not extra, f"import these from the module that defines them, and drop them from __all__: {extra}"


def test_building_a_model_does_not_depend_on_the_read_out_probes():
    """The patch grid's geometry (patch_distances) sits below both: locality (which seeds a model) and probes."""
    root = Path(vitlib.__file__).parent
    assert "vitlib.probes" not in imported_modules(root / "locality.py")
    for name in ("locality.py", "probes.py"):
        assert "vitlib.patches.patch_distances" in imported_modules(root / name), name
