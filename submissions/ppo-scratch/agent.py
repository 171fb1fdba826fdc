"""Submission wrapper: the ppo-scratch baseline through the public agent API only."""

from baselines.ppo import PPOScratch

Agent = PPOScratch

__all__ = ["Agent"]
