"""Hostile submission thread_bomb: expect ok: starts threads until refused, then plays."""
import threading
import time

import arena


class Agent(arena.Agent):
    def adapt(self, env):
        self.threads = 0
        for _ in range(5000):
            try:
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
                self.threads += 1
            except RuntimeError:
                break

    def act(self, observation, info):
        return 0
