"""Executors: where jobs (trials, meta-training) run. Each yields ``(index, outcome)`` as jobs
finish, in any order.

``local`` (default, :mod:`~arena.harness.executors.local`) runs N runner processes on this
machine; ``ray`` (:mod:`~arena.harness.executors.ray`) runs them as actors on a Ray cluster.
Both hand out jobs with the same :class:`~arena.harness.executors.dispatch.WarmFirst` rule.
"""

from __future__ import annotations

from arena.harness.executors.dispatch import Executor, JobFeed
from arena.harness.executors.local import LocalExecutor
from arena.harness.limits import Limits

EXECUTORS = ("local", "ray")


def make_executor(
    name: str, workers: int, limits: Limits | None = None, address: str | None = None, *, require_sandbox: bool = False
) -> Executor:
    """``workers`` runners of the named executor. ``require_sandbox`` (the test split) has the ray
    executor refuse nodes without the full agent sandbox; the local one is this machine, which
    the caller has checked."""
    if name == "local":
        return LocalExecutor(workers, limits)
    if name == "ray":
        from arena.harness.executors.ray import RayExecutor  # optional: pip install meta-arena[ray]

        return RayExecutor(workers, limits, address, require_sandbox=require_sandbox)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "JobFeed", "LocalExecutor", "make_executor"]
