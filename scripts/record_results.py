"""Run submissions on a suite's dev split and record the results next to each submission.

    .venv/bin/python scripts/record_results.py SUITE SUBMISSION_DIR... [--workers N]

Writes ``<submission>/results/<suite>-v<version>.json``: the suite and its version, the commit,
the wall time, the platform (CPU, instruction set, library versions: long meta-training runs
reproduce bit for bit only on the same numerics), the standings row (IQM with its CI per
budget), the spread across meta-training runs (each run's own IQM per budget and adaptation
area, and their range, in the final and online views) and every trial record. With ``--db DIR``
each submission's store is kept in ``DIR`` (checkpoints beside it): a run that was stopped
resumes there (stored trials and finished meta-trainings are not run again, the wall time adds
up), and no results file is written until every trial is stored. ``--meta-train-only`` (with
``--db``) meta-trains every (family, meta seed) into the store and stops: meta-train on a GPU,
then play the trials on CPUs with ``CUDA_VISIBLE_DEVICES=''`` (docs/reproducing.md). The
``results/`` folder is not part of a submission's hash, so recording never changes its identity.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import arena
from arena import campaign, scoring
from arena.harness.executors import LocalExecutor
from arena.harness.limits import cpuinfo, portable_numerics_env
from arena.published import source_commit
from arena.records import as_plain
from arena.store import Store
from arena.submission import load_submission
from arena.suites import load_suite

ROOT = Path(__file__).resolve().parent.parent


def platform_info() -> dict[str, str]:
    """What the numbers depend on beyond the code: the same seeds give other results where the
    math libraries run other kernels (see ``arena.harness.limits.portable_numerics_env``, which pins
    them to AVX2 on x86 CPUs; ``cpu_capability`` is the recorder's own, unpinned)."""
    import numpy
    import torch

    return {
        "machine": platform.machine(),
        "cpu": cpuinfo("model name") or "unknown",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "agent_kernels": " ".join(f"{k}={v}" for k, v in portable_numerics_env().items()) or "unpinned",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def meta_train_spread(records: list[Any], views: tuple[str, ...] = ("final", "online")) -> dict[str, Any]:
    """Each meta-training run's own standings, scored alone as the whole board is (IQM of the
    pooled groups per budget, adaptation area), and their range over the runs: the spread that
    the standings' two-level interval covers, readable without re-scoring."""
    seeds = sorted({int(r.meta_train_seed) for r in records})
    out: dict[str, Any] = {"seeds": seeds}
    for view in views:
        rows = {}
        for seed in seeds:
            boards = scoring.score([r for r in records if r.meta_train_seed == seed], view=view, n_resamples=0)
            found = scoring.standings_rows(boards)
            if found:
                rows[seed] = found[0]
        if len(rows) != len(seeds):
            continue  # a view without scores (the online view needs analytic references)
        budgets = sorted(
            {int(key[4:]) for row in rows.values() for key in row if key[:4] == "iqm_" and key[4:].isdigit()}
        )
        per_budget = {str(b): [rows[s].get(f"iqm_{b}") for s in seeds] for b in budgets}
        areas = [rows[s].get("adaptation_area") for s in seeds]
        out[view] = {
            "iqm": per_budget,
            "iqm_range": {b: _range(values) for b, values in per_budget.items()},
            "adaptation_area": areas,
            "adaptation_area_range": _range(areas),
        }
    return out


def _range(values: list[Any]) -> list[float] | None:
    known = [float(v) for v in values if v is not None]
    return [min(known), max(known)] if known else None


def _add_wall(spent: Path, seconds: float) -> float:
    """The wall time of every run that made a kept store, resumed and meta-train-only ones too."""
    total = seconds + (float(spent.read_text()) if spent.is_file() else 0.0)
    spent.write_text(f"{total:.1f}\n")
    return total


def _print_progress(stage: str, done: int, total: int, counts: Counter[str]) -> None:
    print(f"{stage}: {done}/{total} {dict(counts)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--db", type=Path, default=None, help="keep each store in this folder (<name>.db): a stopped run resumes there"
    )
    parser.add_argument(
        "--meta-train-only",
        action="store_true",
        help="meta-train every (family, meta seed) missing from the --db store, then stop: a later run without"
        " this flag plays the trials with those checkpoints (e.g. meta-training on a GPU, trials on CPUs"
        " with CUDA_VISIBLE_DEVICES='', where a recurrent agent stepping one env at a time is faster)",
    )
    args = parser.parse_args()
    if args.meta_train_only and args.db is None:
        parser.error("--meta-train-only needs --db: the checkpoints must outlive this run")
    suite = load_suite(args.suite)
    revision = source_commit()
    failed = False
    for folder in args.submissions:
        submission = load_submission(folder)
        with tempfile.TemporaryDirectory(prefix="arena-record-") as tmp:
            keep = args.db is not None
            where = args.db if args.db is not None else Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            store = Store(where / f"{submission.name}.db")
            started = time.monotonic()
            if args.meta_train_only:
                families = {plan.family for plan in suite.families}
                failed_meta = campaign.meta_train_missing(
                    [submission], suite, store, LocalExecutor(args.workers), families, _print_progress,
                    suite.meta_train_seed_list(),
                )  # fmt: skip
                store.close()
                _add_wall(where / f"{submission.name}.wall", time.monotonic() - started)
                print(f"{folder}: meta-trained on {suite.id}, {len(failed_meta)} failed; trials not run")
                failed = failed or bool(failed_meta)
                continue
            summary = campaign.run([submission], suite, "dev", store, LocalExecutor(args.workers))
            wall = time.monotonic() - started
            records = store.trials(suite=suite.name, split="dev")
            store.close()
            if keep:
                wall = _add_wall(where / f"{submission.name}.wall", wall)
        if summary.interrupted or len(records) < summary.planned:
            print(f"{folder}: stopped with {len(records)} of {summary.planned} trials stored; no results file written")
            failed = True
            continue
        statuses = dict(Counter(str(r.status) for r in records))
        boards = scoring.score(records)
        out = folder / "results" / f"{suite.name}-v{suite.version}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "submission": submission.label,
                    "submission_hash": submission.hash,
                    "suite": suite.name,
                    "suite_version": suite.version,
                    "split": "dev",
                    "commit": revision,
                    "arena_version": arena.__version__,
                    "wall_seconds": round(wall, 1),
                    "workers": args.workers,
                    "platform": platform_info(),
                    "statuses": statuses,
                    "reproduce": f".venv/bin/python scripts/record_results.py {suite.name} {folder}",
                    "standings": scoring.standings_rows(boards),
                    "meta_train_spread": meta_train_spread(records),
                    "trials": [as_plain(r) for r in records],
                },
                indent=1,
                default=str,
            )
            + "\n"
        )
        print(f"{out}: {len(records)} trials, {statuses}, {wall:.1f}s")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
