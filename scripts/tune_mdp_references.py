"""Tune optimistic-mdp's two constants (the bonus ``c`` and its decay ``β``) on the RL²-paper
MDP cell of 10 episodes, and measure the greedy planner and PSRL under both reward priors.

    .venv/bin/python scripts/tune_mdp_references.py [--tasks 1000] [--cells 10,25,50,75,100]

Every candidate plays ``--tasks`` tasks drawn from a seed the suites never use, through the
agents' own ``act`` loop (no harness: the same code, faster). Prints the mean trial total of
every candidate, the constants for ``baselines/psrl.py``, and then, on every cell of
``--cells``, greedy-mdp and PSRL with the tasks' own reward prior N(1, 1) beside the same rules
with TabulaRL's default prior N(0, 1), the prior of the RL² authors' baselines
(``sandbox/rocky/neural_learner/scripts/pacmdp/evaluate_pacmdp.py`` builds every baseline with
TabulaRL's defaults).
"""

from __future__ import annotations

import argparse
import itertools
import math

import numpy as np

import arena
import games
from arena.inprocess import play_episodes
from baselines import psrl
from games.rl2_paper import mdp_family

BONUSES = (0.25, 0.5, 1.0, 1.5, 2.0)
DECAYS = (0.0, 0.5, 1.0)
TUNING_SEED = 99_000_002  # not a suite's seed: the tuning tasks are not evaluation tasks


def totals(agent_class: type[psrl.PSRL], episodes: int, tasks: np.ndarray) -> np.ndarray:
    """Each task's trial total: ``episodes`` episodes of one MDP, the agent's memory kept."""
    family = mdp_family(episodes)
    out = []
    for index, task in enumerate(tasks):
        env = games.make(f"{family}(task={int(task)})")
        spec = arena.AgentSpec(env.observation_space, env.action_space, family, seed=index, eval_episodes=episodes)
        out.append(play_episodes(agent_class(spec), env, episodes, seed=int(task) + 1))
    return np.array(out)


def interval(values: np.ndarray) -> str:
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values))
    return f"{values.mean():.1f} ± {half:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--cells", default="10,25,50,75,100", help="episodes of the cells the greedy planners play")
    args = parser.parse_args()
    rng = np.random.default_rng(TUNING_SEED)
    tasks = rng.integers(0, 2**31 - 1, size=args.tasks)
    scores = {}
    for bonus, decay in itertools.product(BONUSES, DECAYS):
        candidate = type("Candidate", (psrl.OptimisticMDP,), {"bonus": bonus, "bonus_decay": decay})
        scores[(bonus, decay)] = totals(candidate, 10, tasks).mean()
        print(f"{mdp_family(10)} optimistic-mdp c={bonus:g} β={decay:g}: {scores[(bonus, decay)]:.1f}", flush=True)
    bonus, decay = max(scores, key=lambda key: scores[key])
    print(f"BONUS, BONUS_DECAY = {bonus:g}, {decay:g}")
    for episodes in (int(n) for n in args.cells.split(",")):
        for name, rule in (("greedy-mdp", psrl.GreedyMDP), ("psrl", psrl.PSRL)):
            own = totals(rule, episodes, tasks)
            zero = totals(type("PriorZero", (rule,), {"prior_mean": 0.0}), episodes, tasks)
            print(f"{mdp_family(episodes)} {name}, prior N(1, 1): {interval(own)}; prior N(0, 1): {interval(zero)}")


if __name__ == "__main__":
    main()
