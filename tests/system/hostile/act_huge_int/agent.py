"""Hostile submission act_huge_int: expect invalid_action: act returns 2**100."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return 2**100
