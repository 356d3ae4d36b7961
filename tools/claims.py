"""Re-run notebooks 05-09 in full mode with a seed offset and a precision, and print every claim's margin.

    python tools/claims.py --seed 1000 --precision fp32      # what `make claims SEED=1000` runs
    python tools/claims.py --seed 0 --precision bf16 --notebooks 06 07

Each notebook runs in its own kernel (`jupyter nbconvert --execute`) with VITLIB_QUICK=0, VITLIB_SEED and
VITLIB_PRECISION set, into build/claims/seed-<S>-<precision>/ (the committed notebooks are not touched).
Every `vitlib.course.claims.check` appends its claim to a JSON-lines log there (a re-run of some notebooks
replaces their rows and keeps the others'); this prints one row per
claim (estimate, threshold, margin in standard errors, the control's estimate) and, with --markdown, the
rows as a Markdown table. It exits with 1 if a notebook stopped (a claim that did not hold, or its control
that passed too, stops the notebook with ClaimFailed).

    python tools/claims.py --ledger docs/claims.md          # no runs: the ledger from every run in build/claims/

writes the ledger: one section per claim (notebook, statement, control) with one row per run found.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(number: str, out: Path, env: dict) -> tuple[bool, float]:
    """Execute notebooks/<number>_*.ipynb into `out` -> (it finished without an error, seconds)."""
    (source,) = sorted((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                           "--ExecutePreprocessor.timeout=1800", "--output-dir", str(out), str(source)],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
    return done.returncode == 0, time.perf_counter() - start


def fmt_margin(margin: float) -> str:
    return "exact" if math.isinf(margin) else f"{margin:.1f} SE"


def rows(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def table(claims: list[dict], markdown: bool) -> str:
    lines = []
    if markdown:
        lines += ["| claim | seeds | precision | estimate (mean ± SE, n) | threshold | margin | control | holds |",
                  "|---|---|---|---|---|---|---|---|"]
    for c in claims:
        unit = f" {c['unit']}" if c["unit"] else ""
        estimate = f"{c['mean']:.3g} ± {c['se']:.2g}{unit} (n={c['n']})"
        control = "none" if c["control"] is None else (
            f"{c['control']}: {c['control_mean']:.3g} ± {c['control_se']:.2g}"
            + (" PASSES TOO" if c["control_holds"] else " (fails)"))
        verdict = "yes" if c["holds"] and not c["control_holds"] else "NO"
        cells = [c["id"], f"+{c['seed_offset']}", c["precision"], estimate, f"{c['threshold']:g}{unit}",
                 fmt_margin(c["margin"]), control, verdict]
        lines.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
    return "\n".join(lines)


def ledger(runs_dir: Path) -> str:
    """docs/claims.md from the claims logs of every run under `runs_dir`: one section per claim, a row per run."""
    by_claim: dict[str, list[dict]] = {}
    def order(log: Path):  # fp32 first, then the other precisions; seeds in order
        _, seed, precision = log.parent.name.split("-")
        return precision != "fp32", precision, int(seed)

    for log in sorted(runs_dir.glob("seed-*/claims.jsonl"), key=order):
        for claim in rows(log):
            by_claim.setdefault(claim["id"], []).append(claim)
    out = ["# The claims ledger", "",
           "Every finding that notebooks 05-09 assert, checked by `vitlib.course.claims.check`: it holds when the",
           "mean over seeds clears the threshold by two standard errors (SE), and its control, the same measurement",
           "where there is nothing to find, does not. Each row is one full-mode run of the notebook",
           "(`make claims SEED=... PRECISION=...`, i.e. `python tools/claims.py`); this file is written by",
           "`python tools/claims.py --ledger docs/claims.md` from those runs' logs.", ""]
    for claim_id, found in sorted(by_claim.items()):
        first = found[0]
        out += [f"## {claim_id}", "", f"- notebook {claim_id.split('.')[0]}: {first['statement']}",
                f"- control: {first['control'] or 'none'}",
                f"- threshold: {first['threshold']:g} {first['unit']}".rstrip(),
                "", table(found, markdown=True), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="VITLIB_SEED, the seed offset (default 0)")
    parser.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16", "fp16"),
                        help="VITLIB_PRECISION (default fp32)")
    parser.add_argument("--notebooks", nargs="+", default=["05", "06", "07", "08", "09"], help="numbers, e.g. 06 07")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "claims", help="where the runs go")
    parser.add_argument("--markdown", action="store_true", help="print the claims as a Markdown table")
    parser.add_argument("--ledger", type=Path, help="run nothing; write the ledger of every run in --out to this file")
    args = parser.parse_args(argv)
    if args.ledger:
        args.ledger.write_text(ledger(args.out) + "\n")
        print(f"wrote {args.ledger}")
        return 0
    out = args.out / f"seed-{args.seed}-{args.precision}"
    out.mkdir(parents=True, exist_ok=True)
    log = out / "claims.jsonl"
    kept = [c for c in rows(log) if c["id"].split(".")[0] not in args.notebooks]  # earlier runs of other notebooks
    log.write_text("".join(json.dumps(c) + "\n" for c in kept))
    env = {**os.environ, "VITLIB_QUICK": "0", "VITLIB_SEED": str(args.seed), "VITLIB_PRECISION": args.precision,
           "VITLIB_CLAIMS_LOG": str(log), "MPLBACKEND": "Agg"}
    failed = []
    for number in args.notebooks:
        ok, seconds = run_notebook(number, out, env)
        print(f"notebook {number}: {'ran' if ok else 'STOPPED'} in {seconds:.0f} s", flush=True)
        if not ok:
            failed.append(number)
    print(table([c for c in rows(log) if c["id"].split(".")[0] in args.notebooks], args.markdown))
    if failed:
        print(f"stopped: notebooks {', '.join(failed)} (see above; a ClaimFailed names the claim)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
