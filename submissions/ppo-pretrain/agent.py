"""Submission wrapper: the ppo-pretrain baseline through the public agent API only."""

from baselines.ppo import PPOPretrain

Agent = PPOPretrain

__all__ = ["Agent"]
