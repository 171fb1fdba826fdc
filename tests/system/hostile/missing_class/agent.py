"""Hostile submission missing_class: expect error: the manifest names a class the module lacks."""
import arena


class NotTheAgent(arena.Agent):
    def act(self, observation, info):
        return 0
