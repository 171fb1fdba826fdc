"""RL² on an ``rl2-paper`` tabular-MDP cell at the paper's scale: hundreds of millions of steps.

    python scripts/rl2_scale.py --family rl2_mdp_n10 --seconds 500 [--trials 2048] [--every 50000000] [--out scale.json]

The RL² authors trained each cell on up to 10,000 batches of 250,000 steps (rllab's
``sandbox/rocky/neural_learner``: docs/reproducing.md, "The RL² authors' own recipe"); through the
harness, or ``scripts/rl2_curve.py``, RL² takes 4-8k steps/s on a CPU and 60-95k on a GPU, where
the env steps on the CPU. Here the training trials are stepped in torch on the agent's device, so
a GPU runs both the env and the network: RL²'s own policy (``baselines.rl2.RecurrentPolicy``) and
its own PPO update (``RL2._update``), fed batches of ``--trials`` whole trials built exactly as
``RL2._collect`` builds them (the observation, the previous action one-hot, the previous reward,
*new episode*, *scored* = 1), on fresh tasks from the cell's prior: transitions Dirichlet(1),
mean rewards N(1, 1), rewards N(μ, 1), episodes of 10 steps from state 0, the observation the state
one-hot and the fraction of the episode elapsed (``games.rl2_paper.PaperMDP``'s dynamics). These
are not the suite's train variants (tasks drawn by its sampler) but the same distribution.

**Scoring** is ``scripts/rl2_curve.py``'s: the cell's first ``--tasks`` dev variants (what ``arena
reproduce rl2-paper`` scores), through the harness's env server, the actor rounded to float16, one
trial each, with fixed seeds; every ``--every`` steps and where ``--seconds`` stops training.
``--set FIELD=VALUE`` changes RL²'s ``Config`` for this run, as in ``rl2_curve.py``;
``--state-out`` saves the whole run where it stops (weights, Adam, the random states, the points)
and ``--resume`` continues it as if it had not stopped, so a run can span calls. Not the
harness: no budget, no sandbox, no suite record; a figure for the question "does this agent reach
the paper with the paper's compute?", not a board entry.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # rl2_curve, beside this file
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import torch
from rl2_curve import (
    SUITE,
    config_overrides,
    meta_train_spec,
    point_row,
    resolve_device,
    score,
    scoring_seed,
    set_torch_random_states,
    test_variants,
    torch_random_states,
    trial_totals,
)

from arena.seeding import derive_seed
from arena.suites import load_suite
from baselines.rl2 import CONFIG, RL2, Trials
from games.rl2_paper import MDP_ACTIONS, MDP_HORIZON, MDP_STATES


class TorchMDPs:
    """``n`` random tabular MDPs stepped together in torch: ``PaperMDP``'s dynamics, new tasks
    from its prior at every :meth:`new_tasks`."""

    def __init__(self, n: int, device: torch.device, generator: torch.Generator):
        self.n, self.device, self.gen = n, device, generator
        self.rows = torch.arange(n, device=device)
        self.new_tasks()

    def new_tasks(self) -> None:
        shape = (self.n, MDP_STATES, MDP_ACTIONS)
        # Dirichlet(1) is normalized Exponential(1) draws; a uniform's -log is one.
        draws = -torch.rand((*shape, MDP_STATES), device=self.device, generator=self.gen).clamp(min=1e-12).log()
        self.cdf = (draws / draws.sum(-1, keepdim=True)).cumsum(-1)
        self.means = 1.0 + torch.randn(shape, device=self.device, generator=self.gen)
        self.s = torch.zeros(self.n, dtype=torch.long, device=self.device)
        self.t = 0

    def obs(self) -> torch.Tensor:
        out = torch.zeros(self.n, MDP_STATES + 1, device=self.device)
        out[self.rows, self.s] = 1.0
        out[:, -1] = self.t / MDP_HORIZON
        return out

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """(rewards, whether the episode ended: then the next observation is a new episode's)."""
        noise = torch.randn(self.n, device=self.device, generator=self.gen)
        rewards = self.means[self.rows, self.s, actions] + noise
        u = torch.rand(self.n, 1, device=self.device, generator=self.gen)
        nxt = torch.searchsorted(self.cdf[self.rows, self.s, actions].contiguous(), u, right=True)
        self.s = nxt.squeeze(1).clamp(max=MDP_STATES - 1)
        self.t += 1
        done = self.t >= MDP_HORIZON
        if done:
            self.s.zero_()
            self.t = 0
        return rewards, done


@torch.no_grad()
def collect(agent: RL2, env: TorchMDPs, episodes: int) -> Trials:
    """One whole trial (``episodes`` episodes of one task) per copy, inputs as ``RL2._collect``'s."""
    policy, n, device = agent.policy, env.n, env.device
    env.new_tasks()
    prev_action = torch.zeros(n, MDP_ACTIONS, device=device)
    prev_reward = torch.zeros(n, device=device)
    new_episode = torch.ones(n, device=device)
    scored = torch.ones(n, device=device)
    h = torch.zeros(1, n, policy.state_size, device=device)
    xs, acts, logps, values, rewards = [], [], [], [], []
    for _ in range(episodes * MDP_HORIZON):
        x = torch.cat([env.obs(), prev_action, torch.stack([prev_reward, new_episode, scored], 1)], 1)
        out, value, h = policy(x[None], h)
        dist = policy.dist(out[0], None)
        action = dist.sample()
        reward, done = env.step(action)
        xs.append(x), acts.append(action), logps.append(dist.log_prob(action)), values.append(value[0])
        rewards.append(reward)
        prev_action = torch.nn.functional.one_hot(action, MDP_ACTIONS).float()
        prev_reward = reward
        new_episode = torch.full((n,), float(done), device=device)
    stack = torch.stack
    alive = torch.ones(len(xs), n, device=device)
    return Trials(stack(xs), stack(acts), stack(logps), stack(values), stack(rewards), alive, None)


@dataclasses.dataclass
class Progress:
    """What ``point_row`` reads of a run."""

    updates: int = 0
    train_seconds: float = 0.0
    kl_target: float | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="rl2_mdp_n10", help="an rl2-paper MDP cell (rl2_mdp_nN)")
    parser.add_argument("--trials", type=int, default=2048, help="trials side by side per update")
    parser.add_argument("--steps", type=int, default=10**12, help="stop after this many training steps")
    parser.add_argument("--seconds", type=float, default=None, help="stop training after this long")
    parser.add_argument("--every", type=int, default=50_000_000, help="score every this many steps")
    parser.add_argument("--tasks", type=int, default=1000, help="held-out tasks (dev variants) per point")
    parser.add_argument("--device", default="auto", help="auto (cuda:0 where there is one), cpu or cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="the JSON, written after every point")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="an RL² Config field")
    parser.add_argument("--state-out", type=Path, default=None, help="save the whole run here where it stops")
    parser.add_argument("--resume", type=Path, default=None, help="continue a run saved with --state-out")
    args = parser.parse_args()
    if not args.family.startswith("rl2_mdp_n"):
        raise SystemExit(f"--family {args.family}: only the tabular-MDP cells (rl2_mdp_nN) are stepped in torch")
    overrides = config_overrides(args.set)
    if overrides:
        RL2.config = dataclasses.replace(CONFIG, **overrides)
    begun = time.monotonic()
    stop_at = begun + args.seconds if args.seconds else None
    device = resolve_device(args.device)
    suite = load_suite(SUITE)
    episodes = suite.eval_episodes_of(args.family)
    paper = suite.published.get("cells", {}).get(args.family, {}).get("paper", {}).get("RL²")
    variants = test_variants(suite, args.family, args.tasks)
    eval_seed = scoring_seed(args.family)  # rl2_curve.py's: the same scoring
    spec, _ = meta_train_spec(suite, args.family, args.steps, device)
    agent = RL2(spec)
    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=agent.config.lr, eps=1e-5)  # meta_train's
    generator = torch.Generator(device=agent.device)
    generator.manual_seed(derive_seed("rl2-scale", args.family, args.seed))
    env = TorchMDPs(args.trials, agent.device, generator)
    report: dict[str, Any] = {
        "family": args.family, "paper_rl2": paper, "trials": args.trials, "episodes": episodes,
        "tasks": args.tasks, "device": device, "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else "",
        "torch": torch.__version__, "python": platform.python_version(), "commit": os.environ.get("ARENA_COMMIT", ""),
        "config": dataclasses.asdict(RL2.config), "overrides": overrides, "seed": args.seed, "points": [],
        "train_returns": [],
    }  # fmt: skip
    progress, steps = Progress(), 0
    settings = {"family": args.family, "trials": args.trials, "seed": args.seed, "config": report["config"]}
    if args.resume:
        saved = torch.load(args.resume, weights_only=False, map_location="cpu")
        if saved["settings"] != settings:
            differ = sorted(k for k in settings if saved["settings"].get(k) != settings[k])
            raise SystemExit(f"--resume {args.resume}: saved with another {', '.join(differ)}; pass its "
                             "--family, --trials, --seed and --set again")  # fmt: skip
        agent.policy.load_state_dict(saved["policy"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        set_torch_random_states(saved)
        steps, progress = saved["steps"], Progress(saved["updates"], saved["train_seconds"])
        report["points"], report["train_returns"] = saved["points"], saved["train_returns"]
    next_point = (steps // args.every + 1) * args.every
    print(f"{args.family} on {device}: {args.trials} trials of {episodes * MDP_HORIZON} steps an update, "
          f"paper RL² {paper}", flush=True)  # fmt: skip

    def write() -> None:
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")

    def point() -> None:
        row = point_row(steps, score(agent, suite, variants, eval_seed), progress, time.monotonic() - begun, paper)
        recent = report["train_returns"][-50:]
        row["train_return_last_50"] = round(sum(recent) / len(recent), 3) if recent else None
        report["points"].append(row)
        print(f"{steps:>13,} steps  {row['score']:8.2f} [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]  "
              f"{progress.updates} updates  {row['steps_per_s'] or 0:,.0f} steps/s", flush=True)  # fmt: skip
        write()

    while steps < args.steps and (stop_at is None or time.monotonic() < stop_at):
        started = time.monotonic()
        trials = collect(agent, env, episodes)
        report["train_returns"].append(round(float(trial_totals(trials).mean()), 3))
        agent._update(optimizer, trials)
        if agent.device.type == "cuda":
            torch.cuda.synchronize()
        progress.train_seconds += time.monotonic() - started
        progress.updates += 1
        steps += trials.rewards.numel()
        if steps >= next_point:
            point()
            next_point += args.every
    if not report["points"] or report["points"][-1]["steps"] != steps:
        point()
    report["wall_seconds"] = round(time.monotonic() - begun, 1)  # this call's
    write()
    if args.state_out:  # everything the next call needs to go on as if it had not stopped
        args.state_out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "settings": settings, "policy": agent.policy.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), **torch_random_states(),
                "steps": steps, "updates": progress.updates, "train_seconds": progress.train_seconds,
                "points": report["points"], "train_returns": report["train_returns"],
            },
            args.state_out,
        )  # fmt: skip


if __name__ == "__main__":
    main()
