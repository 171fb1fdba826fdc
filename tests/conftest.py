"""Shared fixtures (real submissions written to temporary folders, a tiny real suite, records),
and the markers that say what a test needs from the machine.

Tests mirror the layout: ``unit/`` (one module, no processes), ``integration/`` (stages
together: real agent processes, real SQLite, real browser), ``system/`` (the whole harness under
attack and faults: hostile submissions, kill -9, full disks, a Ray cluster).
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from arena.records import TrialRecord

ROOT = Path(__file__).resolve().parent.parent

TINY_SUITE = """
[suite]
name = "tiny"
version = 1
description = "test suite"
budgets = [0, 60]
adapt_seconds = [2, 2]
seeds = 2
eval_episodes = 2
eval_seconds = 3
meta_train_steps = 0
dev_seed = 7

[families.cartpole]
interpolation = 1
[families.cartpole.train]
length = [0.5, 1.5]
[families.cartpole.reference]
random = 22.0
reference = 500.0

[families.bandit]
interpolation = 1
[families.bandit.train]
arms = [2, 5]
task = [0, 1000]
horizon = 20
"""


@pytest.fixture
def write_submission(tmp_path: Path) -> Callable[..., Path]:
    """Write a submission folder whose agent module is ``code``; returns the folder."""

    def write(name: str, code: str, entry: str = "agent:Agent", extra_manifest: str = "") -> Path:
        folder = tmp_path / "submissions" / name
        folder.mkdir(parents=True)
        (folder / "submission.toml").write_text(
            f'[submission]\nname = "{name}"\nversion = "0.1"\nauthors = ["Test"]\nentry = "{entry}"\n{extra_manifest}'
        )
        (folder / "agent.py").write_text(textwrap.dedent(code))
        return folder

    return write


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE)
    return path


def make_trial(**fields: object) -> TrialRecord:
    """A trial record with harmless defaults for every field not given."""
    base: dict[str, object] = {
        "submission_hash": "h", "suite": "s", "suite_version": 1, "split": "dev", "variant": "cartpole",
        "budget": 0, "seed": 0, "submission": "x", "submission_version": "1", "family": "cartpole",
        "variant_group": "interpolation", "status": "ok", "eval_return": 10.0, "normalized_score": 0.1,
        "episode_returns": (10.0,), "steps_used": 0, "wall_seconds": 0.1, "adapt_seconds": 0.0, "error": None,
        "arena_version": "t",
    }  # fmt: skip
    return TrialRecord(**{**base, **fields})  # type: ignore[arg-type]


# -- what a test needs from the machine --------------------------------------------------------


@functools.cache
def _sandbox() -> tuple[bool, str]:
    from arena.boundary import sandbox

    return sandbox.available()


@functools.cache
def _gpus() -> int:
    from arena.harness import devices

    return devices.gpu_count()


def _missing(marker: str) -> str | None:
    """Why this machine cannot run tests with ``marker`` (None: it can)."""
    if marker == "needs_sandbox" and not _sandbox()[0]:
        return f"needs the full agent sandbox: {_sandbox()[1]}"
    if marker == "needs_root" and os.geteuid() != 0:
        return "needs root (mounting a tmpfs, dropping to nobody)"
    if marker == "gpu" and _gpus() == 0:
        return "needs an NVIDIA GPU"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in ("needs_sandbox", "needs_root", "gpu"):
            if item.get_closest_marker(marker) is not None and (why := _missing(marker)) is not None:
                item.add_marker(pytest.mark.skip(reason=why))
