"""Hostile submission act_out_of_range: expect invalid_action: act returns 7 in a Discrete(2) space."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return 7
