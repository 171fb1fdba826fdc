"""Hostile submission budget_ignore: expect ok: catches BudgetExhausted and steps on, also through the raw channel."""
import gc

import arena
from arena.worker.proxy import Channel


class Agent(arena.Agent):
    def adapt(self, env):
        stepped = refused = 0
        for _ in range(200):
            try:
                env.reset()
                for _ in range(500):
                    env.step(0)
                    stepped += 1
            except arena.BudgetExhausted:
                refused += 1
            except Exception:  # step after the episode ended: reset and go on
                pass
        channel = next(o for o in gc.get_objects() if isinstance(o, Channel))
        for _ in range(50):  # bypass the proxy: the harness must still refuse
            try:
                channel.request("step", 0, 0)
                stepped += 1
            except arena.BudgetExhausted:
                refused += 1
            except Exception:
                pass
        self.stepped = stepped

    def act(self, observation, info):
        return 0
