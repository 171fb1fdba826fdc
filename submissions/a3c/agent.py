"""Submission wrapper: the a3c baseline through the public agent API only."""

from baselines.a3c import A3C

Agent = A3C

__all__ = ["Agent"]
