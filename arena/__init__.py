"""MetaArena: a benchmark and leaderboard for game agents that learn to learn.

``import arena`` gives the public agent API (:mod:`arena.api`), the one thing a submission
imports. The rest of the package, by pipeline stage, is described in ``docs/ARCHITECTURE.md``.
"""

from typing import Any

from arena.api import LLM, Agent, AgentSpec, BudgetExhausted, TaskSampler

__all__ = ["LLM", "Agent", "AgentSpec", "BudgetExhausted", "TaskSampler", "__version__"]


def __getattr__(name: str) -> Any:
    # The version comes from the installed distribution's metadata (pyproject.toml's one
    # version), looked up only when asked for: agent processes import arena at every start.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("meta-arena")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module 'arena' has no attribute {name!r}")
