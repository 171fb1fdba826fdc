"""Shared fixtures: real submissions written to temporary folders, and a tiny real suite."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

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
