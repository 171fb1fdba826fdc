"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class ArenaError(Exception):
    """A problem with the user's input or environment, explained in one line."""
