import importlib

import pytest

import vitlib.course.mode


def mode_with(monkeypatch, **env):
    """vitlib.course.mode as it reads the environment `env` (None: the variable unset)."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return importlib.reload(vitlib.course.mode)


@pytest.fixture
def restore_mode(monkeypatch):
    yield
    monkeypatch.undo()
    importlib.reload(vitlib.course.mode)


def test_quick_mode_is_read_from_the_environment(monkeypatch, restore_mode):
    mode = mode_with(monkeypatch, VITLIB_QUICK="1")
    assert (mode.QUICK, mode.pick(1, 100)) == (True, 1) and "QUICK" in mode.banner()
    for value in ("0", "", None):
        mode = mode_with(monkeypatch, VITLIB_QUICK=value)
        assert (mode.QUICK, mode.pick(1, 100)) == (False, 100)
    assert "FULL" in mode.banner()


def test_seed_offset_shifts_every_seed(monkeypatch, restore_mode):
    mode = mode_with(monkeypatch, VITLIB_SEED=None)
    assert mode.SEED == 0 and mode.seeds(0, 1, 2) == (0, 1, 2)
    mode = mode_with(monkeypatch, VITLIB_SEED="1000")
    assert mode.SEED == 1000 and mode.seeds(0, 1, 2) == (1000, 1001, 1002)
    assert "seed offset 1000" in mode.banner()
    with pytest.raises(ValueError, match="VITLIB_SEED must be an integer"):
        mode_with(monkeypatch, VITLIB_SEED="one")


def test_precision_is_read_and_checked(monkeypatch, restore_mode):
    assert mode_with(monkeypatch, VITLIB_PRECISION=None).PRECISION == "auto"
    mode = mode_with(monkeypatch, VITLIB_PRECISION="FP32")
    assert mode.PRECISION == "fp32" and "precision fp32 -> float32" in mode.banner()
    with pytest.raises(ValueError, match="VITLIB_PRECISION must be one of auto, fp32, bf16, fp16"):
        mode_with(monkeypatch, VITLIB_PRECISION="half")
