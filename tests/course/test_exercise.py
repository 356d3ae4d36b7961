"""The one exercise runner (vitlib.course.exercise), and every notebook's checkers run through it the same way."""

import importlib
import pkgutil

import pytest
import torch

import vitlib.course
from vitlib.course.exercise import ExerciseError, matches, name_the_mistake, run_answer

NOTEBOOK_MODULES = [importlib.import_module(f"vitlib.course.{m.name}")
                    for m in pkgutil.iter_modules(vitlib.course.__path__) if m.name.startswith("nb")]
CHECKERS = [getattr(module, name) for module in NOTEBOOK_MODULES for name in module.__all__
            if name.startswith("check_")]


def test_every_notebook_with_exercises_is_found():
    assert len(NOTEBOOK_MODULES) == 10 and len(CHECKERS) >= 15  # 1-3 exercises per notebook


@pytest.mark.parametrize("check", CHECKERS, ids=lambda f: f.__name__)
def test_placeholder_is_not_attempted_yet(check, capsys):
    def placeholder(*args):
        raise NotImplementedError

    assert check(placeholder) is False
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("check", CHECKERS, ids=lambda f: f.__name__)
def test_the_students_own_error_is_reported_the_same_way_everywhere(check):
    def broken(*args):
        raise KeyError("oops")

    with pytest.raises(ExerciseError, match=r"\(.*\) raised KeyError: 'oops'") as caught:
        check(broken)
    assert isinstance(caught.value.__cause__, KeyError)  # the traceback still ends on the student's line


@pytest.mark.parametrize("check", CHECKERS, ids=lambda f: f.__name__)
def test_a_forgotten_return_is_named(check):
    def forgot_return(*args):
        pass

    with pytest.raises(ExerciseError, match="returned None: did you forget `return`"):
        check(forgot_return)


def test_run_answer_reports_inputs_by_shape():
    def broken(x, p):
        raise ValueError("bad")

    with pytest.raises(ExerciseError, match=r"^my_fn\(\(2, 3\), 4\) raised ValueError: bad$"):
        run_answer(broken, torch.zeros(2, 3), 4, name="my_fn")
    assert run_answer(lambda x: x + 1, 1) == (True, 2)


def test_matches_and_name_the_mistake():
    expected = torch.tensor([1.0, 2.0])
    assert matches(expected + 1e-6, expected) and not matches(expected + 1e-2, expected)
    assert not matches(expected[None], expected) and not matches([1.0, 2.0], expected)
    name_the_mistake("x", expected.clone(), expected, [])  # right: no error
    with pytest.raises(ExerciseError, match="x: doubled"):
        name_the_mistake("x", 2 * expected, expected, [(2 * expected, "doubled")])
    with pytest.raises(ExerciseError, match=r"x: right shape, wrong values \(max difference 3\)"):
        name_the_mistake("x", expected + 3, expected, [(2 * expected, "doubled")])
