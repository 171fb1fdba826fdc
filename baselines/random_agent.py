"""The random baseline: uniform over the action space, respecting ``info["action_mask"]``.

It defines the floor of every normalized score (score 0 is the random policy's return).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import arena


class RandomAgent(arena.Agent):
    def __init__(self, spec: arena.AgentSpec):
        super().__init__(spec)
        self.rng = np.random.default_rng(spec.seed)
        self.spec.action_space.seed(int(self.rng.integers(2**31)))

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        mask = info.get("action_mask")
        if mask is not None:
            return int(self.rng.choice(np.flatnonzero(mask)))
        return self.spec.action_space.sample()
