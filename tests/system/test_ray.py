"""The Ray executor against a real local Ray instance: the same trials as the local executor."""

from __future__ import annotations

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


def test_ray_and_local_executors_store_the_same_trials(tmp_path, tiny_suite) -> None:
    suite = load_suite(str(tiny_suite))
    submission = load_submission(RANDOM)
    results = {}
    for name, executor in (
        ("local", LocalExecutor(1, Limits(setup_seconds=5))),
        ("ray", make_executor("ray", 2, Limits(setup_seconds=5))),
    ):
        store = Store(tmp_path / f"{name}.db")
        summary = campaign.run([submission], suite, "dev", store, executor)
        assert summary.statuses == {"ok": 8}, name
        results[name] = {(r.variant, r.budget, r.seed): r.eval_return for r in store.trials()}
        store.close()
    assert results["ray"] == results["local"]
    assert len(results["ray"]) == 8
