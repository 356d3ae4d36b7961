"""The student edition (tools/student_edition.py) and the grader (tools/grade.py), end to end.

The edition is checked cell by cell against the committed notebooks (cheap). The grader runs once, on a
folder like one an instructor collects: notebook 01's student edition with one wrong answer, a notebook
whose exercise never returns, one that is no course notebook and a file that is no notebook. The real
notebooks, all of them, are graded by hand (README, "For instructors"); that takes minutes.
"""

import csv
import hashlib
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import grade  # noqa: E402
from course_exercises import cell_source, course_notebooks, find_exercises, is_solution  # noqa: E402
from run_submission import Limits  # noqa: E402
from student_edition import write_edition  # noqa: E402


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    write_edition(out, "a-school/vit-2027/spring/student/notebooks")
    return out


@pytest.mark.parametrize("language", ["", "zh"])
def test_the_student_edition_has_the_stubs_without_the_solutions(edition, language):
    sources = course_notebooks(ROOT / "notebooks" / language)
    assert len(sources) == len(course_notebooks())
    for source in sources:
        committed = json.loads(source.read_text(encoding="utf-8"))["cells"]
        student = json.loads((edition / "notebooks" / language / source.name).read_text(encoding="utf-8"))["cells"]
        exercises = find_exercises(source)
        assert not any(is_solution(c) for c in student)
        stand_ins = [c for c in student if "stand-in" in c["metadata"].get("tags", [])]
        assert [cell_source(c).splitlines()[-1] for c in stand_ins] == [
            f"{e.function} = until_written({e.function})" for e in exercises if e.used_after]
        kept = [c for c in committed if not is_solution(c)]
        assert len(student) == len(kept) + len(stand_ins)
        by_id = {c["id"]: c for c in student}
        for e in exercises:
            stub = by_id[committed[e.stub]["id"]]
            assert cell_source(stub) == cell_source(committed[e.stub]) and stub["outputs"] == []
        others = [c for c in kept if c["id"] not in {committed[e.stub]["id"] for e in exercises}]
        assert [c.get("outputs") for c in others] == [by_id[c["id"]].get("outputs") for c in others]
        text = json.dumps(student, ensure_ascii=False)
        assert "git+https://github.com/a-school/vit-2027" in text
        assert "reference solution is in the hidden" not in text and "隐藏单元" not in text


def test_the_student_editions_readme_opens_the_student_copies_in_colab(edition):
    readme = (edition / "README.md").read_text(encoding="utf-8")
    for source in course_notebooks():
        assert (f"https://colab.research.google.com/github/a-school/vit-2027/blob/spring/student/notebooks/"
                f"{source.name}") in readme
        assert (f"https://colab.research.google.com/github/a-school/vit-2027/blob/spring/student/notebooks/zh/"
                f"{source.name}") in readme


def test_a_bad_location_is_named():
    with pytest.raises(SystemExit, match="expected the student copies' place on GitHub as OWNER/NAME/BRANCH/PATH"):
        write_edition(Path("unused"), "just-a-name")


def _notebook(*sources: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    return nbformat.writes(nb)


def _recording_runs(monkeypatch) -> list:
    """The grader's runs, kept for the test to look at (cell errors, how each run ended)."""
    runs, run = [], grade.run_notebook
    monkeypatch.setattr(grade, "run_notebook", lambda nb, limits: runs.append(run(nb, limits)) or runs[-1])
    return runs


def _fingerprints(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.name != "grades.csv"}


def _grades(out: Path) -> dict:
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == grade.COLUMNS
    return {(r["submission"], r["exercise"]): (r["status"], r["message"]) for r in rows}


def test_grading_a_folder_of_submissions(edition, tmp_path, monkeypatch):
    student = json.loads((edition / "notebooks" / "01_patching.ipynb").read_text())
    (stub,) = [c for c in student["cells"] if "def conv_weight_to_E" in cell_source(c)]
    stub["source"] = ('def conv_weight_to_E(weight):\n    return rearrange(weight, "d c p1 p2 -> d (p1 p2 c)")\n\n\n'
                      "_ = nb01.check_conv_weight_to_E(conv_weight_to_E)\n")
    (tmp_path / "Copy of 01_patching.ipynb").write_text(json.dumps(student))
    (tmp_path / "notes.ipynb").write_text(_notebook("print('my own notes')"))
    (tmp_path / "half.ipynb").write_text('{"cells": [')
    before, runs = _fingerprints(tmp_path), _recording_runs(monkeypatch)

    got = _grades(grade.grade_folder(tmp_path, Limits(cell=120, notebook=300), log=lambda line: None))

    assert len(got) == 4
    assert got[("Copy of 01_patching.ipynb", "my_patchify")][0] == "not attempted"
    status, message = got[("Copy of 01_patching.ipynb", "conv_weight_to_E")]
    assert status == "failed" and message.startswith("conv_weight_to_E(weight of shape (5, 3, 2, 2)) has shape (5, 12)")
    assert got[("notes.ipynb", "")][0] == "error" and "not one of the course notebooks" in got[("notes.ipynb", "")][1]
    assert got[("half.ipynb", "")][0] == "error" and "not a readable Jupyter notebook" in got[("half.ipynb", "")][1]
    (errors,) = [run.errors for run in runs]  # the edition ran top to bottom; the one error is the wrong answer
    assert list(errors.values()) == ["ExerciseError: " + message]
    assert _fingerprints(tmp_path) == before  # the submissions are only read


def test_an_endless_loop_times_out_and_the_next_submission_is_still_graded(tmp_path):
    setup = "from vitlib.course import nb00_introduction as nb00"
    answer = "def num_patches(image_size, patch_size):\n    {body}\n\n\n_ = nb00.check_num_patches(num_patches)"
    (tmp_path / "a_endless.ipynb").write_text(_notebook(setup, answer.format(body="while True:\n        pass")))
    right = answer.format(body="return (image_size // patch_size) ** 2")
    (tmp_path / "b_right.ipynb").write_text(_notebook(setup, right))

    got = _grades(grade.grade_folder(tmp_path, Limits(cell=10, notebook=120), log=lambda line: None))

    assert got[("a_endless.ipynb", "num_patches")] == (
        "timed out", "stopped while its cell ran: cell 2 ran past the time limit of 10 s per cell")
    assert got[("b_right.ipynb", "num_patches")][0] == "passed"
    psutil = pytest.importorskip("psutil")  # installed with ipykernel
    kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
    assert not kernels, "a kernel outlived its submission"


def test_a_folder_without_notebooks_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"no \.ipynb files in .*: put the students' notebooks there"):
        grade.grade_folder(tmp_path)
    with pytest.raises(SystemExit, match="is not a folder"):
        grade.grade_folder(tmp_path / "missing")
