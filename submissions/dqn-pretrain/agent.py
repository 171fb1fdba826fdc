"""Submission wrapper: the dqn-pretrain baseline through the public agent API only."""

from baselines.dqn import DQNPretrain

Agent = DQNPretrain

__all__ = ["Agent"]
