"""Submission wrapper: the random baseline through the public agent API only."""

from baselines.random_agent import RandomAgent as Agent

__all__ = ["Agent"]
