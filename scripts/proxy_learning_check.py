"""Do the SB3 baselines learn through the harness's env proxy? PPO and DQN on default CartPole.

Runs real trials through the Runner (isolated worker, budgeted proxy env, harness-driven
evaluation) of ``ppo-scratch`` and ``dqn-scratch`` on ``cartpole`` (every parameter at its
default: Gymnasium's CartPole-v1) and prints the mean evaluation return against the targets:
PPO >= 475, DQN >= 400, each within 100k steps. The default budget of each is the
``n_timesteps`` its RL Zoo hyperparameters were tuned for: 100k for PPO, 50k for DQN (the zoo's
DQN keeps a constant learning rate and, run twice as long, can collapse late in training).

    nice -n 10 .venv/bin/python scripts/proxy_learning_check.py              # both, seed 0
    nice -n 10 .venv/bin/python scripts/proxy_learning_check.py --algos ppo --seeds 0 1 2
    nice -n 10 .venv/bin/python scripts/proxy_learning_check.py --algos dqn --seeds 0 1 2 --raw

``--raw`` also runs each agent in this process on the real env (no proxy, no worker) with the
same seed and evaluates it on the same number of greedy episodes: the proxy hurts learning only
if the two columns differ by more than seeds do.

Exit status 0 when every run through the proxy reached its target.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import arena
import games
from arena.runner import Runner, TrialJob
from arena.submission import load_submission
from arena.suites import load_suite

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ppo": ("ppo-scratch", 475.0, 100_000), "dqn": ("dqn-scratch", 400.0, 50_000)}  # name, target, zoo budget


def raw_return(submission: Any, variant: str, seed: int, budget: int, episodes: int) -> float:
    """The submission's agent adapted in this process on the real env, then evaluated as the
    harness evaluates (``reset()`` per episode, the previous reward in ``info``)."""
    module, _, name = submission.entry.partition(":")
    sys.modules.pop(module, None)  # every submission's module may be called ``agent``
    sys.path.insert(0, str(submission.path))
    try:
        agent_class = getattr(importlib.import_module(module), name)
    finally:
        sys.path.pop(0)
    env = games.make(variant)
    spec = arena.AgentSpec(env.observation_space, env.action_space, variant, seed, budget_steps=budget)
    agent = agent_class(spec)
    copies = int(getattr(agent, "num_envs", 1))
    if copies == 1:
        agent.adapt(env)
    else:  # the vector env the harness would give it: copies of the variant, autoreset in the same step
        vector = games.make_vector(variant, copies)
        agent.adapt(vector)
        vector.close()
    returns = []
    reward: float | None = None
    for episode in range(episodes):
        obs, info = env.reset(seed=10_000 + episode)
        agent.reset()
        total, done = 0.0, False
        while not done:
            seen = info if reward is None else {**info, "reward": reward}
            obs, step_reward, terminated, truncated, info = env.step(agent.act(obs, seen))
            reward = float(step_reward)
            total += reward
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", choices=sorted(TARGETS), default=["ppo", "dqn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budget", type=int, default=None, help="steps (default: the zoo's n_timesteps)")
    parser.add_argument("--adapt-seconds", type=float, default=600.0)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--variant", default="cartpole")
    parser.add_argument("--raw", action="store_true", help="also learn on the real env in this process")
    args = parser.parse_args()

    suite = load_suite("smoke")
    suite = dataclasses.replace(
        suite, eval_episodes=args.eval_episodes, eval_seconds=max(120.0, args.eval_episodes * 10.0)
    )
    runner = Runner()
    passed = True
    header = ("baseline", "variant", "seed", "status", "return", "min", "steps", "adapt_s")
    print("{:12s} {:10s} {:>4s} {:8s} {:>8s} {:>6s} {:>7s} {:>8s}  target".format(*header))
    try:
        for algo in args.algos:
            name, target, zoo_budget = TARGETS[algo]
            budget = args.budget or zoo_budget
            submission = load_submission(ROOT / "submissions" / name)
            for seed in args.seeds:
                job = TrialJob(
                    submission, suite, "dev", args.variant, "interpolation",
                    budget, args.adapt_seconds, seed, suite.dev_seed,
                )  # fmt: skip
                started = time.monotonic()
                outcome = runner.run_trial(job)
                ok = outcome.status == "ok" and outcome.eval_return is not None and outcome.eval_return >= target
                passed &= ok
                ret = outcome.eval_return if outcome.eval_return is not None else float("nan")
                low = min(outcome.episode_returns) if outcome.episode_returns else float("nan")
                print(
                    f"{name:12s} {args.variant:10s} {seed:4d} {outcome.status:8s} {ret:8.1f} {low:6.0f} "
                    f"{outcome.steps_used:7d} {outcome.adapt_seconds:8.1f}  >= {target:.0f} {'PASS' if ok else 'FAIL'}"
                    f"  (wall {time.monotonic() - started:.0f}s)",
                    flush=True,
                )
                if outcome.error:
                    print(outcome.error, file=sys.stderr)
                if args.raw:
                    started = time.monotonic()
                    raw = raw_return(submission, args.variant, seed, budget, args.eval_episodes)
                    print(
                        f"{name + ' raw':12s} {args.variant:10s} {seed:4d} {'ok':8s} {raw:8.1f} {'':6s} {budget:7d} "
                        f"{'':8s}  (no proxy; wall {time.monotonic() - started:.0f}s)",
                        flush=True,
                    )
    finally:
        runner.close()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
