"""Hostile submission act_infinite_loop: expect timeout: act never returns."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        while True:
            pass
