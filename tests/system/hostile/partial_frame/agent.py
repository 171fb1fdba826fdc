"""Hostile submission partial_frame: expect timeout: sends the first chunk of a longer message, then stalls (exits by itself after 8 s)."""
import gc
import os
import time

import arena
from arena.boundary import lane as lanes
from arena.worker.proxy import Channel


class Agent(arena.Agent):
    def adapt(self, env):
        lane = next(o for o in gc.get_objects() if isinstance(o, Channel)).lane
        lane.out[:10] = b"x" * 10
        lane.header[lane.out_len] = 10 | lanes._MORE  # "more chunks follow": they never do
        lane._sent += 1
        lane.header[lane.out_sent] = lane._sent
        lane._poke()
        time.sleep(8)  # bounded, so that a harness that waits for the rest shows up as slow, not hung
        os._exit(0)

    def act(self, observation, info):
        return 0
