"""Hostile submission manifest_huge_name: expect rejected: a 15 000-character unicode name with control characters."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return 0
