"""Hostile submission act_wrong_type: expect error: act returns a dict."""
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return {"action": 0}
