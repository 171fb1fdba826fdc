"""Submission wrapper: the ucb1-tuned reference agent through the public agent API only."""

from baselines.bandits import UCB1Tuned

Agent = UCB1Tuned

__all__ = ["Agent"]
