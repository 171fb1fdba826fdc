"""Hostile submission alloc_50gb: expect oom: allocates 50 GB."""
import arena


class Agent(arena.Agent):
    def adapt(self, env):
        self.hog = bytearray(50 * 1024**3)

    def act(self, observation, info):
        return 0
