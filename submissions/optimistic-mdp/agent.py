"""Submission wrapper: the optimistic-mdp reference agent through the public agent API only."""

from baselines.psrl import OptimisticMDP

Agent = OptimisticMDP

__all__ = ["Agent"]
