"""Executors: where jobs (trials, meta-training) run. Each yields ``(index, outcome)`` as jobs finish.

``local`` (default) runs N runner processes on this machine, each keeping one agent worker per
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
from typing import Any, Protocol

from arena.runner import Limits, MetaTrainJob, Outcome, Runner, TrialJob
from arena.worker import die_with_parent

Job = TrialJob | MetaTrainJob


class Executor(Protocol):
    """Runs jobs and yields ``(index into jobs, outcome)`` as each finishes, in any order."""

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Outcome]]: ...

    def shutdown(self) -> None: ...


def run_job(runner: Runner, job: Job) -> Outcome:
    try:
        if isinstance(job, MetaTrainJob):
            return runner.run_meta_train(job)
        return runner.run_trial(job)
    except Exception as exc:  # a harness bug: record it on the trial and keep serving
        return Outcome(status="error", error=f"harness: {type(exc).__name__}: {exc}")


def _runner_main(jobs: Any, results: Any, limits: Limits, parent: int, cpu: int | None = None) -> None:
    die_with_parent()
    if os.getppid() != parent:
        return  # the driver died while this process was still importing: nobody to serve
    if cpu is not None:
        # This runner and the agent workers it starts (they inherit it) share one core: the two
        # pass the turn back and forth, and a hand-over within one core is a plain context
        # switch (~30 µs a round trip here) where one across cores waits for a cross-core
        # wake-up (~110-140 µs on this VM). Each pair keeps to its core, the pairs run side by side.
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how Ctrl-C ends a run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind so workers and scratch go too
    runner = Runner(limits)
    try:
        while True:
            item = jobs.get()
            if item is None:
                return
            index, job = item
            results.put(("taken", index, os.getpid()))  # the driver requeues it if this process dies
            results.put(("done", index, run_job(runner, job)))
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
        self._jobs: Any = None
        self._results: Any = None

    def _spawn(self, slot: int) -> Any:
        # Spawned, not forked: the driver has threads (progress bar) that fork would copy mid-lock.
        cpu = self._cpus[slot % len(self._cpus)] if self._cpus else None
        proc = mp.get_context("spawn").Process(
            target=_runner_main, args=(self._jobs, self._results, self.limits, os.getpid(), cpu), daemon=True
        )
        proc.start()
        return proc

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Outcome]]:
        if not jobs:
            return
        if self.workers == 1:
            if self._runner is None:
                self._runner = Runner(self.limits)
            for index, job in enumerate(jobs):
                yield index, run_job(self._runner, job)
            return
        if not self._procs:
            ctx = mp.get_context("spawn")
            self._jobs, self._results = ctx.Queue(), ctx.Queue()
            self._procs = [self._spawn(slot) for slot in range(self.workers)]
        for item in enumerate(jobs):
            self._jobs.put(item)
        taken: dict[int, int] = {}  # runner pid -> index of the job it is running
        retried: set[int] = set()
        received = 0
        while received < len(jobs):
            for lost in self._replace_dead_runners(taken):
                if lost in retried:  # it died twice: blame the job, not the machine
                    received += 1
                    yield lost, Outcome(status="error", error="harness: the runner process died twice on this job")
                else:
                    retried.add(lost)
                    self._jobs.put((lost, jobs[lost]))
            try:
                kind, index, payload = self._results.get(timeout=1)
            except queue.Empty:
                continue
            if kind == "taken":
                taken[payload] = index
                continue
            taken = {pid: i for pid, i in taken.items() if i != index}
            received += 1
            yield index, payload

    def _replace_dead_runners(self, taken: dict[int, int]) -> list[int]:
        """Start a new runner for each dead one; returns the jobs that died with them."""
        lost = []
        for n, proc in enumerate(self._procs):
            if not proc.is_alive():
                proc.join()
                if proc.pid in taken:
                    lost.append(taken.pop(proc.pid))
                self._procs[n] = self._spawn(n)
        return lost

    def shutdown(self) -> None:
        # Jobs still queued (after Ctrl-C, say) are dropped: their trials stay unstored and rerun later.
        while self._procs:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self._procs:
            self._jobs.put(None)
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
