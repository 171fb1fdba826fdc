"""Submission wrapper: the maml baseline through the public agent API only."""

from baselines.maml import MAML

Agent = MAML

__all__ = ["Agent"]
