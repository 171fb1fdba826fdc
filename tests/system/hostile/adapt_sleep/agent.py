"""Hostile submission adapt_sleep: expect timeout: adapt sleeps far past the time budget."""
import time

import arena


class Agent(arena.Agent):
    def adapt(self, env):
        time.sleep(3600)

    def act(self, observation, info):
        return 0
