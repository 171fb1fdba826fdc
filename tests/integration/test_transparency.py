"""The harness's transport is transparent: a trial through the worker process, the lane and the
wire codec gives exactly the returns of the same trial run in this process against the same
``EnvServer`` (same budget, same secret seeds, same evaluation), with the same torch kernels.

So a learner that does worse through the harness than on a raw env does so because of the
episodes it drew (the harness seeds them from a secret) or the kernels it computed with, not
because of the proxy. At full size: DQN's 50k-step CartPole trial, seed 0, gave 234.05 both ways
with the AVX2 kernels and 500.0 both ways with the AVX-512 ones, return for return.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from arena.harness.jobs import TrialJob
from arena.harness.limits import Limits
from arena.harness.runner import Runner
from arena.inprocess import trial_in_process
from arena.submission import Submission, load_submission
from arena.suites import load_suite

SUBMISSIONS = Path(__file__).resolve().parents[2] / "submissions"


def trial(submission: Submission, variant: str, budget: int, seed: int = 0) -> TrialJob:
    suite = dataclasses.replace(load_suite("smoke@1"), eval_episodes=3)
    return TrialJob(
        submission=submission,
        suite=suite,
        split="dev",
        variant=variant,
        group="interpolation",
        budget=budget,
        adapt_seconds=120.0,
        seed=seed,
        split_seed=suite.dev_seed,
    )


@pytest.mark.parametrize(
    ("name", "variant", "budget"),
    # nav2d: continuous observations, actions and rewards, so any bit the transport changed shows
    # in the returns; PPO steps a vector env, DQN and tabular Q one env.
    [("ppo-scratch", "nav2d(task=4)", 1536), ("dqn-scratch", "cartpole", 3000), ("tabular-q", "catch", 3000)],
)
def test_a_trial_through_the_harness_returns_what_it_returns_in_process(name: str, variant: str, budget: int) -> None:
    torch.set_num_threads(1)  # as each agent worker
    job = trial(load_submission(SUBMISSIONS / name), variant, budget)
    # This process computes with the CPU's default kernels, so the worker must too.
    runner = Runner(Limits(portable_numerics=False))
    try:
        outcome = runner.run_trial(job)
    finally:
        runner.close()
    assert outcome.status == "ok", outcome.error
    assert outcome.steps_used == budget
    assert outcome.episode_returns == trial_in_process(job)
