"""Submission wrapper: the greedy-mdp reference agent through the public agent API only."""

from baselines.psrl import GreedyMDP

Agent = GreedyMDP

__all__ = ["Agent"]
