"""The checkers tell right from wrong, for every exercise of every notebook.

The exercises are read from the committed notebooks (tools/course_exercises.py). For each: the reference
solution (its collapsed `solution` cell) passes, the untouched stub is "not attempted", and every typical
wrong answer in tests/course/wrong_answers/nbNN.py fails with the message naming its mistake, at least
three per exercise with different messages. Each call goes through `@checker`, so the verdict the
grader would record is checked too. Cheap: the checkers run in this process on small inputs.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from course_exercises import cell_source, course_notebooks, definitions, find_exercises, is_solution  # noqa: E402

from vitlib.course.exercise import VERDICTS_ENV, ExerciseError  # noqa: E402
from vitlib.course.stand_ins import STAND_INS, until_written  # noqa: E402

EXERCISES = [e for nb in course_notebooks() for e in find_exercises(nb)]
WRONG = Path(__file__).parent / "wrong_answers"


def _wrong_answers() -> list[dict]:
    answers = []
    for path in sorted(WRONG.glob("nb[0-9][0-9].py")):
        spec = importlib.util.spec_from_file_location(f"wrong_answers_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        answers += [{**answer, "notebook": path.stem[2:]} for answer in module.WRONG_ANSWERS]
    return answers


WRONG_ANSWERS = _wrong_answers()


_NAMESPACES = {}


def namespace_at(exercise) -> dict:
    """The names a notebook has when the student reaches `exercise`: the imports and functions of the cells
    above it (reference solutions included, stubs and other code left out)."""
    key = (exercise.notebook, exercise.stub)
    if key not in _NAMESPACES:
        cells = json.loads((ROOT / "notebooks" / f"{exercise.notebook}.ipynb").read_text())["cells"]
        namespace = {}
        for cell in cells[:exercise.stub + 1]:
            if cell["cell_type"] == "code":
                source = cell_source(cell)
                stub = "NotImplementedError" in source and not is_solution(cell)
                exec(definitions(source, functions=not stub), namespace)
        _NAMESPACES[key] = namespace
    return dict(_NAMESPACES[key])


def define(exercise, source: str):
    """The function `exercise.function` as `source` defines it, in the notebook's namespace."""
    namespace = namespace_at(exercise)
    exec(source, namespace)
    return namespace[exercise.function]


def checker_of(exercise):
    return getattr(importlib.import_module(exercise.module), exercise.checker)


def cell_of(exercise, index) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{exercise.notebook}.ipynb").read_text())["cells"]
    return cell_source(cells[index])


def exercise_named(notebook: str, function: str):
    found = [e for e in EXERCISES if e.number == notebook and e.function == function]
    assert found, f"wrong_answers/nb{notebook}.py names {function!r}, which is no exercise of notebook {notebook}"
    return found[0]


def last_verdict(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[-1])


def test_every_notebook_has_its_exercises():
    assert len({e.notebook for e in EXERCISES}) == 10 and len(EXERCISES) >= 16
    assert all(e.solution is not None for e in EXERCISES), "every exercise has a reference solution"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: f"{e.number}-{e.function}")
def test_the_reference_solution_passes(exercise, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(VERDICTS_ENV, str(tmp_path / "verdicts.jsonl"))
    fn = define(exercise, definitions(cell_of(exercise, exercise.solution)))
    assert checker_of(exercise)(fn) is True
    said = capsys.readouterr().out
    assert last_verdict(tmp_path / "verdicts.jsonl") == {
        "checker": exercise.checker, "module": exercise.module, "status": "passed", "message": said.strip()}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: f"{e.number}-{e.function}")
def test_the_stub_is_not_attempted(exercise, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(VERDICTS_ENV, str(tmp_path / "verdicts.jsonl"))
    fn = define(exercise, definitions(cell_of(exercise, exercise.stub)))
    assert checker_of(exercise)(fn) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert last_verdict(tmp_path / "verdicts.jsonl")["status"] == "not attempted"


@pytest.mark.parametrize("answer", WRONG_ANSWERS, ids=lambda a: f"{a['notebook']}-{a['exercise']}-{a['says'][:30]}")
def test_a_typical_wrong_answer_fails_naming_its_mistake(answer, tmp_path, monkeypatch):
    monkeypatch.setenv(VERDICTS_ENV, str(tmp_path / "verdicts.jsonl"))
    exercise = exercise_named(answer["notebook"], answer["exercise"])
    with pytest.raises(ExerciseError) as caught:
        checker_of(exercise)(define(exercise, answer["code"]))
    assert answer["says"] in str(caught.value)
    assert last_verdict(tmp_path / "verdicts.jsonl") == {
        "checker": exercise.checker, "module": exercise.module, "status": "failed", "message": str(caught.value)}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: f"{e.number}-{e.function}")
def test_three_wrong_answers_with_their_own_messages(exercise):
    """At least three typical mistakes per exercise, each named differently."""
    answers = [a for a in WRONG_ANSWERS if a["notebook"] == exercise.number and a["exercise"] == exercise.function]
    messages = set()
    for answer in answers:
        with pytest.raises(ExerciseError) as caught:
            checker_of(exercise)(define(exercise, answer["code"]))
        messages.add(str(caught.value))
    where = f"tests/course/wrong_answers/nb{exercise.number}.py"
    assert len(answers) >= 3, f"add wrong answers to {exercise.function} in {where}"
    assert len(messages) == len(answers), "two wrong answers got the same message: the checker does not tell them apart"


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.used_after], ids=lambda e: f"{e.number}-{e.function}")
def test_what_later_cells_use_has_a_stand_in_that_passes(exercise, capsys):
    """The student edition puts vitlib's version in for later cells while the exercise is undone."""
    assert exercise.function in STAND_INS, f"add a stand-in for {exercise.function} to vitlib/course/stand_ins.py"
    assert checker_of(exercise)(STAND_INS[exercise.function]) is True
    stub = define(exercise, definitions(cell_of(exercise, exercise.stub)))
    capsys.readouterr()
    assert checker_of(exercise)(until_written(stub)) is True  # falls back to vitlib's version
    said = capsys.readouterr().out
    assert said.startswith(f"(`{exercise.function}` is not written yet, so this cell uses vitlib's version")
    assert said.count("not written yet") == 1  # one line, however often the cell calls it


def test_a_stand_in_never_hides_a_written_answer(capsys):
    def split_heads(x, heads):
        return x  # written, but wrong: later cells must see its mistake

    assert until_written(split_heads)("x", 2) == "x"
    assert capsys.readouterr().out == ""


def test_a_function_without_a_stand_in_is_named():
    def nothing_like_it():
        raise NotImplementedError

    with pytest.raises(KeyError, match="no stand-in for 'nothing_like_it': add vitlib's version of it to STAND_INS"):
        until_written(nothing_like_it)
