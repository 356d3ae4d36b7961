"""Point the Colab links at the GitHub repository that hosts this series.

    python tools/set_repository.py OWNER/NAME [--branch main]

Rewrites, in one go, the places that name the repository:
  * the first cell of every notebook, English and Chinese (notebooks/zh/), which in Colab runs `pip install ... "vitlib @ git+https://github.com/OWNER/NAME"`
    (the block tools/colab_cell.py writes);
  * README.md's own install line and the "Open in Colab" badges of its notebook table
    (https://colab.research.google.com/github/OWNER/NAME/blob/BRANCH/notebooks/XX.ipynb).
Only the repository slug (and branch) changes; outputs and everything else stay byte for byte.
tests/test_notebooks.py checks that all of them name the same repository.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r"git\+https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[\"'\\])")
BADGE = re.compile(r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w./-]+?)/notebooks/")


def notebooks() -> list[Path]:
    """The English notebooks and their Chinese editions (whose code cells are the English ones)."""
    english = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return english + sorted((ROOT / "notebooks" / "zh").glob("[0-9][0-9]_*.ipynb"))


def repositories() -> set[str]:
    """Every repository slug named by a notebook's install cell, README's install line or a README badge."""
    found = set()
    for nb in notebooks():
        found.update(INSTALL.findall(nb.read_text(encoding="utf-8")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found.update(INSTALL.findall(readme))
    found.update(slug for slug, _ in BADGE.findall(readme))
    return found


def set_repository(slug: str, branch: str = "main") -> list[Path]:
    """Rewrite the slug everywhere; -> the files changed."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", slug):
        raise SystemExit(f"expected OWNER/NAME (e.g. my-school/vit-course), got {slug!r}")
    changed = []
    for path in notebooks() + [ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        new = INSTALL.sub(f"git+https://github.com/{slug}", text)
        new = BADGE.sub(f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/", new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slug", help="OWNER/NAME of the GitHub repository")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args()
    for path in set_repository(args.slug, args.branch):
        print("updated", path.relative_to(ROOT))
    print("repositories named now:", sorted(repositories()))
