"""Submission wrapper: the tabular-q baseline through the public agent API only."""

from baselines.tabular_q import TabularQ

Agent = TabularQ

__all__ = ["Agent"]
