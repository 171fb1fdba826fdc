"""Print the recorded baseline results as Markdown tables: the adaptation curve of every baseline.

    .venv/bin/python scripts/results_table.py SUITE [--families]

Reads ``submissions/*/results/<suite>-v<version>.json`` (written by ``scripts/record_results.py``)
and prints, per baseline, the IQM of normalized score at each budget with its 95% CI, the wall
time and the commit; ``--families`` adds the mean normalized score per family and budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="suite name with its version, e.g. metarl-v1-v1 or smoke-v1")
    parser.add_argument("--families", action="store_true", help="also the mean score per family and budget")
    args = parser.parse_args()
    records = [json.loads(p.read_text()) for p in sorted(ROOT.glob(f"submissions/*/results/{args.suite}.json"))]
    if not records:
        raise SystemExit(f"no results recorded for {args.suite} (expected submissions/*/results/{args.suite}.json)")
    budgets = sorted({t["budget"] for r in records for t in r["trials"]})
    records.sort(key=lambda r: -r["standings"][0]["iqm"] if r["standings"] else 0.0)
    print("| baseline | " + " | ".join(f"IQM at {b:,}" for b in budgets) + " | trials ok | wall | commit |")
    print("|---" * (len(budgets) + 4) + "|")
    for r in records:
        row = r["standings"][0]
        cells = [f"{row.get(f'iqm_{b}', float('nan')):.2f}" for b in budgets]
        headline = row["headline_budget"]
        cells[budgets.index(headline)] += f" [{row['iqm_low']:.2f}, {row['iqm_high']:.2f}]"
        ok = f"{r['statuses'].get('ok', 0)}/{len(r['trials'])}"
        print(
            f"| {r['submission']} | " + " | ".join(cells) + f" | {ok} | {r['wall_seconds']:.0f} s | {r['commit'][:7]} |"
        )
    if args.families:
        families = sorted({t["family"] for r in records for t in r["trials"]})
        print()
        print("| baseline | budget | " + " | ".join(families) + " |")
        print("|---" * (len(families) + 2) + "|")
        for r in records:
            scores: dict[tuple[str, int], list[float]] = defaultdict(list)
            for t in r["trials"]:
                scores[(t["family"], t["budget"])].append(t["normalized_score"])
            for b in budgets:
                cells = [f"{statistics.mean(scores[(f, b)]):.2f}" if scores[(f, b)] else "" for f in families]
                print(f"| {r['submission']} | {b:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
