"""Hostile submission lane_garbage: expect error: writes a chunk length beyond the shared buffer into the lane's header."""
import gc
import time

import arena
from arena.boundary import lane as lanes
from arena.worker.proxy import Channel


class Agent(arena.Agent):
    def adapt(self, env):
        lane = next(o for o in gc.get_objects() if isinstance(o, Channel)).lane
        lane.header[lane.out_len] = lanes.CAPACITY * 4  # the harness must not read past its buffer
        lane._sent += 1
        lane.header[lane.out_sent] = lane._sent
        lane._poke()
        time.sleep(30)

    def act(self, observation, info):
        return 0
