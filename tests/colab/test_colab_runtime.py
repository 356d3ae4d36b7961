"""vitlib in a runtime set up like Colab's: the notebooks' own install command, then the widget tests.

A second virtual environment, cached under .venv-colab/<key of colab-runtime.txt and this Python>,
holds what Colab preinstalls as far as this machine allows (colab-runtime.txt: ipywidgets 7.7.1
and its widgetsnbextension, no JupyterLab, torch, numpy, ...). Each session builds the vitlib wheel,
removes vitlib and what the Colab cell adds from that environment (back to a fresh runtime), runs the
Colab block of notebook 00's first cell there with the wheel in place of the GitHub URL, and then runs
every notebook's widget tests (tests/course/) and notebook 01 under nbval with ipywidgets 7.7.1.

Run with `make test-colab` (part of .ci/run). Skipped, with the reason, only where PyPI cannot be reached.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = Path(__file__).with_name("colab-runtime.txt")
NBVAL_NOTEBOOK = "notebooks/01_patching.ipynb"
sys.path.insert(0, str(ROOT / "tools"))
from colab_cell import COLAB_ADDS, current_block  # noqa: E402  (tools/colab_cell.py)


def _name(spec: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", spec).group(0).lower().replace("_", "-")


def _pins(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {_name(line): line.split("==")[1] for line in lines if line}


def _run(cmd, timeout=1800) -> subprocess.CompletedProcess:
    """Run `cmd` without PYTHONPATH and from this folder, not the repository root: vitlib must come from
    the installed wheel, never from the checkout (`python -m` puts the working directory on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(VITLIB_QUICK="1", MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run([str(c) for c in cmd], cwd=Path(__file__).parent, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _check(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{(result.stdout + result.stderr)[-6000:]}"
    return result.stdout


def _installed(python: Path) -> dict[str, str]:
    """name -> version of every distribution in the environment of `python`."""
    listing = _check(_run([python, "-m", "pip", "list", "--format=json"]))
    return {_name(d["name"]): d["version"] for d in json.loads(listing)}


def _reach_pypi() -> None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/einops/", timeout=20).close()
    except OSError as error:
        pytest.skip(f"PyPI cannot be reached ({error}); the Colab-like runtime needs it for ipywidgets 7.7.1 "
                    "and for the packages the Colab cell adds")


def _cached_runtime() -> Path:
    """The Colab-like environment, built once per colab-runtime.txt and Python version."""
    key = hashlib.sha256(RUNTIME.read_bytes() + sys.version.encode()).hexdigest()[:12]
    venv = ROOT / ".venv-colab" / key
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        _check(_run([sys.executable, "-m", "venv", venv]))
        _check(_run([venv / "bin" / "python", "-m", "pip", "install", "-q", "-r", RUNTIME]))
        (venv / ".complete").touch()
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """The Colab-like runtime after the Colab cell ran there: python, before/after listings, plan, printed."""
    _reach_pypi()
    python = _cached_runtime()
    wheel_dir = tmp_path_factory.mktemp("wheel")
    _check(_run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                 "--wheel-dir", wheel_dir, ROOT]))
    (wheel,) = wheel_dir.glob("vitlib-*.whl")
    _check(_run([python, "-m", "pip", "uninstall", "-y", "-q", "vitlib", *map(_name, COLAB_ADDS)]))
    before = _installed(python)

    # What a plain `pip install <wheel>` would do here (resolved, nothing installed).
    report = _check(_run([python, "-m", "pip", "install", "--dry-run", "-q", "--report", "-", wheel]))
    plan = {_name(item["metadata"]["name"]): item["metadata"]["version"] for item in json.loads(report)["install"]}

    # The Colab block of notebook 00's first cell, minus the guard, with the wheel in place of GitHub.
    first = next(c for c in json.loads((ROOT / "notebooks/00_introduction.ipynb").read_text())["cells"]
                 if c["cell_type"] == "code")
    guarded = current_block("".join(first["source"])).split('if "google.colab" in sys.modules:', 1)[1]
    body = textwrap.dedent(guarded.split("\n", 1)[1])
    body, swaps = re.subn(r"git\+https://github\.com/[\w.-]+/[\w.-]+", wheel.as_uri(), body)
    assert swaps == 1, "the Colab cell should name the repository once"
    printed = _check(_run([python, "-c", "import sys\n" + body]))
    return {"python": python, "before": before, "plan": plan, "printed": printed, "after": _installed(python)}


def test_the_runtime_is_colab_like(colab):
    before = colab["before"]
    assert before["ipywidgets"] == "7.7.1" and before["widgetsnbextension"].startswith("3.6")
    assert "jupyterlab" not in before
    assert "vitlib" not in before and not {_name(spec) for spec in COLAB_ADDS} & set(before)


def test_colab_runtime_and_the_cell_cover_vitlibs_dependencies():
    """What the runtime file preinstalls plus what the cell adds is exactly vitlib's runtime (pyproject.toml),
    and the shared pins are the project's tested ones."""
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    preinstalled = set(_pins(RUNTIME)) - {"widgetsnbextension", "notebook", "pytest", "nbval"}
    assert preinstalled | {_name(spec) for spec in COLAB_ADDS} == {_name(spec) for spec in runtime}
    assert set(COLAB_ADDS) <= set(runtime), "COLAB_ADDS must carry pyproject.toml's bounds"
    tested = _pins(ROOT / "constraints.txt")
    for name, version in _pins(RUNTIME).items():
        if name not in {"ipywidgets", "widgetsnbextension", "notebook"}:
            assert tested[name] == version, f"{name}: colab-runtime.txt pins {version}, constraints.txt {tested[name]}"


def test_pip_install_of_the_wheel_adds_only_what_colab_lacks(colab):
    """Plain `pip install vitlib.whl` here: no JupyterLab, no ipywidgets upgrade, nothing replaced."""
    assert set(colab["plan"]) == {"vitlib"} | {_name(spec) for spec in COLAB_ADDS}, colab["plan"]


def test_the_colab_cell_installs_vitlib_and_changes_nothing_else(colab):
    before, after = colab["before"], colab["after"]
    assert {name: v for name, v in after.items() if before.get(name) != v} == {
        name: after[name] for name in {"vitlib"} | {_name(spec) for spec in COLAB_ADDS}}
    assert set(before) <= set(after)
    assert len(colab["printed"].strip().splitlines()) == 1, colab["printed"]


def test_every_notebooks_widget_tests_pass_with_ipywidgets_7(colab):
    where = _check(_run([colab["python"], "-c",
                         "import ipywidgets, vitlib; print(ipywidgets.__version__, vitlib.__file__)"]))
    version, path = where.split()
    assert version == "7.7.1" and Path(path).is_relative_to(colab["python"].parents[1]), where
    out = _check(_run([colab["python"], "-m", "pytest", ROOT / "tests" / "course", "-q", "-p", "no:cacheprovider"]))
    assert " passed" in out


def test_a_notebook_passes_nbval_with_ipywidgets_7(colab):
    out = _check(_run([colab["python"], "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
                       ROOT / "tests" / "nbval-sanitize.cfg", ROOT / NBVAL_NOTEBOOK, "-q", "-p", "no:cacheprovider"]))
    assert " passed" in out
