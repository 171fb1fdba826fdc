"""Submission wrapper: the rl2 baseline through the public agent API only."""

from baselines.rl2 import RL2

Agent = RL2

__all__ = ["Agent"]
