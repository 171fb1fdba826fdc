"""The Ray executor against a real local Ray instance: the same trials as the local executor.

tests/system/test_ray_cluster.py runs it against a cluster of several nodes started with ``ray start``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from arena import campaign
from arena.harness.executors import LocalExecutor, make_executor
from arena.harness.limits import Limits
from arena.store import Store
from arena.submission import load_submission
from arena.suites import load_suite

pytest.importorskip("ray")

RANDOM = Path(__file__).resolve().parents[2] / "submissions" / "random"


def test_ray_and_local_executors_store_the_same_trials(tmp_path, tiny_suite, monkeypatch) -> None:
    # A cluster that Ray recorded under its temp folder and that is gone since: without --address
    # the executor must start a Ray of its own, not try to join that one.
    ray_tmp = Path(tempfile.mkdtemp(prefix="arena-ray-", dir="/tmp"))  # short: Ray's socket paths have a limit
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    suite = load_suite(str(tiny_suite))
    submission = load_submission(RANDOM)
    results = {}
    try:
        for name, executor in (
            ("local", LocalExecutor(1, Limits(setup_seconds=5))),
            ("ray", make_executor("ray", 2, Limits(setup_seconds=5))),
        ):
            store = Store(tmp_path / f"{name}.db")
            summary = campaign.run([submission], suite, "dev", store, executor)
            assert summary.statuses == {"ok": 8}, name
            results[name] = {(r.variant, r.budget, r.seed): r.eval_return for r in store.trials()}
            nodes = {r.node for r in store.trials()}
            store.close()
            if name == "ray":
                assert len(nodes) == 1 and len(nodes.pop()) == 56  # the Ray node id, hex
    finally:
        _kill_under(ray_tmp)
    assert results["ray"] == results["local"]
    assert len(results["ray"]) == 8


def test_a_trial_job_carries_its_env_seed_not_the_secret_test_seed(tiny_suite) -> None:
    secret = 918273645
    jobs = campaign.plan_trials([load_submission(RANDOM)], load_suite(str(tiny_suite)), "test", test_seed=secret)
    assert jobs and all(job.env_seed != 0 for job in jobs)
    assert not any(str(secret) in repr(job) for job in jobs)  # what a Ray node is sent


def _kill_under(folder: Path) -> None:
    """What is left of the local Ray (ray.shutdown ends it; this is for when it did not), by pid."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(folder) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    shutil.rmtree(folder, ignore_errors=True)
