"""Submission wrapper: the prototype baseline through the public agent API only."""

from baselines.prototype import Prototype

Agent = Prototype

__all__ = ["Agent"]
