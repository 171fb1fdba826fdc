"""Hostile submission exit_mid_step: expect error: os._exit(3) in the middle of an evaluation step."""
import os

import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        os._exit(3)
