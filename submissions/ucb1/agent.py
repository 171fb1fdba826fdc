"""Submission wrapper: the ucb1 reference agent through the public agent API only."""

from baselines.bandits import UCB1

Agent = UCB1

__all__ = ["Agent"]
