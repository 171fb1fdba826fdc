"""RL² through the harness on a GPU machine: the device each record says, and meta-training
speed on the GPU against the same machine's CPU.

    python scripts/gpu_demo.py [--family rl2_bandit_k5_n100] [--gpu-steps 2000000] [--cpu-steps 200000]

Runs ``arena run submissions/rl2`` (``device = "auto"``) on a one-family copy of ``rl2-paper``
twice: once as it is (the harness hands the agent ``cuda:0``), once with ``CUDA_VISIBLE_DEVICES=``
(the CPU). Prints, per run, what the trial and meta-training records stored (``device``,
``memory_cap``) and the meta-training steps/s, then the GPU / CPU ratio. Without a GPU both runs
are CPU runs, and the records say so.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: the in-process run imports arena
PAPER = ROOT / "arena" / "suites" / "files" / "rl2-paper@1.toml"


def one_family_suite(family: str, steps: int, tasks: int, folder: Path) -> Path:
    """rl2-paper's settings with one family, ``tasks`` tasks and ``steps`` of meta-training."""
    import tomllib

    paper = tomllib.loads(PAPER.read_text())
    head = dict(paper["suite"], name="gpu-demo", meta_train_steps=steps, meta_train_seconds=3600)
    plan = {k: v for k, v in paper["families"][family].items() if k not in ("meta_train_steps",)}
    plan["interpolation"] = tasks
    lines = ["[suite]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in head.items()]
    lines += [f"[families.{family}]"] + [f"{k} = {json.dumps(v)}" for k, v in plan.items() if k != "train"]
    lines += [f"[families.{family}.train]"] + [f"{k} = {json.dumps(v)}" for k, v in plan["train"].items()]
    path = folder / f"gpu-demo-{steps}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(suite: Path, db: Path, env: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, "-m", "arena.cli", "run", str(ROOT / "submissions" / "rl2"), "--suite", str(suite),
               "--db", str(db), "-w", "1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"arena run failed: {done.stderr.strip().splitlines()[-3:]}")
    with sqlite3.connect(db) as con:
        meta = con.execute("SELECT status, steps_used, wall_seconds, device, memory_cap FROM meta_trains").fetchone()
        trials = con.execute("SELECT status, device, memory_cap, count(*) FROM trials GROUP BY 1, 2, 3").fetchall()
    status, steps, wall, device, cap = meta
    return {
        "meta_train": {"status": status, "steps": steps, "wall_s": wall, "device": device, "memory_cap": cap,
                       "steps_per_s": round(steps / wall, 1)},
        "trials": [{"status": s, "device": d, "memory_cap": c, "n": n} for s, d, c, n in trials],
        "stdout": done.stdout.strip().splitlines()[-1:],
    }  # fmt: skip


def in_process_cpu(family: str, steps: int, threads: int) -> dict[str, object]:
    """The same meta-training in this process on the CPU with ``threads`` torch threads (the
    harness gives each agent process one): the CPU at its best, for a fair ratio."""
    import dataclasses
    import time

    import torch

    from arena.harness import trial as procedure
    from arena.harness.jobs import MetaTrainJob, Outcome
    from arena.inprocess import InProcessAgent
    from arena.records import Status
    from arena.submission import load_submission
    from arena.suites import load_suite
    from baselines import rl2

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    paper = load_suite("rl2-paper")
    plan = dataclasses.replace(paper.plan(family), meta_train_steps=None)
    suite = dataclasses.replace(paper, meta_train_steps=steps, meta_train_seconds=3600, families=(plan,))
    with tempfile.TemporaryDirectory(prefix="arena-gpu-demo-cpu-") as checkpoint:
        job = MetaTrainJob(submission=load_submission(ROOT / "submissions" / "rl2"), suite=suite, family=family,
                           checkpoint=checkpoint, device="cpu")  # fmt: skip
        outcome = Outcome(status=Status.OK)
        started = time.monotonic()
        procedure.run_meta_train(InProcessAgent(rl2.RL2), job, outcome, 0.0)
        wall = time.monotonic() - started
    return {"status": str(outcome.status), "steps": outcome.steps_used, "wall_s": round(wall, 2), "threads": threads,
            "steps_per_s": round(outcome.steps_used / wall, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="rl2_bandit_k5_n100")
    parser.add_argument("--gpu-steps", type=int, default=2_000_000)
    parser.add_argument("--cpu-steps", type=int, default=200_000)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="arena-gpu-demo-") as tmp:
        folder = Path(tmp)
        for name, steps, extra in (("gpu", args.gpu_steps, {}), ("cpu", args.cpu_steps, {"CUDA_VISIBLE_DEVICES": ""})):
            suite = one_family_suite(args.family, steps, args.tasks, folder)
            figures[name] = run(suite, folder / f"{name}.db", {**os.environ, **extra})
            print(json.dumps({name: figures[name]}), flush=True)
    threads = os.cpu_count() or 1
    figures["cpu_threads"] = in_process_cpu(args.family, args.cpu_steps, threads)
    print(json.dumps({"cpu_in_process": figures["cpu_threads"]}), flush=True)
    gpu = figures["gpu"]["meta_train"]["steps_per_s"]  # type: ignore[index]
    ratio = gpu / figures["cpu"]["meta_train"]["steps_per_s"]  # type: ignore[index]
    best = gpu / figures["cpu_threads"]["steps_per_s"]  # type: ignore[operator]
    print(json.dumps({"family": args.family, "gpu_over_cpu_harness": round(ratio, 2),
                      f"gpu_over_cpu_{threads}_threads": round(best, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
