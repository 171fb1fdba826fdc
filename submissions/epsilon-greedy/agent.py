"""Submission wrapper: the epsilon-greedy reference agent through the public agent API only."""

from baselines.bandits import EpsilonGreedy

Agent = EpsilonGreedy

__all__ = ["Agent"]
