"""Sphinx configuration of the course's static site: `make site` -> build/site/index.html.

    sphinx-build -b html -c docs/site . build/site

The source folder is the repository itself; only the files in `include_patterns` are read. The
committed notebooks are rendered with their stored outputs (myst-nb, `nb_execution_mode = "off"`):
nothing is executed. Everything the pages need is installed by pip, so the site builds offline: the
theme (sphinx-book-theme) and MathJax (sphinx-mathjax-offline, instead of MathJax from a CDN).
A widget's stored output carries a still picture next to the widget; the site shows the picture
(widgets need a running kernel to be useful, and their JavaScript would come from a CDN).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from set_repository import repositories  # noqa: E402  (the GitHub repository the Colab links name)

project = "The Vision Transformer, step by step"
author = "the vit-course authors"
language = "en"
# Search both editions: jieba splits the Chinese text into words; English words are stemmed as usual.
html_search_language = "zh"

extensions = ["myst_nb", "sphinx-mathjax-offline"]
root_doc = "README"
include_patterns = [
    "README.md",
    "notebooks/[0-9][0-9]_*.ipynb",
    "notebooks/zh/[0-9][0-9]_*.ipynb",
    "docs/glossary.md",
    "docs/claims.md",
    "data/README.md",
]
exclude_patterns = ["build", ".venv", ".venv-colab"]

# Notebooks: stored outputs only; a widget's still picture instead of the widget.
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

(SLUG,) = sorted(repositories()) or ["vit-course/vit-course"]
html_theme = "sphinx_book_theme"
html_title = "ViT, step by step · ViT 逐步讲解"
html_theme_options = {
    "repository_url": f"https://github.com/{SLUG}",
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    "article_header_end": ["language-switch.html", "article-header-buttons.html"],
    "show_toc_level": 2,
}
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_additional_pages = {"index": "redirect.html"}  # build/site/index.html opens the home page

ENGLISH_NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TOCTREE = """

```{{toctree}}
:hidden:
:caption: {caption}

{entries}
```
"""


def add_navigation(app, docname: str, source: list[str]) -> None:
    """The home page (README.md) lists both editions and the glossary in the sidebar (README.md has no toctree)."""
    if docname != root_doc:
        return
    english = "\n".join(f"notebooks/{stem}" for stem in ENGLISH_NOTEBOOKS)
    chinese = "\n".join(f"notebooks/zh/{stem}" for stem in ENGLISH_NOTEBOOKS)
    source[0] += TOCTREE.format(caption="Notebooks (English)", entries=english)
    source[0] += TOCTREE.format(caption="笔记本（中文版）", entries=chinese)
    source[0] += TOCTREE.format(caption="Reference · 参考", entries="docs/glossary\ndocs/claims\ndata/README")


def language_switch(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Every notebook page links to the same notebook in the other language (`language-switch.html`)."""
    parts = pagename.split("/")
    if parts[0] != "notebooks":
        return
    if parts[1] == "zh":
        context["other_language"] = ("English", app.builder.get_relative_uri(pagename, "notebooks/" + parts[2]))
        context["page_language"] = "zh-CN"
    else:
        context["other_language"] = ("中文", app.builder.get_relative_uri(pagename, "notebooks/zh/" + parts[1]))
        context["page_language"] = "en"


def chinese_and_english_search():
    """Sphinx's Chinese search (jieba for the Chinese words, the English stemmer for the Latin ones). Its page
    script names a `ChineseStemmer` that the JavaScript it ships does not define (Sphinx 9.0), so the search page
    stops with an error; the stemmer it ships is the English one, named here."""
    from sphinx.search.zh import SearchChinese

    class ChineseAndEnglishSearch(SearchChinese):
        language_name = "English"  # -> `window.Stemmer = EnglishStemmer;` in language_data.js

    return ChineseAndEnglishSearch


def setup(app):
    app.add_search_language(chinese_and_english_search())
    app.set_html_assets_policy("always")  # MathJax on every page: the sidebar's titles have math too
    app.connect("source-read", add_navigation)
    app.connect("html-page-context", language_switch)
