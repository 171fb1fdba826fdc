"""Meta-RL classics: tasks whose hidden parameters must be inferred from experience."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from games.core import Family, IntParam, register

MAX_ARMS = 10


def bandit_means(params: dict[str, Any]) -> np.ndarray:
    """The arms' success probabilities, drawn from the variant's task seed."""
    return np.random.default_rng(params["task"]).uniform(0.0, 1.0, size=params["arms"])


class BernoulliBandit(gym.Env):
    """k-armed Bernoulli bandit (the RL^2 benchmark): an episode is ``horizon`` pulls.

    The observation is the fraction of the episode elapsed; everything else must be learned
    from rewards. Arms beyond ``arms`` are masked in ``info["action_mask"]`` and pay nothing.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, params: dict[str, Any], render_mode: str | None = None):
        self.render_mode = render_mode
        self.horizon = params["horizon"]
        self.arms = params["arms"]
        self.means = bandit_means(params)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(MAX_ARMS)
        self.mask = np.zeros(MAX_ARMS, dtype=np.int8)
        self.mask[: self.arms] = 1
        self.t = 0
        self.last: tuple[int, float] | None = None

    def _obs(self) -> np.ndarray:
        return np.array([self.t / self.horizon], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        self.last = None
        return self._obs(), {"action_mask": self.mask.copy()}

    def step(self, action: Any):
        arm = int(action)
        reward = 0.0
        if arm < self.arms:
            reward = float(self.np_random.random() < self.means[arm])
        self.t += 1
        self.last = (arm, reward)
        terminated = self.t >= self.horizon
        return self._obs(), reward, terminated, False, {"action_mask": self.mask.copy()}

    def render(self) -> str:
        pulled = "none yet" if self.last is None else f"arm {self.last[0]} paid {self.last[1]:.0f}"
        return f"bandit with {self.arms} arms, pull {self.t}/{self.horizon}: {pulled}"


def bandit_reference(params: dict[str, Any]) -> tuple[float, float]:
    means = bandit_means(params)
    return float(means.mean() * params["horizon"]), float(means.max() * params["horizon"])


register(
    Family(
        name="bandit",
        make=lambda params, render_mode=None: BernoulliBandit(params, render_mode=render_mode),
        params={
            "arms": IntParam(5, 2, MAX_ARMS, "number of arms"),
            "horizon": IntParam(100, 10, 1000, "pulls per episode"),
            "task": IntParam(0, 0, 2**31 - 1, "seed of the arms' success probabilities"),
        },
        description="k-armed Bernoulli bandit with unknown arm means: explore, then exploit (RL^2).",
        group="metarl",
        max_episode_steps=1000,
        reference=bandit_reference,
        example="bandit(arms=5,task=7)",
    )
)
