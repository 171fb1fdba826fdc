"""Batched implementations of the meta-RL classics: all copies of a vector env stepped in one
numpy call, as EnvPool or XLand-MiniGrid do natively.

Meta-training a recurrent learner at the RL² paper's budgets takes tens of millions of env
steps; stepping copies one Gymnasium env at a time costs the harness more than the learner. A
family offers ``make_batch(params_per_copy, seed)``; the env server uses it for a vector env
only where the suite asks for it (``batched_envs = true``): one random stream for the whole
batch draws differently from one per copy, so suites recorded without it keep their per-copy
envs and their returns bit for bit.

A batch holds ``n`` copies, each with its own parameters (its own task), the same spaces. Its
``reset`` and ``step`` take and give arrays with the copies on the first axis, and infos as
``{"action_mask": (n, A)}``; ``reset_rows`` starts new episodes of some copies only (the env
server's same-step autoreset).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

BatchFactory = Callable[[Sequence[dict[str, Any]], int], "Batch"]


class Batch:
    """What every batch shares: its random stream, its copies' masks, a common reset."""

    observation_space: spaces.Space[Any]
    action_space: spaces.Discrete
    mask: np.ndarray  # (n, A) int8: the legal actions of each copy

    def __init__(self, n: int, seed: int):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.t = np.zeros(n, dtype=np.int64)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        obs, info = self.reset_rows(np.arange(self.n))
        return obs, info

    def reset_rows(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        self.t[rows] = 0
        self._start(rows)
        return self._obs()[rows], {"action_mask": self.mask[rows].copy()}

    def _start(self, rows: np.ndarray) -> None:
        """Whatever else a new episode sets (a start state)."""

    def _obs(self) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError


class BanditBatch(Batch):
    """Bernoulli bandits: copy ``i`` has arm probabilities ``p[i]`` (0 for arms it lacks) and
    ``horizon[i]`` pulls per episode; the observation is the fraction of the episode elapsed."""

    def __init__(self, probabilities: np.ndarray, arms: np.ndarray, horizon: np.ndarray, seed: int):
        super().__init__(len(probabilities), seed)
        self.p = probabilities
        self.horizon = horizon
        width = probabilities.shape[1]
        self.mask = (np.arange(width)[None, :] < arms[:, None]).astype(np.int8)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(width)

    def _obs(self) -> np.ndarray:
        return (self.t / self.horizon)[:, None].astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        rows = np.arange(self.n)
        rewards = (self.rng.random(self.n) < self.p[rows, actions]).astype(np.float64)
        self.t += 1
        terminated = self.t >= self.horizon
        return self._obs(), rewards, terminated, np.zeros(self.n, dtype=bool), {"action_mask": self.mask.copy()}


class MDPBatch(Batch):
    """Tabular MDPs: copy ``i`` has transitions ``P[i]`` (states x actions x states, padded) and
    mean rewards ``R[i]``; rewards are N(R, 1). An action a copy lacks is replaced by a uniformly
    random legal one; episodes last ``horizon[i]`` steps from a start state (uniform over the
    copy's states, or state 0)."""

    def __init__(
        self,
        transitions: np.ndarray,
        rewards: np.ndarray,
        states: np.ndarray,
        actions: np.ndarray,
        horizon: np.ndarray,
        start_at_zero: bool,
        obs_states: int,
        seed: int,
    ):
        super().__init__(len(transitions), seed)
        self.cdf = np.cumsum(transitions, axis=3)
        self.rewards = rewards
        self.states, self.actions, self.horizon = states, actions, horizon
        self.start_at_zero = start_at_zero
        self.obs_states = obs_states
        width = transitions.shape[2]
        self.mask = (np.arange(width)[None, :] < actions[:, None]).astype(np.int8)
        self.s = np.zeros(self.n, dtype=np.int64)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(obs_states + 1,), dtype=np.float32)
        self.action_space = spaces.Discrete(width)

    def _start(self, rows: np.ndarray) -> None:
        if self.start_at_zero:
            self.s[rows] = 0
        else:
            self.s[rows] = (self.rng.random(len(rows)) * self.states[rows]).astype(np.int64)

    def _obs(self) -> np.ndarray:
        out = np.zeros((self.n, self.obs_states + 1), dtype=np.float32)
        out[np.arange(self.n), self.s] = 1.0
        out[:, -1] = self.t / self.horizon
        return out

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        rows = np.arange(self.n)
        illegal = actions >= self.actions
        if illegal.any():
            actions = actions.copy()
            actions[illegal] = (self.rng.random(int(illegal.sum())) * self.actions[illegal]).astype(np.int64)
        rewards = self.rewards[rows, self.s, actions] + self.rng.standard_normal(self.n)
        u = self.rng.random(self.n)
        following = (self.cdf[rows, self.s, actions] <= u[:, None]).sum(axis=1)
        self.s = np.minimum(following, self.states - 1)
        self.t += 1
        terminated = self.t >= self.horizon
        return self._obs(), rewards, terminated, np.zeros(self.n, dtype=bool), {"action_mask": self.mask.copy()}
