"""The student edition of the notebooks: the "Your turn" stubs without their reference solutions.

    python tools/student_edition.py [--location OWNER/NAME/BRANCH/PATH] [--out build/student]
    (or: make student [STUDENT_LOCATION=OWNER/NAME/BRANCH/PATH])

writes OUT/notebooks/NN_*.ipynb, the Chinese edition OUT/notebooks/zh/NN_*.ipynb (from notebooks/zh/, whose
code cells are the English ones, so the same checkers grade both) and OUT/README.md. In each notebook:
  * every cell tagged `solution` (the collapsed reference solution) is removed; where a later cell calls
    the exercise's function, one line takes its place, `fn = until_written(fn)`
    (vitlib.course.stand_ins), so the notebook still runs top to bottom before any answer is written:
    those cells say in one line that they use vitlib's version until the student's is written;
  * the stubs stay, with their outputs cleared; the sentence pointing at the hidden solution goes (in English
    and in Chinese);
  * the install cell (`pip install "vitlib @ git+https://github.com/OWNER/NAME"`) names the repository
    of LOCATION, and OUT/README.md has an "Open in Colab" badge per notebook pointing at
    LOCATION/NN_*.ipynb; everything else (figures, text, other outputs) stays as committed.

LOCATION is where the student copies will be published on GitHub, OWNER/NAME/BRANCH/PATH. The default
is the course repository (the one tools/set_repository.py sets), branch main, folder student/notebooks:
copy OUT/ to student/ there. The repository of LOCATION must hold vitlib as well (the install cell
installs it from there).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

from course_exercises import NOTEBOOKS, ROOT, cell_source, course_notebooks, find_exercises, is_solution
from set_repository import INSTALL, repositories

# The sentence that points at the hidden reference solution, in English and in the Chinese edition
HIDDEN_SOLUTION = re.compile(r"\s*The reference solution is in the hidden\s+cell(?:[^.(]|\([^)]*\))*\."
                             r"|参考答案在[^。]*隐藏单元[^。]*。")
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def default_location() -> str:
    slugs = repositories()
    if len(slugs) != 1:
        raise SystemExit(f"the notebooks and README name {sorted(slugs)}; run tools/set_repository.py OWNER/NAME "
                         "first, or give --location OWNER/NAME/BRANCH/PATH")
    return f"{slugs.pop()}/main/student/notebooks"


def parse_location(location: str) -> tuple[str, str, str]:
    """OWNER/NAME/BRANCH/PATH -> (slug, branch, path)."""
    parts = location.strip("/").split("/")
    if len(parts) < 3 or not all(re.fullmatch(r"[\w.-]+", part) for part in parts):
        raise SystemExit(f"expected the student copies' place on GitHub as OWNER/NAME/BRANCH/PATH "
                         f"(e.g. my-school/vit-course/main/student/notebooks), got {location!r}")
    return "/".join(parts[:2]), parts[2], "/".join(parts[3:])


def stand_in_cell(solution: dict, function: str) -> dict:
    """The cell that replaces a reference solution whose function later cells call."""
    source = (f"# Until you write `{function}` above, the cells below use vitlib's version of it (and say so).\n"
              "from vitlib.course.stand_ins import until_written\n\n"
              f"{function} = until_written({function})")
    cell = {"cell_type": "code", "execution_count": None, "metadata": {"tags": ["stand-in"]}, "outputs": [],
            "source": source.splitlines(keepends=True)}
    if "id" in solution:
        cell["id"] = solution["id"]
    return cell


def student_notebook(nb: dict, exercises: list, slug: str) -> dict:
    """The student edition of notebook `nb` (parsed JSON) whose exercises are `exercises`."""
    nb = copy.deepcopy(nb)
    stubs = {e.stub for e in exercises}
    stand_ins = {e.solution: e.function for e in exercises if e.used_after and e.solution is not None}
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if i in stand_ins:
            cells.append(stand_in_cell(cell, stand_ins[i]))
            continue
        if is_solution(cell):
            continue
        if i in stubs:
            cell["outputs"], cell["execution_count"] = [], None
        elif cell["cell_type"] == "markdown":
            source = HIDDEN_SOLUTION.sub("", cell_source(cell))
            if source != cell_source(cell):
                cell["source"] = source.splitlines(keepends=True)
        elif cell["cell_type"] == "code":
            source = INSTALL.sub(f"git+https://github.com/{slug}", cell_source(cell))
            if source != cell_source(cell):
                cell["source"] = source.splitlines(keepends=True)
        cells.append(cell)
    nb["cells"] = cells
    return nb


def readme(names: list[str], slug: str, branch: str, path: str, chinese: list[str] = ()) -> str:
    """OUT/README.md: what the edition is, a Colab badge per notebook (and per Chinese one), how to hand in."""
    folder = f"{path}/" if path else ""
    rows = [f"| {name[:2]} | [{name[3:].replace('_', ' ')}](notebooks/{name}.ipynb) | "
            f"[![Open in Colab]({BADGE})](https://colab.research.google.com/github/{slug}/blob/{branch}/{folder}"
            f"{name}.ipynb) |" for name in names]
    rows_zh = [f"| {name[:2]} | [{name[3:].replace('_', ' ')}](notebooks/zh/{name}.ipynb) | "
               f"[![Open in Colab]({BADGE})](https://colab.research.google.com/github/{slug}/blob/{branch}/{folder}"
               f"zh/{name}.ipynb) |" for name in chinese]
    zh_section = ["## 中文版 (the Chinese edition)", "",
                  "同样的练习，中文说明；检查器的提示为英文。提交方式相同。", "",
                  "| # | 笔记本 | Colab |", "|---|---|---|", *rows_zh, ""] if rows_zh else []
    return "\n".join([
        "# The Vision Transformer: student edition", "",
        "The course notebooks with every \"Your turn\" exercise left for you: write the function where it says",
        "`raise NotImplementedError` and run the cell; its checker says whether it is right and, if not, what is",
        "wrong. Cells further down that use your function run with vitlib's version until yours is written.", "",
        "| # | notebook | Colab |", "|---|---|---|", *rows, "",
        "**Hand in** the notebook as a file: in Colab *File > Download > Download .ipynb*, in JupyterLab",
        "*File > Download*. Run it top to bottom first; it is graded by running it again with the same checkers.", "",
        *zh_section,
    ])


def write_edition(out: Path, location: str, notebooks: list[Path] | None = None) -> list[Path]:
    """Write the student edition to `out`; -> the notebooks written."""
    slug, branch, path = parse_location(location)
    chinese = course_notebooks(NOTEBOOKS / "zh") if notebooks is None else []
    notebooks = course_notebooks(NOTEBOOKS) if notebooks is None else notebooks
    if not notebooks:
        raise SystemExit(f"no notebooks NN_*.ipynb in {NOTEBOOKS}")
    written = []
    for folder, sources in ((out / "notebooks", notebooks), (out / "notebooks" / "zh", chinese)):
        for source in sources:
            folder.mkdir(parents=True, exist_ok=True)
            nb = json.loads(source.read_text(encoding="utf-8"))
            edition = student_notebook(nb, find_exercises(source), slug)
            target = folder / source.name
            target.write_text(json.dumps(edition, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(target)
    text = readme([p.stem for p in notebooks], slug, branch, path, [p.stem for p in chinese])
    (out / "README.md").write_text(text, encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--location", default=None,
                        help="OWNER/NAME/BRANCH/PATH of the student copies on GitHub "
                             "(default: the course repository, main, student/notebooks)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = parser.parse_args(argv)
    for path in write_edition(args.out, args.location or default_location()):
        print("wrote", path)
    print("wrote", args.out / "README.md")


if __name__ == "__main__":
    main()
