"""Submission wrapper: the psrl reference agent through the public agent API only."""

from baselines.psrl import PSRL

Agent = PSRL

__all__ = ["Agent"]
