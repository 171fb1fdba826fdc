"""Hostile submission act_wrong_shape: expect invalid_action: act returns a 2x3 array for one discrete action."""
import numpy as np

import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return np.zeros((2, 3), dtype=np.int64)
