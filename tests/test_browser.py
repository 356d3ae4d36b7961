"""A real browser runs every notebook that has a widget, as a student would.

JupyterLab is started on 127.0.0.1 (a free port, no token) over a temporary copy of
notebooks/; Debian's Chromium, driven by Playwright, opens each notebook with a
widget, runs all cells, waits for the kernel to go idle, moves a slider, and checks
that the plot changed and that no error output appeared. Screenshots of failures
go to tests/artifacts/.

Before any cell runs, the same notebook must read well: where a widget will be, the
committed output shows the still picture of its figure (`vitlib.course.ui.FigureBox`
commits one beside the widget view), not the widget's repr `VBox(children=...`.

Skipped (with the reason) where Chromium or Playwright is missing; `.ci/run`
installs Chromium (apt-get install chromium) so CI runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VITLIB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
# Flags from the machine notes (Playwright adds --headless): without the background-networking ones
# Chromium keeps dialling out on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def notebooks_with_widgets() -> list[Path]:
    found = []
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        # a widget builder of the course (`nbNN.something_widget(...)`) or ipywidgets used directly
        if any(c["cell_type"] == "code" and ("_widget(" in "".join(c["source"]) or "widgets." in "".join(c["source"]))
               for c in cells):
            found.append(nb)
    return found


def widget_outputs(nb: Path) -> list[tuple[int, dict]]:
    """(cell index, output data) of every committed output that displays a widget."""
    cells = json.loads(nb.read_text())["cells"]
    return [(i, out["data"]) for i, c in enumerate(cells) if c["cell_type"] == "code"
            for out in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return (f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` (.ci/run does) to run "
                "the browser test")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (make test installs it)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a copy of notebooks/ (nothing in the repository is touched)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port = _free_port()
    settings = root / "settings"
    # render every cell (JupyterLab otherwise skips cells scrolled out of view), ask nothing about news, and
    # never autosave: a live test that runs a notebook slowly must not overwrite the committed copy that the
    # unrun test opens later (under load, autosave did, and the unrun test saw quick-mode outputs)
    for plugin, value in {"notebook-extension/tracker": {"windowingMode": "none"},
                          "apputils-extension/notification": {"fetchNews": "false"},
                          "docmanager-extension/plugin": {"autosave": False}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {**os.environ, "VITLIB_QUICK": "1", "JUPYTER_CONFIG_DIR": str(root / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"),
           "JUPYTER_DATA_DIR": str(root / "data"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={root / 'notebooks'}", "--allow-root",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"JupyterLab did not start; see {root / 'lab.log'}")
    if proc.poll() is not None:
        pytest.fail(f"JupyterLab exited: {(root / 'lab.log').read_text()[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


KERNEL_BUSY_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.sessionContext.session || !w.sessionContext.session.kernel) return 'none';
  return w.sessionContext.session.kernel.status;
}"""

# Read the notebook's model, not the DOM (JupyterLab does not render cells scrolled out of view).
ERRORS_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    for (const out of cell.toJSON().outputs) {
      if (out.output_type === 'error') errors.push(`cell ${i}: ${out.ename}: ${out.evalue}`);
      if (out.output_type === 'stream' && out.name === 'stderr')
        errors.push(`cell ${i} stderr: ${[].concat(out.text).join('').slice(0, 300)}`);
    }
  }
  return errors;
}"""

NOT_RUN_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const missing = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i).toJSON();
    if (cell.cell_type === 'code' && [].concat(cell.source).join('').trim() && cell.execution_count === null)
      missing.push(i);
  }
  return missing;
}"""


def _wait_idle(page, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        busy = page.evaluate(KERNEL_BUSY_JS)
        pending = page.locator(".jp-InputPrompt:has-text('[*]')").count()
        if busy == "idle" and pending == 0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"kernel still busy after {timeout_s} s")


