"""How a "Your turn" exercise is run and judged: one runner, one tolerance, one way to report.

Every checker in `vitlib.course.nbNN_*` is marked `@checker` and follows the same pattern:

    attempted, got = run_answer(student_fn, *inputs)   # prints "not attempted yet" and returns
    if not attempted:                                   # (False, None) while the placeholder
        return False                                    # `raise NotImplementedError` is still there
    ... compare `got` with vitlib's answer; if it differs, compare it with the usual mistakes
    ... and raise ExerciseError naming the one made (`name_the_mistake`)
    return passed(name, "what is now right")

Inputs are small and have all-different values (`distinct_images`), so that every wrong order or
axis shows up as a different answer. The student's own exception is reported the same way in every
notebook: an ExerciseError that names the function and its inputs, chained to the original error,
so the traceback still ends on the student's line.

`@checker` also writes each verdict down for the grader (tools/grade.py): when the environment variable
VITLIB_VERDICTS names a file, every call appends one JSON line to it, {"checker", "module", "status",
"message"}, with status "passed", "not attempted", "failed" (an ExerciseError) or "error" (anything else)
and, as the message, the very words the student sees. Without the variable nothing is written.
"""

from __future__ import annotations

import functools
import json
import os

import torch

__all__ = ["ExerciseError", "checker", "run_answer", "not_attempted", "passed", "matches", "check_close",
           "name_the_mistake", "distinct_images", "scale_of", "VERDICTS_ENV"]

VERDICTS_ENV = "VITLIB_VERDICTS"  # names the file the grader reads the verdicts from
_last_note = ""  # what `passed` or `not_attempted` printed last: the message of a verdict


class ExerciseError(AssertionError):
    """A wrong exercise answer; the message explains what differs and how to fix it."""


def _say(note: str) -> None:
    global _last_note
    _last_note = note
    print(note)


def not_attempted(name: str) -> bool:
    """Print the "not attempted yet" note for exercise `name`; -> False."""
    _say(f"{name}: not attempted yet (it raises NotImplementedError). "
         "Replace `raise NotImplementedError` with your code and run the cell again.")
    return False


def passed(name: str, what: str) -> bool:
    """Print the confirmation for exercise `name` (what the answer now does right); -> True."""
    _say(f"✓ {name} is correct: {what}")
    return True


def _record(check, status: str, message: str) -> None:
    """Append one verdict to the file named by $VITLIB_VERDICTS, if it is set."""
    path = os.environ.get(VERDICTS_ENV)
    if path:
        line = {"checker": check.__name__, "module": check.__module__, "status": status, "message": message}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def checker(check):
    """Mark `check(student_fn) -> bool` as an exercise checker: it behaves exactly as before, and each
    verdict is recorded for the grader (see the module's docstring). Exceptions pass through unchanged."""

    @functools.wraps(check)
    def checked(*args, **kwargs):
        global _last_note
        _last_note = ""
        try:
            result = check(*args, **kwargs)
        except ExerciseError as error:
            _record(check, "failed", str(error))
            raise
        except Exception as error:  # a crash that is not a verdict: the grader reports it as an error
            _record(check, "error", f"{type(error).__name__}: {error}")
            raise
        _record(check, "passed" if result else "not attempted", _last_note)
        return result

    return checked


def _describe(value) -> str:
    """How an input is named in a message: a tensor by its shape, a module or function by its name."""
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, torch.nn.Module):
        return type(value).__name__
    if callable(value):
        return getattr(value, "__name__", type(value).__name__).replace("<lambda>", "a function")
    text = repr(value)
    return text if len(text) <= 60 else type(value).__name__


def run_answer(fn, *args, name: str | None = None):
    """Call the student's `fn(*args)` -> (attempted, result).

    (False, None) after printing "not attempted yet" if `fn` still raises NotImplementedError.
    Any other exception becomes an ExerciseError naming the function and its inputs (tensors by
    their shapes), raised from the student's error. A result of None (a forgotten `return`) is
    an ExerciseError too, so it is never mistaken for an answer or an untouched exercise.
    """
    name = name or getattr(fn, "__name__", "your function")
    inputs = ", ".join(_describe(a) for a in args)
    try:
        result = fn(*args)
    except NotImplementedError:
        return not_attempted(name), None
    except Exception as error:  # the student's own error, with what it was called on
        raise ExerciseError(f"{name}({inputs}) raised {type(error).__name__}: {error}") from error
    if result is None:
        raise ExerciseError(f"{name}({inputs}) returned None: did you forget `return`?")
    return True, result


def matches(got, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """True if `got` is a tensor of `expected`'s shape whose values agree within atol + rtol * |expected|."""
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and torch.allclose(got.float(), expected.float(), atol=atol, rtol=rtol))


def require_tensor(got, where: str) -> torch.Tensor:
    """The answer, if it is a torch.Tensor; else ExerciseError "<where> returned a <type>; expected a torch.Tensor"."""
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{where} returned a {type(got).__name__}; expected a torch.Tensor")
    return got


def check_close(name: str, got, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Raise ExerciseError unless `got` is a tensor with `expected`'s shape and values (as `matches`)."""
    require_tensor(got, name)
    if got.shape != expected.shape:
        raise ExerciseError(f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if not matches(got, expected, atol, rtol):
        diff = (got.float() - expected.float()).abs().max().item()
        raise ExerciseError(f"{name}: right shape, wrong values (max difference {diff:.3g})")


def name_the_mistake(name: str, got: torch.Tensor, expected: torch.Tensor, mistakes: list, atol: float = 1e-5) -> None:
    """Return if `got` matches `expected`; raise ExerciseError with the message of the first of
    `mistakes` [(wrong answer, message)] that `got` matches; else the plain difference (`check_close`)."""
    if matches(got, expected, atol):
        return
    for wrong, message in mistakes:
        if matches(got, wrong, atol):
            raise ExerciseError(f"{name}: {message}")
    check_close(name, got, expected, atol=atol)


def distinct_images(b: int, c: int, h: int, w: int) -> torch.Tensor:
    """(B, C, H, W) with every value different, so any rearrangement can be told apart."""
    return torch.arange(b * c * h * w, dtype=torch.float32).reshape(b, c, h, w) / (b * c * h * w)


def scale_of(got: torch.Tensor, expected: torch.Tensor) -> float | None:
    """The factor s if got == s * expected (s != 1), else None."""
    denominator = (expected.float() ** 2).sum()
    if got.shape != expected.shape or denominator == 0:
        return None
    s = ((got.float() * expected.float()).sum() / denominator).item()
    return s if abs(s - 1) > 1e-3 and matches(got, s * expected) else None
