"""Tune the two constants of the bandit reference agents per RL²-paper cell (pulls, arms): the
exploration bonus ``c`` of ``ucb1-tuned`` and the ``ε`` of ``epsilon-greedy``.

    .venv/bin/python scripts/tune_bandit_references.py [--tasks 1000]

Each candidate plays the cell's bandit family on ``--tasks`` tasks drawn from a seed the suites
never use, through the agents' own ``act`` loop (no harness: the same code, faster). Prints the
mean total reward of every candidate and the ``TUNED`` table for ``baselines/bandits.py``.
"""

from __future__ import annotations

import argparse

import numpy as np

import arena
import games
from arena.inprocess import play_episodes
from baselines import bandits
from games.rl2_paper import BANDIT_ARMS, BANDIT_PULLS, bandit_family

CANDIDATES = {"ucb1-tuned": (0.05, 0.1, 0.2, 0.3, 0.5), "epsilon-greedy": (0.0, 0.01, 0.02, 0.05, 0.1)}
TUNING_SEED = 99_000_001  # not a suite's seed: the tuning tasks are not evaluation tasks


def mean_total(rule: str, family: str, tasks: np.ndarray, value: float) -> float:
    field = "c" if rule == "ucb1-tuned" else "epsilon"
    saved = dict(bandits.TUNED)
    bandits.TUNED.clear()  # one candidate for every cell while it is measured
    bandits.TUNED[(1, 1)] = bandits.Tuned(**{"c": 0.0, "epsilon": 0.0, field: value})
    try:
        totals = []
        for index, task in enumerate(tasks):
            env = games.make(f"{family}(task={int(task)})")
            spec = arena.AgentSpec(env.observation_space, env.action_space, family, seed=index)
            agent = bandits.UCB1Tuned(spec) if rule == "ucb1-tuned" else bandits.EpsilonGreedy(spec)
            totals.append(play_episodes(agent, env, 1, seed=int(task) + 1))
        return float(np.mean(totals))
    finally:
        bandits.TUNED.clear()
        bandits.TUNED.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(TUNING_SEED)
    table = {}
    for pulls in BANDIT_PULLS:
        for arms in BANDIT_ARMS:
            family = bandit_family(arms, pulls)
            tasks = rng.integers(0, 2**31 - 1, size=args.tasks if pulls < 500 else max(1, args.tasks // 3))
            best = {}
            for rule, values in CANDIDATES.items():
                scores = {v: mean_total(rule, family, tasks, v) for v in values}
                best[rule] = max(scores, key=lambda v: scores[v])
                shown = ", ".join(f"{v:g}: {s:.2f}" for v, s in scores.items())
                print(f"{family:22} {rule:15} {shown}  -> {best[rule]:g}", flush=True)
            table[(pulls, arms)] = bandits.Tuned(c=best["ucb1-tuned"], epsilon=best["epsilon-greedy"])
    print("TUNED: dict[tuple[int, int], Tuned] = {")
    for (pulls, arms), constants in table.items():
        print(f"    ({pulls}, {arms}): Tuned(c={constants.c:g}, epsilon={constants.epsilon:g}),")
    print("}")


if __name__ == "__main__":
    main()
