"""The two benchmarks of Duan et al. 2016, "RL²: Fast Reinforcement Learning via Slow
Reinforcement Learning" (Tables 1 and 2), exactly as the paper sets them, one family per cell.

A cell is its own family because the paper trains one policy per cell (meta-training runs per
(submission, family)), and a cell fixes what a variant leaves open: the number of arms and pulls,
or the number of episodes of a trial. A variant is one task (``task`` seeds it); a trial on the
``rl2-paper`` suite is budget 0 with the cell's whole trial as evaluation, memory kept across its
episodes (``info["reward"]`` carries what the previous action earned, also across an episode's end).

* **Bandits** ``rl2_bandit_k{K}_n{N}``: K Bernoulli arms with success probabilities drawn from
  U[0, 1] per task; one episode is the trial's N pulls; the score is its total reward.
* **Tabular MDPs** ``rl2_mdp_n{N}``: 10 states, 5 actions, episodes of 10 steps from state 0;
  rewards N(μ, 1) with μ(s, a) ~ N(1, 1) and transitions P(·|s, a) ~ Dirichlet(1) per task. A
  trial is N episodes on one MDP (the suite sets ``eval_episodes = N``): its score is N × the
  mean episode return.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from games.batched import BanditBatch, MDPBatch
from games.core import Family, IntParam, register

BANDIT_ARMS = (5, 10, 50)
BANDIT_PULLS = (10, 100, 500)
MDP_EPISODES = (10, 25, 50, 75, 100)
MDP_STATES, MDP_ACTIONS, MDP_HORIZON = 10, 5, 10

TASK = IntParam(0, 0, 2**31 - 1, "seed of the task: the arms' probabilities, or the MDP's tables")


def bandit_family(arms: int, pulls: int) -> str:
    return f"rl2_bandit_k{arms}_n{pulls}"


def mdp_family(episodes: int) -> str:
    return f"rl2_mdp_n{episodes}"


FAMILIES = (
    *(bandit_family(k, n) for n in BANDIT_PULLS for k in BANDIT_ARMS),
    *(mdp_family(n) for n in MDP_EPISODES),
)


# --------------------------------------------------------------------------------------------
# Bernoulli bandits
# --------------------------------------------------------------------------------------------


def arm_probabilities(task: int, arms: int) -> np.ndarray:
    return np.random.default_rng(task).uniform(0.0, 1.0, size=arms)


class PaperBandit(gym.Env):
    """One task: ``arms`` Bernoulli arms, one episode of ``pulls`` pulls. The observation is the
    fraction of the trial elapsed; everything else must be learned from rewards."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, arms: int, pulls: int, task: int, render_mode: str | None = None):
        self.render_mode = render_mode
        self.arms, self.pulls = arms, pulls
        self.probabilities = arm_probabilities(task, arms)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(arms)
        self.mask = np.ones(arms, dtype=np.int8)
        self.t = 0
        self.last: tuple[int, float] | None = None

    def _obs(self) -> np.ndarray:
        return np.array([self.t / self.pulls], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t, self.last = 0, None
        return self._obs(), {"action_mask": self.mask.copy()}

    def step(self, action: Any):
        arm = int(action)
        reward = float(self.np_random.random() < self.probabilities[arm])
        self.t += 1
        self.last = (arm, reward)
        return self._obs(), reward, self.t >= self.pulls, False, {"action_mask": self.mask.copy()}

    def render(self) -> str:
        pulled = "none yet" if self.last is None else f"arm {self.last[0]} paid {self.last[1]:.0f}"
        return f"bandit with {self.arms} arms, pull {self.t}/{self.pulls}: {pulled}"


def _bandit_batch(arms: int, pulls: int) -> Any:
    def batch(copies: list[dict[str, Any]], seed: int) -> BanditBatch:
        p = np.stack([arm_probabilities(c["task"], arms) for c in copies])
        n = len(copies)
        return BanditBatch(p, np.full(n, arms), np.full(n, pulls), seed)

    return batch


def _bandit_reference(arms: int, pulls: int) -> Any:
    def reference(params: dict[str, Any]) -> tuple[float, float]:
        p = arm_probabilities(params["task"], arms)
        return float(p.mean() * pulls), float(p.max() * pulls)

    return reference


# --------------------------------------------------------------------------------------------
# Tabular MDPs
# --------------------------------------------------------------------------------------------


def mdp_tables(task: int) -> tuple[np.ndarray, np.ndarray]:
    """Transitions P[s, a, s'] ~ Dirichlet(1) and mean rewards μ[s, a] ~ N(1, 1)."""
    rng = np.random.default_rng(task)
    transitions = rng.dirichlet(np.ones(MDP_STATES), size=(MDP_STATES, MDP_ACTIONS))
    means = rng.normal(1.0, 1.0, size=(MDP_STATES, MDP_ACTIONS))
    return transitions, means


class PaperMDP(gym.Env):
    """One task: a random MDP, episodes of 10 steps from state 0. Observation: the state one-hot
    and the fraction of the episode elapsed; the reward is N(μ(s, a), 1)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, task: int, render_mode: str | None = None):
        self.render_mode = render_mode
        self.transitions, self.means = mdp_tables(task)
        self.cdf = np.cumsum(self.transitions, axis=2)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(MDP_STATES + 1,), dtype=np.float32)
        self.action_space = spaces.Discrete(MDP_ACTIONS)
        self.mask = np.ones(MDP_ACTIONS, dtype=np.int8)
        self.s = 0
        self.t = 0

    def _obs(self) -> np.ndarray:
        out = np.zeros(MDP_STATES + 1, dtype=np.float32)
        out[self.s] = 1.0
        out[-1] = self.t / MDP_HORIZON
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.s, self.t = 0, 0
        return self._obs(), {"action_mask": self.mask.copy()}

    def step(self, action: Any):
        a = int(action)
        reward = float(self.means[self.s, a] + self.np_random.standard_normal())
        self.s = min(int(np.searchsorted(self.cdf[self.s, a], self.np_random.random(), side="right")), MDP_STATES - 1)
        self.t += 1
        return self._obs(), reward, self.t >= MDP_HORIZON, False, {"action_mask": self.mask.copy()}

    def render(self) -> str:
        return f"tabular MDP ({MDP_STATES} states, {MDP_ACTIONS} actions): state {self.s}, step {self.t}/{MDP_HORIZON}"


def mdp_batch(copies: list[dict[str, Any]], seed: int) -> MDPBatch:
    tables = [mdp_tables(c["task"]) for c in copies]
    n = len(copies)
    return MDPBatch(
        np.stack([t for t, _ in tables]),
        np.stack([m for _, m in tables]),
        np.full(n, MDP_STATES),
        np.full(n, MDP_ACTIONS),
        np.full(n, MDP_HORIZON),
        start_at_zero=True,
        obs_states=MDP_STATES,
        seed=seed,
    )


def mdp_reference(params: dict[str, Any]) -> tuple[float, float]:
    """Exact values from state 0 of the uniform-random policy and of the optimal policy that
    knows the MDP (per episode)."""
    transitions, means = mdp_tables(params["task"])
    v_random = np.zeros(MDP_STATES)
    v_best = np.zeros(MDP_STATES)
    for _ in range(MDP_HORIZON):
        v_random = (means + transitions @ v_random).mean(axis=1)
        v_best = (means + transitions @ v_best).max(axis=1)
    return float(v_random[0]), float(v_best[0])


for _pulls in BANDIT_PULLS:
    for _arms in BANDIT_ARMS:
        register(
            Family(
                name=bandit_family(_arms, _pulls),
                make=lambda params, render_mode=None, k=_arms, n=_pulls: PaperBandit(
                    k, n, params["task"], render_mode=render_mode
                ),
                params={"task": TASK},
                description=f"RL² paper, Table 1: {_arms} Bernoulli arms, p ~ U[0, 1], a trial of {_pulls} pulls.",
                group="metarl",
                max_episode_steps=_pulls,
                reference=_bandit_reference(_arms, _pulls),
                episode_lengths=lambda params, n=_pulls: (n, n),
                make_batch=_bandit_batch(_arms, _pulls),
                example=f"{bandit_family(_arms, _pulls)}(task=7)",
            )
        )

for _episodes in MDP_EPISODES:
    register(
        Family(
            name=mdp_family(_episodes),
            make=lambda params, render_mode=None: PaperMDP(params["task"], render_mode=render_mode),
            params={"task": TASK},
            description=(
                f"RL² paper, Table 2: a random tabular MDP (10 states, 5 actions, 10-step episodes), "
                f"a trial of {_episodes} episodes."
            ),
            group="metarl",
            max_episode_steps=MDP_HORIZON,
            reference=mdp_reference,
            episode_lengths=lambda params: (MDP_HORIZON, MDP_HORIZON),
            make_batch=mdp_batch,
            example=f"{mdp_family(_episodes)}(task=3)",
        )
    )
