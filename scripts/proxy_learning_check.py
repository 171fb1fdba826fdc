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

``--raw`` also runs each trial in this process (``arena.inprocess.trial_in_process``: no worker, no
lane, no wire codec; the same seeded episodes, the same evaluation, the same AVX2 kernels): its
return must equal the harness's exactly, so a seed that fails fails for the learner, not the proxy.

Exit status 0 when every run through the proxy reached its target.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

from arena.harness.jobs import TrialJob
from arena.harness.limits import Limits, portable_numerics_env
from arena.harness.runner import Runner
from arena.inprocess import trial_in_process
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
    parser.add_argument("--raw", action="store_true", help="also run each trial in this process, without the harness")
    args = parser.parse_args()
    limits = Limits()
    if args.raw:  # this process must compute as the agent workers do, before torch is imported
        os.environ.update(OMP_NUM_THREADS=str(limits.threads), MKL_NUM_THREADS=str(limits.threads))
        if limits.portable_numerics:
            os.environ.update(portable_numerics_env())
        import torch

        torch.set_num_threads(limits.threads)

    suite = load_suite("smoke")
    suite = dataclasses.replace(
        suite, eval_episodes=args.eval_episodes, eval_seconds=max(120.0, args.eval_episodes * 10.0)
    )
    runner = Runner(limits)
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
                    submission=submission, suite=suite, split="dev", variant=args.variant, group="interpolation",
                    budget=budget, adapt_seconds=args.adapt_seconds, seed=seed, split_seed=suite.dev_seed,
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
                    returns = trial_in_process(job)
                    raw = float(np.mean(returns))
                    same = "the same returns" if returns == outcome.episode_returns else "OTHER RETURNS"
                    print(
                        f"{name + ' raw':12s} {args.variant:10s} {seed:4d} {'ok':8s} {raw:8.1f} {'':6s} {budget:7d} "
                        f"{'':8s}  (in-process: {same}; wall {time.monotonic() - started:.0f}s)",
                        flush=True,
                    )
    finally:
        runner.close()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
