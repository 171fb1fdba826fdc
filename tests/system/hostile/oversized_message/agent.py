"""Hostile submission oversized_message: expect error: sends a 100 MB message."""
import gc

import arena
from arena.worker.proxy import Channel


class Agent(arena.Agent):
    def adapt(self, env):
        channel = next(o for o in gc.get_objects() if isinstance(o, Channel))
        channel.lane.send(bytes((0,)) + b"x" * (100 * 1024 * 1024))  # the harness takes at most 64 MB
        channel.recv()

    def act(self, observation, info):
        return 0
