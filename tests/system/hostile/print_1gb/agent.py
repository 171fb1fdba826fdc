"""Hostile submission print_1gb: expect error: prints 1 GB to stdout (the file-size limit stops it)."""
import sys

import arena


class Agent(arena.Agent):
    def adapt(self, env):
        line = "x" * (1024 * 1024 - 1) + "\n"
        for _ in range(1024):
            sys.stdout.write(line)

    def act(self, observation, info):
        return 0
