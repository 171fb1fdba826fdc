"""Compare a results database with the results files recorded next to the submissions.

    .venv/bin/python scripts/compare_recorded.py RESULTS_FILE_NAME [--db arena.db]

e.g. ``scripts/compare_recorded.py smoke-v1.json --db arena.db`` after ``arena demo``: for every
``submissions/*/results/smoke-v1.json``, every recorded trial's ``eval_return`` against the
stored trial of the same submission name and version, suite version, split, variant, budget
and seed (the submission hash may differ: a hash names the code, the results name what it did).
Prints one line per submission and exits 1 if any return differs or is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arena.store import Store

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_file", help="a results file name, e.g. smoke-v1.json")
    parser.add_argument("--db", type=Path, default=Path("arena.db"))
    args = parser.parse_args()
    store = Store(args.db, create=False)
    try:
        stored = {
            (r.submission, r.submission_version, r.suite, r.suite_version, r.split, r.variant, r.budget, r.seed): r
            for r in store.trials()
        }
    finally:
        store.close()
    failed = False
    for path in sorted(ROOT.glob(f"submissions/*/results/{args.results_file}")):
        data = json.loads(path.read_text())
        same = different = missing = 0
        for trial in data["trials"]:
            key = (
                trial["submission"], trial["submission_version"], trial["suite"], trial["suite_version"],
                trial["split"], trial["variant"], trial["budget"], trial["seed"],
            )  # fmt: skip
            found = stored.get(key)
            if found is None:
                missing += 1
            elif found.eval_return == trial["eval_return"]:
                same += 1
            else:
                different += 1
        failed |= bool(different or missing)
        print(f"{path.relative_to(ROOT)}: {same} the same, {different} different, {missing} missing")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