@pytest.mark.parametrize("notebook", notebooks_with_widgets(), ids=lambda p: p.stem)
def test_notebook_widgets_in_a_real_browser(lab, browser, notebook):
    with _page(browser, lab, screenshot=ARTIFACTS / f"{notebook.stem}.png") as page:
        page.goto(f"{lab}/lab/tree/{notebook.name}?reset", timeout=60_000)  # ?reset: a fresh workspace, one tab
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=60_000)
        page.wait_for_function(f"({KERNEL_BUSY_JS})() === 'idle'", timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        time.sleep(1)
        _wait_idle(page, 180)
        assert page.evaluate(ERRORS_JS) == [], "a cell wrote to stderr or raised"
        assert page.evaluate(NOT_RUN_JS) == [], "some code cells did not run"
        sliders = page.locator(".widget-slider .noUi-handle")
        try:  # widget views render after the kernel is idle
            sliders.first.wait_for(state="attached", timeout=30_000)
        except Exception:
            raise AssertionError("no slider was rendered: are the widgets displayed?") from None
        handle = sliders.first
        handle.scroll_into_view_if_needed(timeout=30_000)
        widget = handle.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")
        plots = widget.locator("img:visible")  # the figure, rendered as an image inside the widget
        assert plots.count() > 0, "the widget shows no plot"
        before = [plots.nth(i).screenshot() for i in range(plots.count())]
        handle.focus()
        for _ in range(3):
            handle.press("ArrowRight")
        _wait_idle(page, 30)
        time.sleep(1)
        after = [plots.nth(i).screenshot() for i in range(plots.count())]
        assert before != after, "moving the slider did not change the widget's plot"
        assert page.evaluate(ERRORS_JS) == [], "moving the slider raised an error"


# Every code cell's rendered outputs, in notebook order: how many images, and the text shown.
CELL_OUTPUTS_JS = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  return cells.map(cell => {
    const area = cell.node.querySelector('.jp-OutputArea');
    if (!area) return null;
    return {images: area.querySelectorAll('img').length, text: area.innerText};
  });
}"""


@pytest.mark.parametrize("notebook", notebooks_with_widgets(), ids=lambda p: p.stem)
def test_unrun_notebook_shows_pictures_where_widgets_will_be(lab, browser, notebook):
    outputs = widget_outputs(notebook)
    if not outputs:
        pytest.skip(f"{notebook.name} has no committed widget output: run it and commit its outputs")
    stale = [i for i, data in outputs if "image/png" not in data]
    if stale:
        pytest.skip(f"{notebook.name}: cells {stale} were committed before widgets carried a still picture; "
                    "re-run the notebook (make notebooks) to commit them")
    with _page(browser, lab, screenshot=ARTIFACTS / f"{notebook.stem}-unrun.png") as page:
        page.goto(f"{lab}/lab/tree/{notebook.name}?reset", timeout=60_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                               "&& window.jupyterapp.shell.currentWidget.content "
                               "&& window.jupyterapp.shell.currentWidget.content.widgets.length > 0", timeout=60_000)
        cell_count = len(json.loads(notebook.read_text())["cells"])
        page.wait_for_function(f"() => window.jupyterapp.shell.currentWidget.content.widgets.length === {cell_count}",
                               timeout=60_000)
        deadline = time.time() + 120  # a loaded machine (CI next to other jobs) rendered slower than 30 s
        while True:  # outputs render asynchronously
            rendered = page.evaluate(CELL_OUTPUTS_JS)
            if all(rendered[i] and rendered[i]["images"] > 0 for i, _ in outputs) or time.time() > deadline:
                break
            time.sleep(0.5)
        for i, _ in outputs:
            shown = rendered[i]
            assert shown is not None and shown["images"] > 0, f"cell {i}: no picture where the widget will be"
            assert "VBox(" not in shown["text"] and "HBox(" not in shown["text"], f"cell {i} shows the widget's repr"
            assert "Error displaying widget" not in shown["text"], f"cell {i} shows a widget error"
        assert page.evaluate(KERNEL_BUSY_JS) in ("idle", "none", "starting", "unknown")  # nothing was run
        assert page.evaluate(NOT_RUN_JS) == [], "the committed notebook has code cells that never ran"


@contextlib.contextmanager
def _page(browser, lab: str, screenshot: Path):
    """A new browser page; if the test fails, a full-page screenshot of it goes to `screenshot`.

    Afterwards the page is closed and every kernel of `lab` is stopped.
    """
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        yield page
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        raise
    finally:
        page.close()
        _shutdown_kernels(lab)


def _shutdown_kernels(url: str) -> None:
    """Stop every kernel, so one notebook's kernel does not slow down the next test."""
    with urllib.request.urlopen(f"{url}/api/kernels", timeout=10) as r:
        kernels = json.load(r)
    for kernel in kernels:
        request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()
