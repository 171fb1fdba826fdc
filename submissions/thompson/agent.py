"""Submission wrapper: the thompson reference agent through the public agent API only."""

from baselines.bandits import Thompson

Agent = Thompson

__all__ = ["Agent"]
