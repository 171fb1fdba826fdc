"""Submission wrapper: the reptile baseline through the public agent API only."""

from baselines.reptile import Reptile

Agent = Reptile

__all__ = ["Agent"]
