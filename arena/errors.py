"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from games.core import did_you_mean


class ArenaError(Exception):
    """A problem with the user's input or environment, explained in one line."""


__all__ = ["ArenaError", "did_you_mean"]
