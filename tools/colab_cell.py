"""The set-up block that opens every notebook's first code cell, written from one place.

    python tools/colab_cell.py        # rewrite that block in every notebook (the rest of the cell stays)

In Colab, and only there, the block installs vitlib into the runtime as it is: vitlib itself with
`--no-deps`, so pip upgrades nothing Colab already has (its torch, numpy, ipywidgets 7, ...), plus
the one runtime dependency Colab may lack (`COLAB_ADDS`). It prints one line saying so. Elsewhere it
does nothing. Colab's own widget support draws the built-in ipywidgets 7 widgets, the only ones the
course uses; Colab's optional CDN widget manager (`output.enable_custom_widget_manager()`) serves
third-party widgets and ipywidgets 8, so the block does not switch it on.

The repository slug in the block is the one `tools/set_repository.py` rewrites. Tests:
tests/test_notebooks.py checks that every notebook opens with exactly this block, and
tests/colab/ runs it (pointed at a freshly built wheel instead of GitHub) in a virtual
environment set up like a Colab runtime (tests/colab/colab-runtime.txt).
"""

from __future__ import annotations

import json
from pathlib import Path

from set_repository import ROOT, repositories

# vitlib's runtime dependencies that Colab does not preinstall, with pyproject.toml's bounds; pip
# installs each only if it is missing or older. Everything else vitlib needs, Colab has (the list
# in tests/colab/colab-runtime.txt; a test checks that the two together are pyproject's list).
COLAB_ADDS = ("einops>=0.7",)

TEMPLATE = '''\
# NBVAL_IGNORE_OUTPUT
# Setup. In Colab this installs vitlib next to Colab's own packages; elsewhere it only imports.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "vitlib @ git+https://github.com/{slug}", {adds}], check=True)
    print("Colab: installed vitlib; Colab's own torch, numpy and ipywidgets are left as they were")
'''


def setup_block(slug: str) -> str:
    """The opening of every first code cell, naming the GitHub repository `slug` (OWNER/NAME)."""
    return TEMPLATE.format(slug=slug, adds=", ".join(f'"{spec}"' for spec in COLAB_ADDS))


def current_block(source: str) -> str:
    """The set-up block at the top of a first cell's `source`: up to the end of the Colab guard."""
    lines = source.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith('if "google.colab" in sys.modules')]
    if not starts:
        raise ValueError('the first code cell has no `if "google.colab" in sys.modules:` guard; '
                         "add one by hand, then rerun tools/colab_cell.py")
    end = starts[0] + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    return "".join(lines[:end])


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def write_cells(slug: str) -> list[Path]:
    """Replace the set-up block of every notebook's first code cell; -> the notebooks changed."""
    changed = []
    for path in notebooks():
        nb = json.loads(path.read_text())
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
        source = "".join(cell["source"])
        new = setup_block(slug) + source[len(current_block(source)):]
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


if __name__ == "__main__":
    slugs = repositories()
    if len(slugs) != 1:
        raise SystemExit(f"the notebooks and README name {sorted(slugs)}; run tools/set_repository.py OWNER/NAME first")
    for path in write_cells(slugs.pop()):
        print("updated", path.relative_to(ROOT))
