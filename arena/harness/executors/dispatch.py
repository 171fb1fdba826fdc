"""What every executor shares: the feed of a run's jobs, which runner gets which job, and
running one job on a runner.

A run's jobs are a list, or a :class:`JobFeed` that the consumer of the outcomes extends while
the run goes on: a campaign adds a (submission, family)'s trials as soon as its meta-training
has ended, so no runner idles at a barrier between the two phases.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from arena.harness.jobs import Job, MetaTrainJob, Outcome
from arena.harness.runner import Runner
from arena.records import Status


class JobFeed:
    """The jobs of one ``run()``, open to more until ``close()``.

    Whoever consumes the run's outcomes may ``add`` jobs between two of them (from the loop
    body: the executor picks them up when it is resumed). A run ends once the feed is closed and
    every job in it has its outcome; a list given to ``run()`` is a closed feed.
    """

    def __init__(self, jobs: Iterable[Job] = (), *, closed: bool = False):
        self.jobs: list[Job] = list(jobs)
        self.closed = closed
        self._taken = 0

    def add(self, job: Job) -> int:
        if self.closed:
            raise RuntimeError("JobFeed.add after close()")
        self.jobs.append(job)
        return len(self.jobs) - 1

    def close(self) -> None:
        self.closed = True

    def take_new(self) -> list[tuple[int, Job]]:
        """``(index, job)`` for the jobs added since the last call."""
        new = [(index, self.jobs[index]) for index in range(self._taken, len(self.jobs))]
        self._taken = len(self.jobs)
        return new

    def done(self, outcomes: int) -> bool:
        return self.closed and outcomes == len(self.jobs)

    def stalled(self) -> RuntimeError:
        return RuntimeError("the run waits for jobs on an open JobFeed, and nothing is running that could add them")


def as_feed(jobs: Sequence[Job] | JobFeed) -> JobFeed:
    return jobs if isinstance(jobs, JobFeed) else JobFeed(jobs, closed=True)


class Executor(Protocol):
    """Runs jobs and yields ``(index into jobs, outcome)`` as each finishes, in any order."""

    def run(self, jobs: Sequence[Job] | JobFeed) -> Iterator[tuple[int, Outcome]]: ...

    def shutdown(self) -> None: ...


def run_job(runner: Runner, job: Job) -> Outcome:
    try:
        if isinstance(job, MetaTrainJob):
            return runner.run_meta_train(job)
        return runner.run_trial(job)
    except Exception as exc:  # a harness bug: record it on the trial and keep serving
        return Outcome(status=Status.ERROR, error=f"harness: {type(exc).__name__}: {exc}")


def usable_cores() -> list[int]:
    """The cores this process may run on (all of them where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def oversubscribed(workers: int) -> bool:
    """Whether ``workers`` trials, two processes each, leave no core for every process."""
    return 2 * workers > len(usable_cores())


class WarmFirst:
    """Which job each free runner gets next: the earliest planned one among the submissions it
    has warm and those warm nowhere yet.

    Each runner keeps one agent process per submission alive, and starting one (a sandboxed
    interpreter importing torch, SB3, OpenSpiel) costs seconds. Handing jobs out in plan order
    made every runner start every submission: at 2 runners, smoke's 11 baselines were started 22
    times. Here the submissions are shared out among the runners as they first come up, and
    each runner follows the plan's order (its fair interleaving of submissions) within its
    share. A runner with nothing of its own left helps with the submission that has the most
    jobs left, if that is two or more (its own runner takes a last one sooner than a cold start
    would). Both executors use it.
    """

    def __init__(self, slots: int):
        self.warm: list[set[str]] = [set() for _ in range(slots)]
        self.pending: dict[str, collections.deque[tuple[int, Job]]] = {}

    def plan(self, jobs: Sequence[Job]) -> None:
        """The jobs of a new ``run()``; what an abandoned earlier one left is dropped (its
        indices meant that run's list), what is warm where is kept."""
        self.pending = {}
        self.extend(enumerate(jobs))

    def extend(self, items: Iterable[tuple[int, Job]]) -> None:
        """Jobs added to the run, each after those already planned."""
        for item in items:
            self.pending.setdefault(item[1].submission.hash, collections.deque()).append(item)

    def has_pending(self) -> bool:
        return any(self.pending.values())

    def retry(self, index: int, job: Job) -> None:
        self.pending.setdefault(job.submission.hash, collections.deque()).appendleft((index, job))

    def forget(self, slot: int) -> None:
        """The runner in ``slot`` was replaced: nothing is warm on it."""
        self.warm[slot] = set()

    def assign(self, idle: Sequence[int]) -> list[tuple[int, int, Job]]:
        """``(slot, index, job)`` for those of the ``idle`` slots that get a job now."""
        given: list[tuple[int, int, Job]] = []
        for slot in idle:
            waiting = [k for k, queued in self.pending.items() if queued]
            warm_elsewhere = {k for other, warm in enumerate(self.warm) if other != slot for k in warm}
            mine = [k for k in waiting if k in self.warm[slot] or k not in warm_elsewhere]
            if mine:
                key = min(mine, key=lambda k: self.pending[k][0][0])
            else:
                spare = [k for k in waiting if len(self.pending[k]) >= 2]
                if not spare:
                    continue
                key = max(spare, key=lambda k: len(self.pending[k]))
            self.warm[slot].add(key)
            given.append((slot, *self.pending[key].popleft()))
        return given
