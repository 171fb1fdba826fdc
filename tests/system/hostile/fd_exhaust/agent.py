"""Hostile submission fd_exhaust: expect ok: opens files until refused, then plays."""
import os

import arena


class Agent(arena.Agent):
    def adapt(self, env):
        fds = []
        try:
            while len(fds) < 100000:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        for fd in fds:
            os.close(fd)
        self.opened = len(fds)

    def act(self, observation, info):
        return 0
