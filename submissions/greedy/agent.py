"""Submission wrapper: the greedy reference agent through the public agent API only."""

from baselines.bandits import Greedy

Agent = Greedy

__all__ = ["Agent"]
