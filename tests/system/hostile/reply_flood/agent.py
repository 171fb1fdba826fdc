"""Hostile submission reply_flood: expect timeout: sends request after request and never reads a reply (exits by itself after 8 s)."""
import gc
import os
import threading
import time

import arena
from arena.boundary import wire
from arena.worker.proxy import Channel


def _die_later():
    time.sleep(8)  # bounded, so that a harness blocked on its own send shows up as slow, not hung
    os._exit(0)


class Agent(arena.Agent):
    def adapt(self, env):
        threading.Thread(target=_die_later, daemon=True).start()
        lane = next(o for o in gc.get_objects() if isinstance(o, Channel)).lane
        request = wire.encode(("steps_left",))
        while True:
            lane.send(request)

    def act(self, observation, info):
        return 0
