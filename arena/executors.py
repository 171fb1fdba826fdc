"""Executors: where jobs (trials, meta-training) run. Each yields ``(index, outcome)`` as jobs finish.

``local`` (default) runs N runner processes on this machine, each keeping one agent worker per
submission alive across trials. With N = 1 the runner lives in the calling process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from arena.runner import Limits, MetaTrainJob, Outcome, Runner, TrialJob
from arena.worker import die_with_parent

Job = TrialJob | MetaTrainJob


def run_job(runner: Runner, job: Job) -> Outcome:
    if isinstance(job, MetaTrainJob):
        return runner.run_meta_train(job)
    return runner.run_trial(job)


def _runner_main(jobs: Any, results: Any, limits: Limits) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides how Ctrl-C ends a run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind so workers and scratch go too
    runner = Runner(limits)
    try:
        while True:
            item = jobs.get()
            if item is None:
                return
            index, job = item
            try:
                outcome = run_job(runner, job)
            except Exception as exc:  # a harness bug: record it on the trial, keep serving
                outcome = Outcome(status="error", error=f"harness: {type(exc).__name__}: {exc}")
            results.put((index, outcome))
    finally:
        runner.close()


class LocalExecutor:
    def __init__(self, workers: int = 1, limits: Limits | None = None):
        self.workers = max(1, workers)
        self.limits = limits or Limits()
        self._runner: Runner | None = None
        self._procs: list[Any] = []

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Outcome]]:
        if not jobs:
            return
        if self.workers == 1 or len(jobs) == 1:
            if self._runner is None:
                self._runner = Runner(self.limits)
            for index, job in enumerate(jobs):
                yield index, run_job(self._runner, job)
            return
        # Spawned, not forked: the driver has threads (progress bar) that fork would copy mid-lock.
        ctx = mp.get_context("spawn")
        job_queue: Any = ctx.Queue()
        result_queue: Any = ctx.Queue()
        n = min(self.workers, len(jobs))
        for item in enumerate(jobs):
            job_queue.put(item)
        for _ in range(n):
            job_queue.put(None)
        self._procs = [
            ctx.Process(target=_runner_main, args=(job_queue, result_queue, self.limits), daemon=True) for _ in range(n)
        ]
        for proc in self._procs:
            proc.start()
        received = 0
        try:
            while received < len(jobs):
                try:
                    index, outcome = result_queue.get(timeout=5)
                except queue.Empty:
                    if not any(p.is_alive() for p in self._procs):
                        raise RuntimeError("every runner process died; see the messages above") from None
                    continue
                received += 1
                yield index, outcome
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
        self._procs = []
        if self._runner is not None:
            self._runner.close()
            self._runner = None


EXECUTORS = ("local",)


def make_executor(name: str, workers: int, limits: Limits | None = None) -> LocalExecutor:
    if name == "local":
        return LocalExecutor(workers, limits)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
