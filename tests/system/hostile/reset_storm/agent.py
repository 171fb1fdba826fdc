"""Hostile submission reset_storm: expect ok: resets the env thousands of times (resets are free, time is not)."""
import arena


class Agent(arena.Agent):
    def adapt(self, env):
        for _ in range(20000):
            try:
                env.reset()
            except arena.BudgetExhausted:
                return

    def act(self, observation, info):
        return 0
