"""Submission wrapper: the llm-summary-free baseline through the public agent API only."""

from baselines.llm_agents import FreeSummaryAgent as Agent

__all__ = ["Agent"]
