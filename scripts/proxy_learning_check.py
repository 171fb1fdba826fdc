"""Do the SB3 baselines learn through the harness's env proxy? PPO and DQN on default CartPole.

Runs real trials through the Runner (isolated worker, budgeted proxy env, harness-driven
evaluation) of ``ppo-scratch`` and ``dqn-scratch`` on ``cartpole`` (every parameter at its
default: Gymnasium's CartPole-v1) and prints the mean evaluation return against the targets:
PPO >= 475, DQN >= 400, each within 100k steps. The default budget of each is the
``n_timesteps`` its RL Zoo hyperparameters were tuned for: 100k for PPO, 50k for DQN (the zoo's
DQN keeps a constant learning rate and, run twice as long, can collapse late in training).

    nice -n 10 .venv/bin/python scripts/proxy_learning_check.py              # both, seed 0
    nice -n 10 .venv/bin/python scripts/proxy_learning_check.py --algos ppo --seeds 0 1 2

Exit status 0 when every run reached its target.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from arena.runner import Runner, TrialJob
from arena.submission import load_submission
from arena.suites import load_suite

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ppo": ("ppo-scratch", 475.0, 100_000), "dqn": ("dqn-scratch", 400.0, 50_000)}  # name, target, zoo budget


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", choices=sorted(TARGETS), default=["ppo", "dqn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budget", type=int, default=None, help="steps (default: the zoo's n_timesteps)")
    parser.add_argument("--adapt-seconds", type=float, default=600.0)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--variant", default="cartpole")
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
    finally:
        runner.close()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
