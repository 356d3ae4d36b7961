"""The two dependency lists agree, and every installed package is pinned."""

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch-cpu": "torch"}  # conda-forge name -> PyPI name


def _name_and_bound(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pyproject_deps() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    specs = project["dependencies"] + extras["lab"] + extras["test"]
    return dict(_name_and_bound(s) for s in specs)


def conda_deps() -> dict[str, str]:
    deps = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
        elif in_deps and re.match(r"^\s+-\s+", line) and not line.rstrip().endswith(":"):
            name, bound = _name_and_bound(re.sub(r"^\s+-\s+", "", line).split("#")[0])
            if name not in ("python", "pip"):
                deps[CONDA_NAMES.get(name, name)] = bound
        elif in_deps and line and not line.startswith(" "):
            in_deps = False
    return deps


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_pyproject_and_environment_yml_list_the_same_packages_and_bounds():
    assert pyproject_deps() == conda_deps()


def test_every_dependency_has_a_lower_bound():
    for name, bound in pyproject_deps().items():
        assert bound.startswith(">="), f"{name} has no lower bound"


def test_constraints_pin_every_dependency_within_its_bound():
    pins = constraints()
    for name, bound in pyproject_deps().items():
        assert name in pins, f"{name} is not pinned in constraints.txt"
        low = tuple(int(x) for x in bound[2:].split("."))
        got = tuple(int(x) for x in re.match(r"[\d.]+", pins[name]).group(0).rstrip(".").split("."))
        assert got >= low, f"{name}=={pins[name]} is below the lower bound {bound}"
    assert pins["torch"] == "2.13.0"  # the CPU wheel; an open range would pull CUDA packages


def test_the_wheel_carries_the_bundled_checkpoint(tmp_path):
    """In Colab vitlib is pip-installed, not a checkout: data/ must travel in the wheel as vitlib/bundled/."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("vitlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = {Path(n).name for n in names if n.startswith("vitlib/bundled/")}
    manifests = sorted(p.name for p in (ROOT / "data").glob("*.json"))
    assert manifests, "no bundled manifest in data/"
    for manifest in manifests:
        checkpoint = json.loads((ROOT / "data" / manifest).read_text())["file"]
        assert {manifest, checkpoint} <= bundled, f"the wheel lacks data/{manifest} or data/{checkpoint}"


def test_make_lab_starts_jupyterlab_even_as_root():
    """A fresh container runs as root, where JupyterLab refuses to start without --allow-root."""
    import os
    import subprocess

    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "lab"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    line = next(line for line in dry.splitlines() if "jupyter lab" in line)
    assert line.rstrip().endswith("notebooks/")
    assert ("--allow-root" in line) == (os.getuid() == 0)


def test_the_runtime_needs_no_jupyter_front_end_and_make_lab_installs_one():
    """pip install vitlib goes into Colab or a student's Jupyter as it is: no JupyterLab or Notebook, and
    Colab's ipywidgets 7 is accepted. JupyterLab comes with the `lab` extra, which `make` installs."""
    import subprocess

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = dict(_name_and_bound(s) for s in project["dependencies"])
    assert not {"jupyterlab", "notebook", "jupyter-server", "jupyterlab-widgets"} & set(runtime)
    assert runtime["ipywidgets"] == ">=7.6"
    assert "jupyterlab" in dict(_name_and_bound(s) for s in project["optional-dependencies"]["lab"])
    dry = subprocess.run(["make", "-n", "-W", "pyproject.toml", "-o", ".venv/bin/python", ".venv/.installed"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert '-e ".[lab,test,site]"' in dry


def test_code_stays_within_the_house_line_length():
    limit = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]
    files = [p for folder in ("vitlib", "tests", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 50
    too_long = [f"{p.relative_to(ROOT)}:{i} ({len(line)})" for p in files
                for i, line in enumerate(p.read_text().splitlines(), 1) if len(line) > limit]
    assert not too_long, f"lines over {limit} characters (pyproject's [tool.ruff] line-length): {too_long}"
