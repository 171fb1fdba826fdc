"""Tabular Q-learning over a discretised observation: ``tabular-q``, for small discrete families.

Watkins' Q-learning (1989) with epsilon-greedy exploration, learning from scratch on each trial's
budget; no meta-training. The table is a dict keyed by the bytes of a discretised observation,
so it only grows with the states actually visited:

* integer Box and Discrete observations (boards, grid positions) are used exactly;
* float dimensions with finite bounds are cut into ``bins`` equal buckets between the bounds;
* float dimensions without usable bounds (|bound| above ``huge``, as CartPole's velocities) are
  squashed by ``tanh(x / unbounded_scale)`` first, then bucketed.

Box actions become a grid of ``action_bins`` values per dimension. The step size is
``max(1 / visits(s, a), lr_min)``: sample averages at first (right for bandit-like rewards),
a constant later (right for non-stationary targets). Illegal actions (``info["action_mask"]``)
are never explored, never chosen and never bootstrapped from. Evaluation is greedy; states the
table never saw get a random legal action.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import arena
from baselines.common import BatchedEnv, flatten_obs, read_masks


@dataclass(frozen=True)
class Config:
    bins: int = 6  # buckets per float observation dimension
    unbounded_scale: float = 1.0  # float dimensions without bounds: bucket tanh(x / scale)
    huge: float = 1e6  # bounds beyond this count as no bound
    action_bins: int = 5  # Box actions: values per dimension (at most max_actions in all)
    max_actions: int = 256
    gamma: float = 0.99
    lr_min: float = 0.05
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.5  # epsilon decays linearly over this fraction of the budget
    q_init: float = 0.0


CONFIG = Config()


class Discretizer:
    """Observation -> hashable key, following the space's dtype and bounds."""

    def __init__(self, space: gym.Space[Any], c: Config):
        self.space = space
        self.exact = isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary))
        if isinstance(space, gym.spaces.Box):
            self.exact = np.issubdtype(space.dtype, np.integer) or space.dtype == np.bool_
            low, high = space.low.reshape(-1).astype(np.float64), space.high.reshape(-1).astype(np.float64)
            self.bounded = np.isfinite(low) & np.isfinite(high) & (np.abs(low) < c.huge) & (np.abs(high) < c.huge)
            self.low = np.where(self.bounded, low, -1.0)
            self.span = np.where(self.bounded, np.maximum(high - low, 1e-12), 2.0)
        elif not self.exact:
            raise TypeError(f"tabular-q needs a Box or discrete observation space, got {space}")
        self.bins = c.bins
        self.scale = c.unbounded_scale

    def key(self, obs: np.ndarray) -> bytes:
        """Key of a flattened observation (see ``baselines.common.flatten_obs``)."""
        x = np.asarray(obs)
        if self.exact:
            return x.astype(np.int64).tobytes()
        x = x.astype(np.float64).reshape(-1)
        x = np.where(self.bounded, x, np.tanh(x / self.scale))
        cell = np.floor((x - self.low) / self.span * self.bins)
        return np.clip(cell, 0, self.bins - 1).astype(np.int16).tobytes()


class TabularQ(arena.Agent):
    config = CONFIG
    num_envs = 1

    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        c = self.config
        self.rng = np.random.default_rng(spec.seed)
        self.discretizer = Discretizer(spec.observation_space, c)
        space = spec.action_space
        if isinstance(space, gym.spaces.Discrete):
            self.n_actions, self.start, self.table = int(space.n), int(space.start), None
        elif isinstance(space, gym.spaces.Box):
            dims, bins = int(np.prod(space.shape)), c.action_bins
            while bins > 2 and bins**dims > c.max_actions:
                bins -= 1
            grids = [
                np.linspace(lo, hi, bins) for lo, hi in zip(space.low.reshape(-1), space.high.reshape(-1), strict=True)
            ]
            self.table = np.array(list(itertools.product(*grids)), dtype=space.dtype).reshape(-1, *space.shape)
            self.n_actions, self.start = len(self.table), 0
        else:
            raise TypeError(f"tabular-q needs a Discrete or Box action space, got {space}")
        self.q: dict[bytes, np.ndarray] = {}
        self.visits: dict[bytes, np.ndarray] = {}

    # -- the table ------------------------------------------------------------------------------

    def _row(self, key: bytes) -> np.ndarray:
        row = self.q.get(key)
        if row is None:
            row = self.q[key] = np.full(self.n_actions, self.config.q_init)
            self.visits[key] = np.zeros(self.n_actions, dtype=np.int64)
        return row

    def _greedy(self, values: np.ndarray, legal: np.ndarray | None) -> int:
        if legal is not None:
            values = np.where(legal, values, -np.inf)
        best = np.flatnonzero(values == values.max())
        return int(self.rng.choice(best))

    def _random(self, legal: np.ndarray | None) -> int:
        if legal is None:
            return int(self.rng.integers(self.n_actions))
        return int(self.rng.choice(np.flatnonzero(legal)))

    def _env_action(self, index: int) -> Any:
        return index + self.start if self.table is None else self.table[index]

    # -- learning -------------------------------------------------------------------------------

    def adapt(self, env: gym.Env[Any, Any]) -> None:
        c = self.config
        benv = BatchedEnv(env)
        benv.reset(seed=self.spec.seed)
        decay_steps = max(1, int(c.eps_fraction * self.spec.budget_steps))
        t = 0
        while True:
            key = self.discretizer.key(benv.obs[0])
            values = self._row(key)
            legal = None if benv.masks is None else benv.masks[0]
            eps = c.eps_end + (c.eps_start - c.eps_end) * max(0.0, 1.0 - t / decay_steps)
            a = self._random(legal) if self.rng.random() < eps else self._greedy(values, legal)
            try:
                step = benv.step(np.array([self._env_action(a)]))
            except arena.BudgetExhausted:
                return
            t += 1
            target = float(step.reward[0])
            if not step.terminated[0]:
                next_values = self._row(self.discretizer.key(step.next_obs[0]))
                next_legal = None if step.done[0] or benv.masks is None else benv.masks[0]
                target += c.gamma * float(np.max(next_values if next_legal is None else next_values[next_legal]))
            self.visits[key][a] += 1
            lr = max(1.0 / self.visits[key][a], c.lr_min)
            values[a] += lr * (target - values[a])

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        key = self.discretizer.key(flatten_obs(self.spec.observation_space, observation, 1)[0])
        legal = read_masks(info, 1, self.n_actions, vector=False) if self.table is None else None
        legal_row = None if legal is None else legal[0]
        row = self.q.get(key)
        index = self._random(legal_row) if row is None else self._greedy(row, legal_row)
        return self._env_action(index)
