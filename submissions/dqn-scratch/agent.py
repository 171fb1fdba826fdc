"""Submission wrapper: the dqn-scratch baseline through the public agent API only."""

from baselines.dqn import DQNScratch

Agent = DQNScratch

__all__ = ["Agent"]
