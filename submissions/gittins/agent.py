"""Submission wrapper: the gittins reference agent through the public agent API only."""

from baselines.bandits import Gittins

Agent = Gittins

__all__ = ["Agent"]
