"""Submission wrapper: the llm-summary baseline through the public agent API only."""

from baselines.llm_agents import SummaryAgent as Agent

__all__ = ["Agent"]
