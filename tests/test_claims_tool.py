"""tools/claims.py: the table `make claims` prints and the ledger it writes, from claims logs the test writes."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import claims as claims_tool  # noqa: E402


def claim(seed, precision, mean, control_holds=False):
    return {"id": "06.entropy", "statement": "layer 1 sharper", "mean": mean, "se": 0.01, "n": 3, "threshold": 0.05,
            "holds": mean - 0.02 > 0.05, "control": "untrained", "control_mean": 0.0, "control_se": 0.001,
            "control_holds": control_holds, "unit": "", "checked": True, "seed_offset": seed, "precision": precision,
            "margin": (mean - 0.05) / 0.01}


def test_ledger_has_one_section_per_claim_and_one_row_per_run(tmp_path):
    for seed, precision, mean in ((0, "fp32", 0.3), (1000, "fp32", 0.25), (0, "bf16", 0.04)):
        run = tmp_path / f"seed-{seed}-{precision}"
        run.mkdir()
        (run / "claims.jsonl").write_text(json.dumps(claim(seed, precision, mean)) + "\n")
    text = claims_tool.ledger(tmp_path)
    assert text.count("## 06.entropy") == 1 and "layer 1 sharper" in text and "control: untrained" in text
    rows = [line for line in text.splitlines() if line.startswith("| 06.entropy")]
    assert len(rows) == 3 and "| +1000 | fp32 |" in rows[1]
    assert rows[0].endswith("| 25.0 SE | untrained: 0 ± 0.001 (fails) | yes |")
    assert rows[2].endswith("| NO |")  # bf16: 0.04 does not clear 0.05


def test_a_control_that_passes_is_flagged():
    line = claims_tool.table([claim(0, "fp32", 0.3, control_holds=True)], markdown=False)
    assert "PASSES TOO" in line and line.endswith("NO")
