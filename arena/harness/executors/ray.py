"""The Ray executor: the same jobs as the local executor, as Ray actors on a cluster.

Each actor is a trusted harness :class:`~arena.harness.runner.Runner` (real envs, budgets,
isolated agent processes on its node); the driver keeps one job in flight per actor and writes every result
to SQLite itself, exactly as with the local executor. Submissions must be readable at the same
path on every node (a shared filesystem), as the checkpoints are.

Needs the optional extra: ``pip install meta-arena[ray]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from arena.errors import ArenaError
from arena.harness.executors.dispatch import Job, JobFeed, WarmFirst, as_feed, oversubscribed, run_job
from arena.harness.jobs import Outcome
from arena.harness.limits import Limits
from arena.harness.runner import Runner
from arena.records import Status


class _RunnerActor:
    def __init__(self, limits: Limits):
        self.runner = Runner(limits)

    def run(self, job: Job) -> Outcome:
        try:
            return run_job(self.runner, job)
        except Exception as exc:  # a harness bug on this node: record it on the trial
            return Outcome(status=Status.ERROR, error=f"harness: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.runner.close()


class RayExecutor:
    def __init__(self, workers: int = 1, limits: Limits | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ArenaError("the ray executor needs Ray: pip install 'meta-arena[ray]'") from None
        self.ray = ray
        self.workers = max(1, workers)
        self.limits = limits or Limits()
        self.address = address
        if address is None and oversubscribed(self.workers):
            # Shared cores, and Ray places the actors, so pairs cannot be pinned as LocalExecutor pins
            # them: the waiting side sleeps at once rather than spin on a core its peer needs.
            self.limits = replace(self.limits, spin_seconds=0.0)
        self._actors: list[Any] = []
        self._dispatch = WarmFirst(self.workers)
        self._started_ray = False

    def _start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            self._started_ray = True
        actor = ray.remote(num_cpus=1)(_RunnerActor)
        self._actors = [actor.remote(self.limits) for _ in range(self.workers)]
        self._dispatch = WarmFirst(self.workers)

    def run(self, jobs: Sequence[Job] | JobFeed) -> Iterator[tuple[int, Outcome]]:
        feed = as_feed(jobs)
        if feed.done(0):
            return
        if not self._actors:
            self._start()
        ray = self.ray
        self._dispatch.plan(())
        running: dict[Any, tuple[int, int]] = {}  # result ref -> (actor's slot, job index)
        received = 0
        while not feed.done(received):
            # One job in flight per actor, chosen for the agent processes it already has warm.
            self._dispatch.extend(feed.take_new())
            if not running and not self._dispatch.has_pending():
                raise feed.stalled()
            busy = {slot for slot, _ in running.values()}
            idle = [slot for slot in range(len(self._actors)) if slot not in busy]
            for slot, index, job in self._dispatch.assign(idle):
                running[self._actors[slot].run.remote(job)] = (slot, index)
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                _, index = running.pop(ref)
                received += 1
                yield index, ray.get(ref)

    def shutdown(self) -> None:
        ray = self.ray
        for actor in self._actors:
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception:  # an actor that died already has nothing to close
                pass
            ray.kill(actor)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
