"""Executors: where jobs (trials, meta-training) run. Each yields ``(index, outcome)`` as jobs finish.

``local`` (default) runs N runner processes on this machine, each keeping one agent worker per
submission alive across trials. With N = 1 the runner lives in the calling process.

A run's jobs are a list, or a :class:`JobFeed` that the consumer of the outcomes extends while
the run goes on: a campaign adds a (submission, family)'s trials as soon as its meta-training
has ended, so no runner idles at a barrier between the two phases.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Protocol

from arena.runner import Limits, MetaTrainJob, Outcome, Runner, TrialJob
from arena.worker import die_with_parent

Job = TrialJob | MetaTrainJob


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
        return Outcome(status="error", error=f"harness: {type(exc).__name__}: {exc}")


def _runner_main(inbox: Any, results: Any, limits: Limits, parent: int, slot: int, cpu: int | None = None) -> None:
    die_with_parent()
    if os.getppid() != parent:
        return  # the driver died while this process was still importing: nobody to serve
    if cpu is not None:
        # This runner and the agent workers it starts (they inherit it) share one core: the two
        # pass the turn back and forth, and a hand-over within one core is a plain context
        # switch (a lane round trip of ~19 µs here) where one across cores waits for a
        # cross-core wake-up (~52 µs on this VM). Each pair keeps to its core, the pairs run
        # side by side.
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how Ctrl-C ends a run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind so workers and scratch go too
    runner = Runner(limits)
    try:
        while True:
            item = inbox.get()
            if item is None:
                return
            index, job = item
            results.put((slot, index, run_job(runner, job)))
    finally:
        runner.close()


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

    Each runner keeps one agent worker per submission alive, and starting one (a sandboxed
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


class LocalExecutor:
    """N runner processes, started on first use and kept until ``shutdown()``: one executor
    serves a run's meta-training and its trials with the same warm agent workers."""

    def __init__(self, workers: int = 1, limits: Limits | None = None):
        self.workers = max(1, workers)
        self.limits = limits or Limits()
        self._cpus: list[int] = []
        if oversubscribed(self.workers):
            # Each trial is two processes (harness runner, agent) passing the turn back and forth.
            # While each has a core of its own, the waiting one spins. Without that, spinning
            # steals the peer's core (classic-v1 at 2 workers took 38.8 s with it, 20.0 s
            # without), so the waiting one sleeps, and each pair is pinned to one core where a
            # hand-over costs a context switch rather than a cross-core wake-up (see _runner_main).
            # Yielding instead of sleeping was tried: PPO trials slowed by half (1.67 s vs 1.13 s).
            self.limits = replace(self.limits, spin_seconds=0.0)
            self._cpus = usable_cores()
        self._runner: Runner | None = None
        self._procs: list[Any] = []
        self._inboxes: list[Any] = []
        self._results: Any = None
        self._dispatch = WarmFirst(self.workers)

    def _spawn(self, slot: int) -> Any:
        # Spawned, not forked: the driver has threads (progress bar) that fork would copy mid-lock.
        cpu = self._cpus[slot % len(self._cpus)] if self._cpus else None
        proc = mp.get_context("spawn").Process(
            target=_runner_main,
            args=(self._inboxes[slot], self._results, self.limits, os.getpid(), slot, cpu),
            daemon=True,
        )
        proc.start()
        return proc

    def run(self, jobs: Sequence[Job] | JobFeed) -> Iterator[tuple[int, Outcome]]:
        feed = as_feed(jobs)
        if feed.done(0):
            return
        if self.workers == 1:
            if self._runner is None:
                self._runner = Runner(self.limits)
            index = 0
            while not feed.done(index):
                if index == len(feed.jobs):
                    raise feed.stalled()
                yield index, run_job(self._runner, feed.jobs[index])
                index += 1
            return
        if not self._procs:
            ctx = mp.get_context("spawn")
            self._inboxes = [ctx.Queue() for _ in range(self.workers)]
            self._results = ctx.Queue()
            self._procs = [self._spawn(slot) for slot in range(self.workers)]
        dispatch = self._dispatch
        dispatch.plan(())
        running: dict[int, int] = {}  # slot -> index of the job its runner is running
        retried: set[int] = set()
        received = 0
        while not feed.done(received):
            # One job in flight per runner: the driver, knowing what each runner has warm,
            # decides what it runs next (and what to run again if it dies).
            dispatch.extend(feed.take_new())
            if not running and not dispatch.has_pending():
                raise feed.stalled()
            idle = [slot for slot in range(self.workers) if slot not in running]
            for slot, index, job in dispatch.assign(idle):
                running[slot] = index
                self._inboxes[slot].put((index, job))
            for slot in self._replace_dead_runners():
                lost = running.pop(slot, None)
                if lost is None:
                    continue
                if lost in retried:  # it died twice: blame the job, not the machine
                    received += 1
                    yield lost, Outcome(status="error", error="harness: the runner process died twice on this job")
                else:
                    retried.add(lost)
                    dispatch.retry(lost, feed.jobs[lost])
            try:
                slot, index, outcome = self._results.get(timeout=1)
            except queue.Empty:
                continue
            if running.get(slot) != index:
                continue  # from a runner since replaced, whose job went to another
            del running[slot]
            received += 1
            yield index, outcome

    def _replace_dead_runners(self) -> list[int]:
        """Start a new runner in each dead one's slot; returns those slots."""
        replaced = []
        for slot, proc in enumerate(self._procs):
            if not proc.is_alive():
                proc.join()
                self._procs[slot] = self._spawn(slot)
                self._dispatch.forget(slot)
                replaced.append(slot)
        return replaced

    def shutdown(self) -> None:
        # Jobs not yet handed out (after Ctrl-C, say) are dropped: their trials stay unstored and rerun later.
        self._dispatch = WarmFirst(self.workers)
        for inbox in self._inboxes[: len(self._procs)]:
            inbox.put(None)
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
        self._procs = []
        if self._runner is not None:
            self._runner.close()
            self._runner = None


EXECUTORS = ("local", "ray")


def make_executor(name: str, workers: int, limits: Limits | None = None, address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(workers, limits)
    if name == "ray":
        from arena.ray_executor import RayExecutor  # optional: pip install meta-arena[ray]

        return RayExecutor(workers, limits, address)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
