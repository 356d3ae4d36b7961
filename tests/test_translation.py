"""The Chinese edition (notebooks/zh/) is current: generated from the English notebooks and translations/zh/.

A markdown cell of an English notebook without a translation, or changed after it was translated
(stale), fails here; so does a committed Chinese notebook that differs from what
`python tools/translate.py build` writes (its code cells and outputs are the English ones), and a
relative link in either edition that points nowhere.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import translate  # noqa: E402

ENGLISH = translate.english_notebooks()
CJK = re.compile(r"[\u4e00-\u9fff]")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def markdown_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown"]


def test_every_notebook_has_a_chinese_edition():
    assert len(ENGLISH) >= 10
    assert sorted(p.name for p in (ROOT / "notebooks" / "zh").glob("[0-9][0-9]_*.ipynb")) == [p.name for p in ENGLISH]


@pytest.mark.parametrize("notebook", ENGLISH, ids=lambda p: p.stem)
def test_every_markdown_cell_has_a_current_translation(notebook):
    found = translate.problems(notebook)
    assert not found["missing"], (f"cells without Chinese text: {found['missing']}; "
                                  f"`python tools/translate.py todo {notebook.name[:2]}` lists them")
    assert not found["stale"], (f"cells changed after their translation: {found['stale']}; "
                                f"`python tools/translate.py todo {notebook.name[:2]}` shows the new English")
    assert not found["orphan"], f"catalogue entries for cells the notebook no longer has: {found['orphan']}"


@pytest.mark.parametrize("notebook", ENGLISH, ids=lambda p: p.stem)
def test_committed_chinese_notebook_is_the_generated_one(notebook):
    committed = (ROOT / "notebooks" / "zh" / notebook.name).read_text(encoding="utf-8")
    assert committed == translate.dumps(translate.chinese_notebook(notebook)), (
        f"notebooks/zh/{notebook.name} is not what the English notebook and its catalogue give: "
        "run `python tools/translate.py build`")


@pytest.mark.parametrize("notebook", ENGLISH, ids=lambda p: p.stem)
def test_chinese_code_cells_and_outputs_equal_the_english(notebook):
    english = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    chinese = json.loads((ROOT / "notebooks" / "zh" / notebook.name).read_text(encoding="utf-8"))["cells"]
    assert [c["id"] for c in chinese] == [c["id"] for c in english]
    for en, zh in zip(english, chinese):
        assert zh["cell_type"] == en["cell_type"]
        if en["cell_type"] == "code":
            assert (zh["source"], zh["outputs"], zh["metadata"]) == (en["source"], en["outputs"], en["metadata"])


@pytest.mark.parametrize("notebook", ENGLISH, ids=lambda p: p.stem)
def test_chinese_markdown_is_chinese(notebook):
    """Every translated cell has Chinese in it where the English cell has words (no English copied over)."""
    english = markdown_cells(notebook)
    chinese = markdown_cells(ROOT / "notebooks" / "zh" / notebook.name)
    untranslated = [en["id"] for en, zh in zip(english, chinese)
                    if re.search(r"[A-Za-z]{4,}\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}", translate.cell_text(en))
                    and not CJK.search(translate.cell_text(zh))]
    assert not untranslated, f"cells of notebooks/zh/{notebook.name} with no Chinese: {untranslated}"


@pytest.mark.parametrize("folder", ["", "zh"])
def test_relative_links_resolve_in_both_editions(folder):
    base = ROOT / "notebooks" / folder
    broken = []
    for notebook in sorted(base.glob("[0-9][0-9]_*.ipynb")):
        for cell in markdown_cells(notebook):
            for match in LINK_TARGET.finditer(translate.cell_text(cell)):
                target = (match.group(1) or match.group(2)).split("#")[0]
                if target and not re.match(r"^[a-z][a-z0-9+.-]*:|^/", target) and not (base / target).exists():
                    broken.append(f"{notebook.name} cell {cell['id']}: {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize("notebook", ENGLISH, ids=lambda p: p.stem)
def test_both_editions_link_the_glossary_and_each_other(notebook):
    english_first = translate.cell_text(markdown_cells(notebook)[0])
    chinese_first = translate.cell_text(markdown_cells(ROOT / "notebooks" / "zh" / notebook.name)[0])
    assert "../docs/glossary.md" in english_first and f"zh/{notebook.name}" in english_first
    assert "../../docs/glossary.md" in chinese_first and f"../{notebook.name}" in chinese_first


def test_readme_points_to_the_chinese_edition_and_the_glossary():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/glossary.md" in readme
    for notebook in ENGLISH:
        assert f"notebooks/zh/{notebook.name}" in readme, f"README links no Chinese edition of {notebook.name}"
        assert f"/blob/main/notebooks/zh/{notebook.name}" in readme, f"README has no Colab badge for zh/{notebook.name}"


# --- the machinery, on notebooks and catalogues the tests write ----------------------------------------------


def _notebook(tmp_path: Path, texts: list[str]) -> Path:
    cells = [{"cell_type": "markdown", "id": f"md{i}", "metadata": {}, "source": text} for i, text in enumerate(texts)]
    cells.append({"cell_type": "code", "id": "code0", "metadata": {}, "execution_count": 1, "source": "1 + 1",
                  "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                               "data": {"text/plain": "2"}}]})
    path = tmp_path / "05_demo.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _catalogue(tmp_path: Path, entries: dict[str, tuple[str, str]]) -> Path:
    path = tmp_path / "05_demo.md"
    path.write_text("".join(f"<!-- cell {cell_id} en={translate.text_hash(english)} -->\n{zh}\n\n"
                            for cell_id, (english, zh) in entries.items()), encoding="utf-8")
    return path


def test_a_changed_english_cell_makes_its_translation_stale(tmp_path):
    notebook = _notebook(tmp_path, ["# Training", "We train a ViT."])
    catalogue = _catalogue(tmp_path, {"md0": ("# Training", "# 训练"),
                                      "md1": ("We train a ViT.", "我们训练一个 ViT。")})
    assert translate.problems(notebook, catalogue) == {"missing": [], "stale": [], "orphan": []}
    zh = translate.chinese_notebook(notebook, catalogue)
    assert [translate.cell_text(c) for c in zh["cells"][:2]] == ["# 训练", "我们训练一个 ViT。"]
    assert zh["cells"][2] == json.loads(notebook.read_text())["cells"][2]  # the code cell, outputs and all

    nb = json.loads(notebook.read_text())
    nb["cells"][1]["source"] = "We train a small ViT."
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "new", "metadata": {}, "source": "A new cell."})
    notebook.write_text(json.dumps(nb))
    assert translate.problems(notebook, catalogue) == {"missing": ["new"], "stale": ["md1"], "orphan": []}
    with pytest.raises(ValueError, match=r"1 markdown cells have no Chinese text and 1 changed"):
        translate.chinese_notebook(notebook, catalogue)


def test_the_real_catalogue_goes_stale_when_an_english_cell_changes(tmp_path):
    notebook = tmp_path / ENGLISH[0].name
    shutil.copy(ENGLISH[0], notebook)
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    first["source"] = translate.cell_text(first) + " One more sentence."
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    assert translate.problems(notebook, translate.catalogue_path(ENGLISH[0]))["stale"] == [first["id"]]


def test_a_catalogue_with_a_repeated_cell_or_stray_text_is_refused(tmp_path):
    repeated = tmp_path / "a.md"
    repeated.write_text("<!-- cell x en=000000000000 -->\n一\n<!-- cell x en=000000000000 -->\n二\n")
    with pytest.raises(ValueError, match="cell x has two entries"):
        translate.read_catalogue(repeated)
    stray = tmp_path / "b.md"
    stray.write_text("some notes\n<!-- cell x en=000000000000 -->\n一\n")
    with pytest.raises(ValueError, match="text before the first"):
        translate.read_catalogue(stray)


def test_links_are_rewritten_for_the_zh_folder():
    names = {p.name for p in ENGLISH}
    text = ("[05](05_training.ipynb) [English](../05_training.ipynb#goal) [data](../data/README.md) "
            "[paper](https://arxiv.org/abs/2010.11929) [above](#goal) <img src=\"../docs/claims.md\">")
    assert translate.relink(text, names) == (
        "[05](05_training.ipynb) [English](../05_training.ipynb#goal) [data](../../data/README.md) "
        "[paper](https://arxiv.org/abs/2010.11929) [above](#goal) <img src=\"../../docs/claims.md\">")
