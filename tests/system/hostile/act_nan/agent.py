"""Hostile submission act_nan: expect invalid_action: act returns NaN."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return float("nan")
