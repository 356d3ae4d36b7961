import json

import pytest

from vitlib.course import claims


def test_a_claim_holds_only_with_two_standard_errors_to_spare(capsys):
    claim = claims.check("t.clear", "clearly above", [1.0, 1.1, 0.9], threshold=0.0, quick=True)
    assert claim.holds and claim.margin == pytest.approx(1.0 / (0.1 / 3 ** 0.5))
    assert "CLAIM t.clear: clearly above" in capsys.readouterr().out
    with pytest.raises(claims.ClaimFailed, match="does not hold"):  # mean 0.3, SE 0.2: only 1.5 SE
        claims.check("t.noisy", "noisy", [0.1, 0.5, -0.3, 0.9, 0.3], threshold=0.0, quick=True)


def test_a_control_that_passes_too_stops_the_notebook():
    with pytest.raises(claims.ClaimFailed, match="its control passes too"):
        claims.check("t.control", "x", [2.0, 2.1, 2.2], control="shuffled", control_values=[1.0, 1.1, 1.2], quick=True)
    claim = claims.check("t.ok", "x", [2.0, 2.1, 2.2], control="shuffled", control_values=[0.1, -0.1, 0.0],
                         quick=True)
    assert claim.control_holds is False and "fails, as it should" in claim.line()


def test_too_few_seeds_and_half_a_control_are_errors():
    with pytest.raises(ValueError, match="at least 3 seeds"):
        claims.check("t.one", "x", [1.0, 2.0], quick=True)
    with pytest.raises(ValueError, match="both the control's name and its values"):
        claims.check("t.half", "x", [1.0, 2.0, 3.0], control="random", quick=True)
    with pytest.raises(ValueError, match="finite values"):
        claims.check("t.nan", "x", [1.0, float("nan"), 3.0], quick=True)


def test_quick_mode_prints_but_does_not_assert_training_claims(monkeypatch):
    monkeypatch.setattr(claims.mode, "QUICK", True)
    claim = claims.check("t.quick", "after 2 epochs", [-1.0, -1.1, -0.9])
    assert not claim.holds and not claim.checked and "not checked" in claim.line()
    with pytest.raises(claims.ClaimFailed):
        claims.check("t.quick_ok", "training-free", [-1.0, -1.1, -0.9], quick=True)


def test_claims_are_logged_for_make_claims(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("VITLIB_CLAIMS_LOG", str(log))
    claims.check("t.log", "logged", [1.0, 1.0, 1.0], control="null", control_values=[0.0, 0.0, 0.0], quick=True)
    (row,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert row["id"] == "t.log" and row["holds"] and row["control_holds"] is False and row["n"] == 3


def test_controls_make_null_models():
    import torch

    from vitlib.course import controls

    shares = controls.random_filter_shares(torch.zeros(64, 1, 4, 4), draws=5)
    assert shares.shape == (5, 16) and 1 / 16 < shares[:, 0].mean() < 0.2  # PC 1 of noise is not flat
    assert abs(controls.random_subspace_overlap(3, 16, draws=50).mean() - 3 / 16) < 0.03
    table = controls.random_pos_table(torch.zeros(1, 65, 32), seed=1)
    assert table.shape == (1, 65, 32) and abs(controls.locality(table)) < 0.1  # untrained: no locality ...
    assert controls.locality(table, 12) > 0.3  # ... until it is interpolated
    images = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    shuffled = controls.permute_patches(images, 4, seed=3)
    assert torch.equal(shuffled, controls.permute_patches(images, 4, seed=3))  # one fixed permutation
    as_patches = lambda x: x.unfold(2, 4, 4).unfold(3, 4, 4).reshape(2, 16, 16)  # noqa: E731  [B, N, P*P]
    before, after = as_patches(images), as_patches(shuffled)
    assert not torch.equal(before, after)
    # every patch arrives whole, and the same permutation moves the patches of both images
    perm = [int(torch.nonzero((before[0] == patch).all(dim=1))[0]) for patch in after[0]]
    assert sorted(perm) == list(range(16)) and torch.equal(after[1], before[1][perm])
