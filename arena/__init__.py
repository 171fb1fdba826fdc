"""MetaArena: a benchmark and leaderboard for game agents that learn to learn."""

from arena.api import Agent, AgentSpec, BudgetExhausted, TaskSampler

__version__ = "0.1.0"

__all__ = ["Agent", "AgentSpec", "BudgetExhausted", "TaskSampler", "__version__"]
