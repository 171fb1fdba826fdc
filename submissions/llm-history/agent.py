"""Submission wrapper: the llm-history baseline through the public agent API only."""

from baselines.llm_agents import HistoryAgent as Agent

__all__ = ["Agent"]
