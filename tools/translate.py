"""The Chinese edition: notebooks/zh/ is generated from the English notebooks and a translation catalogue.

    python tools/translate.py status        # every notebook: markdown cells translated, missing, stale
    python tools/translate.py todo 05       # the missing or stale cells of notebook 05, as catalogue entries
    python tools/translate.py build         # write notebooks/zh/NN_*.ipynb (refuses while a cell is untranslated)

The English notebooks are the one source of truth. The catalogue `translations/zh/NN_<name>.md` holds
one entry per English markdown cell, keyed by the cell's id:

    <!-- cell a23416e4 en=3f9c2d1a7b60 -->
    (the cell in Chinese, as markdown)

`en=` is the first 12 hex digits of the sha256 of the English cell's text when it was translated. An
entry whose English cell has since changed is *stale*; `todo` prints it again, with the new English.
`build` copies every code cell, with its outputs, from the English notebook (so the Chinese edition
needs no second execution) and takes each markdown cell from the catalogue. Relative links are kept
where they resolve from notebooks/zh/ (a sibling notebook is the Chinese edition of it) and get a
`../` where they only resolve from notebooks/ (../data/README.md -> ../../data/README.md).

tests/test_translation.py fails when a cell is missing or stale, when a committed Chinese notebook
differs from what `build` writes, and when a link in either edition points nowhere.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "notebooks"
CHINESE = ROOT / "notebooks" / "zh"
CATALOGUE = ROOT / "translations" / "zh"

HEADER = re.compile(r"^<!-- cell (\S+) en=([0-9a-f]{12}) -->$")
# [text](target) and ![alt](target); <img src="target">
LINK = re.compile(r"(\]\()([^)\s]+)(\))|(<img [^>]*src=\")([^\"]+)(\")")


@dataclass
class Entry:
    cell_id: str
    english_hash: str
    text: str


def english_notebooks(folder: Path = ENGLISH) -> list[Path]:
    """notebooks/NN_*.ipynb, in order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def cell_text(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def text_hash(text: str) -> str:
    """The first 12 hex digits of the sha256 of a cell's text (the catalogue's `en=`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def read_catalogue(path: Path) -> dict[str, Entry]:
    """A catalogue file -> {cell id: Entry}. Raises ValueError on text before the first entry or a repeated id."""
    entries: dict[str, Entry] = {}
    if not path.exists():
        return entries
    current: Entry | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            current.text = "\n".join(lines).strip("\n")
            entries[current.cell_id] = current

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = HEADER.match(line)
        if match:
            close()
            if match.group(1) in entries:
                raise ValueError(f"{path.name}:{number}: cell {match.group(1)} has two entries; keep one")
            current, lines = Entry(match.group(1), match.group(2), ""), []
        elif current is None:
            if line.strip():
                raise ValueError(f"{path.name}:{number}: text before the first `<!-- cell ID en=HASH -->` line")
        else:
            lines.append(line)
    close()
    return entries


def shown(path: Path) -> str:
    """A path as the messages show it: relative to the repository where it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def catalogue_path(notebook: Path) -> Path:
    return CATALOGUE / (notebook.stem + ".md")


def problems(notebook: Path, catalogue: Path | None = None) -> dict[str, list[str]]:
    """{"missing": [cell ids], "stale": [cell ids], "orphan": [ids of entries with no English cell]}."""
    entries = read_catalogue(catalogue or catalogue_path(notebook))
    cells = [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "markdown"]
    found = {"missing": [], "stale": [], "orphan": []}
    for cell in cells:
        entry = entries.get(cell["id"])
        if entry is None or not entry.text.strip():
            found["missing"].append(cell["id"])
        elif entry.english_hash != text_hash(cell_text(cell)):
            found["stale"].append(cell["id"])
    ids = {cell["id"] for cell in cells}
    found["orphan"] = [cell_id for cell_id in entries if cell_id not in ids]
    return found


def relink(text: str, english_names: set[str]) -> str:
    """Relative links written for notebooks/ made to work from notebooks/zh/ (see the module docstring)."""

    def fix(target: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return target  # a URL, an anchor on the page, or an absolute path
        path = target.split("#")[0]
        if not path or path in english_names or (CHINESE / path).exists():
            return target  # a sibling: its Chinese edition
        if (ENGLISH / path).exists():
            return "../" + target
        return target  # points nowhere from either folder: tests/test_translation.py reports it

    def swap(match: re.Match) -> str:
        if match.group(1):
            return match.group(1) + fix(match.group(2)) + match.group(3)
        return match.group(4) + fix(match.group(5)) + match.group(6)

    return LINK.sub(swap, text)


def chinese_notebook(notebook: Path, catalogue: Path | None = None, allow_missing: bool = False) -> dict:
    """The Chinese edition of an English notebook, as a notebook dict (nothing is written)."""
    english = json.loads(notebook.read_text(encoding="utf-8"))
    found = problems(notebook, catalogue)
    if (found["missing"] or found["stale"]) and not allow_missing:
        raise ValueError(f"{notebook.name}: {len(found['missing'])} markdown cells have no Chinese text and "
                         f"{len(found['stale'])} changed after their translation "
                         f"({found['missing'] + found['stale']}); "
                         f"run `python tools/translate.py todo {notebook.name[:2]}` and fill them in "
                         f"{shown(catalogue or catalogue_path(notebook))}")
    entries = read_catalogue(catalogue or catalogue_path(notebook))
    names = {path.name for path in english_notebooks(notebook.parent)}
    zh = copy.deepcopy(english)
    for cell in zh["cells"]:
        if cell["cell_type"] == "markdown" and cell["id"] in entries and entries[cell["id"]].text.strip():
            cell["source"] = relink(entries[cell["id"]].text, names)
    zh["metadata"]["vitlib_edition"] = {"language": "zh-CN", "translation_of": "../" + notebook.name}
    return zh


def dumps(notebook: dict) -> str:
    """A notebook as Jupyter writes it (indent 1, non-ASCII kept, newline at the end)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def build(allow_missing: bool = False) -> list[Path]:
    """Write notebooks/zh/ from the English notebooks and the catalogue; -> the files written or changed."""
    CHINESE.mkdir(exist_ok=True)
    changed = []
    for notebook in english_notebooks():
        target = CHINESE / notebook.name
        text = dumps(chinese_notebook(notebook, allow_missing=allow_missing))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(target)
    return changed


def find(number: str) -> Path:
    matches = [path for path in english_notebooks() if path.name.startswith(number.zfill(2) + "_")]
    if not matches:
        raise SystemExit(f"no notebook numbered {number!r} in notebooks/")
    return matches[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="cells translated, missing and stale, per notebook")
    todo = sub.add_parser("todo", help="the missing and stale cells of one notebook, with their English text")
    todo.add_argument("number", help="the notebook's number, e.g. 05")
    make = sub.add_parser("build", help="write notebooks/zh/")
    make.add_argument("--allow-missing", action="store_true", help="keep the English text of untranslated cells")
    args = parser.parse_args(argv)

    if args.command == "status":
        incomplete = 0
        for notebook in english_notebooks():
            found = problems(notebook)
            total = sum(c["cell_type"] == "markdown" for c in json.loads(notebook.read_text())["cells"])
            done = total - len(found["missing"]) - len(found["stale"])
            incomplete += done < total
            print(f"{notebook.name:45s} {done:3d}/{total:<3d} translated, {len(found['missing'])} missing, "
                  f"{len(found['stale'])} stale, {len(found['orphan'])} orphan entries")
        return 1 if incomplete else 0
    if args.command == "todo":
        notebook = find(args.number)
        found = problems(notebook)
        todo_ids = set(found["missing"] + found["stale"])
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        print(f"# {len(todo_ids)} cells of {notebook.name} to translate into {shown(catalogue_path(notebook))}")
        for cell in cells:
            if cell["cell_type"] == "markdown" and cell["id"] in todo_ids:
                text = cell_text(cell)
                state = "stale" if cell["id"] in found["stale"] else "missing"
                print(f"\n<!-- cell {cell['id']} en={text_hash(text)} -->   ({state}; English below)\n{text}")
        return 0
    for path in build(allow_missing=args.allow_missing):
        print("wrote", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
