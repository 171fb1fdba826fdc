"""The local executor: N runner processes on this machine, each keeping one agent process per
submission alive across trials. With N = 1 the runner lives in the calling process.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from arena.boundary.lifeline import die_with_parent
from arena.harness.executors.dispatch import Job, JobFeed, WarmFirst, as_feed, oversubscribed, run_job, usable_cores
from arena.harness.jobs import Outcome
from arena.harness.limits import Limits
from arena.harness.runner import Runner
from arena.records import Status


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
                    yield lost, Outcome(status=Status.ERROR, error="harness: the runner process died twice on this job")
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
