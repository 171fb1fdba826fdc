"""Hostile submission manifest_traversal: expect rejected: entry '../../x:Y' points outside the folder."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return 0
