import importlib

import vitlib.mode


def mode_with(monkeypatch, value):
    """(QUICK, pick(1, 100), banner()) as vitlib.mode reads them with VITLIB_QUICK=value."""
    if value is None:
        monkeypatch.delenv("VITLIB_QUICK", raising=False)
    else:
        monkeypatch.setenv("VITLIB_QUICK", value)
    mode = importlib.reload(vitlib.mode)
    return mode.QUICK, mode.pick(1, 100), mode.banner()


def test_quick_mode_is_read_from_the_environment(monkeypatch):
    try:
        assert mode_with(monkeypatch, "1")[:2] == (True, 1)
        assert "QUICK" in mode_with(monkeypatch, "1")[2]
        assert mode_with(monkeypatch, "0")[:2] == (False, 100)
        assert mode_with(monkeypatch, "")[:2] == (False, 100)
        assert mode_with(monkeypatch, None)[:2] == (False, 100)
        assert "FULL" in mode_with(monkeypatch, None)[2]
    finally:
        monkeypatch.undo()
        importlib.reload(vitlib.mode)
