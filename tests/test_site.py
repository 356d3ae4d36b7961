"""The static site (`make site`): built offline from the committed notebooks, both languages, with pictures.

The site is built once into a temporary folder (Sphinx with myst-nb, docs/site/conf.py; nothing is
executed). The HTML is checked for what every notebook page needs: each stored picture, the still
picture where a widget was (not the widget's repr), a link to the same notebook in the other
language, an "Open in Colab" link to the right file, and no script or style from the network. Then
Debian's Chromium (as in tests/test_browser.py) opens every page from disk with the network cut
off and checks that the pictures load and the equations are typeset; search is tried in both languages.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_browser import CHROMIUM, CHROMIUM_ARGS, _missing

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = [f"notebooks/{nb.stem}" for nb in ENGLISH] + [f"notebooks/zh/{nb.stem}" for nb in ENGLISH]
WIDGET_REPRS = re.compile(r"VBox\(children|HBox\(children|interactive\(children|IntSlider\(|FloatSlider\(|"
                          r"Dropdown\(|Button\(description|FigureBox\(|Output\(\)|widget-view\+json")

try:
    import myst_nb  # noqa: F401
    import sphinx  # noqa: F401

    SPHINX_MISSING = None
except ImportError:
    SPHINX_MISSING = "Sphinx and myst-nb are not installed (make test installs the `site` extra)"

pytestmark = pytest.mark.skipif(SPHINX_MISSING is not None, reason=SPHINX_MISSING or "")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going",
                          "-c", str(ROOT / "docs" / "site"), str(ROOT), str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, f"the site did not build cleanly:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return out


def image_outputs(notebook: Path) -> int:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum("image/png" in out.get("data", {}) for c in cells if c["cell_type"] == "code" for out in c["outputs"])


@pytest.mark.parametrize("page", PAGES)
def test_notebook_page_has_its_pictures_links_and_no_widget_text(site, page):
    html = (site / f"{page}.html").read_text(encoding="utf-8")
    notebook = ROOT / f"{page}.ipynb"
    images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", html)
    local = [src for src in images if not src.startswith(("http:", "https:", "data:"))]
    assert len(local) >= image_outputs(notebook) > 0
    missing = [src for src in local if not (site / page).parent.joinpath(src).resolve().exists()]
    assert not missing, f"pictures the page names but the site lacks: {missing}"
    text = re.sub(r"<[^>]+>", " ", html)
    assert not WIDGET_REPRS.search(text), f"raw widget text on {page}: {WIDGET_REPRS.search(text).group(0)}"
    zh = "/zh/" in page
    other = f"../{Path(page).name}.html" if zh else f"zh/{Path(page).name}.html"
    assert re.search(rf'class="[^"]*language-switch[^"]*" href="{re.escape(other)}"', html), \
        f"{page} does not link to its {'English' if zh else 'Chinese'} edition"
    assert f"colab.research.google.com/github/" in html and f"/blob/main/{page}.ipynb" in html
    network = re.search(r"<(script|link)[^>]+(src|href)=\"https?://[^\"]+", html)
    assert not network, f"the page loads something from the network: {network and network.group(0)}"


def test_home_page_is_the_readme_with_both_editions(site):
    assert (site / "index.html").exists()
    home = (site / "README.html").read_text(encoding="utf-8")
    assert "中文" in home
    for page in PAGES:
        assert f'href="{page}.html' in home, f"the home page's navigation lacks {page}"
    assert 'href="docs/glossary.html' in home


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_every_page_renders_in_chromium_offline(site):
    from playwright.sync_api import sync_playwright

    failures = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True)
        remote = []
        context.route(re.compile(r"^https?://"), lambda route: (remote.append(route.request.url), route.abort()))
        page = context.new_page()
        for name in ["README"] + PAGES:
            page.goto((site / f"{name}.html").as_uri())
            page.wait_for_load_state("load")
            broken = page.evaluate("() => [...document.images].filter(i => i.closest('article') &&"
                                   " !i.src.startsWith('http') && !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
            pictures = page.evaluate("() => [...document.querySelectorAll('article img')]"
                                     ".filter(i => i.naturalWidth > 0).length")
            if broken or (name != "README" and pictures == 0):
                failures.append(f"{name}: {len(broken)} pictures did not load, {pictures} shown")
            if name != "README":
                page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0"
                                       " || !document.body.innerText.includes('$')", timeout=20_000)
                raw_math = page.evaluate("() => /\\\\\\(|\\\\\\[/.test(document.querySelector('article').innerText)")
                if raw_math:
                    failures.append(f"{name}: untypeset math")
                switch = page.locator("a.language-switch")
                if switch.count() != 1 or not switch.first.is_visible():
                    failures.append(f"{name}: no visible language switch")
        found = {}
        for query in ("patch", "注意力"):  # search covers both editions (jieba splits the Chinese)
            page.goto((site / "search.html").as_uri() + "?q=" + query)
            page.wait_for_selector("#search-results li", timeout=20_000)
            found[query] = page.evaluate("() => [...document.querySelectorAll('#search-results li a')]"
                                         ".map(a => a.getAttribute('href'))")
        browser.close()
    assert not failures, "\n".join(failures)
    assert any("notebooks/01_patching.html" in href for href in found["patch"]), found["patch"]
    assert any("notebooks/zh/03_attention.html" in href for href in found["注意力"]), found["注意力"]
    assert not [url for url in remote if "colab" not in url and "github" not in url], remote
