"""A runner: runs trials and meta-training jobs one at a time, through the trial procedure, with
one warm agent process per submission.

A :class:`Runner` keeps one agent process per submission alive across trials (importing torch
once, not per trial) and replaces it after any job that did not end ``ok``. Every failure of the
agent becomes a status on the job's outcome; nothing the agent does raises out of here. An
executor (:mod:`arena.harness.executors`) runs several runners side by side.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable

from arena.harness import trial
from arena.harness.agent_process import AgentProcess
from arena.harness.gateway import Model
from arena.harness.jobs import AgentFailure, MetaTrainJob, Outcome, TrialJob
from arena.harness.limits import Limits
from arena.harness.scratch import scratch_root, sweep_stale_scratch
from arena.records import Status
from arena.submission import Submission


class Runner:
    """Runs jobs, reusing one agent process per submission."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.agents: dict[str, AgentProcess] = {}
        self.models: dict[tuple[str, str], Model] = {}
        sweep_stale_scratch()

    def agent(self, submission: Submission) -> AgentProcess:
        """The submission's warm agent process, started (or replaced, if it died) when needed."""
        agent = self.agents.get(submission.hash)
        if agent is not None and agent.alive:
            return agent
        if agent is not None:
            agent.kill()
        agent = AgentProcess(submission, self.limits)
        self.agents[submission.hash] = agent
        agent.start()
        return agent

    def discard(self, submission: Submission) -> None:
        """Kill the submission's agent process: after a failure its state is not to be trusted."""
        agent = self.agents.pop(submission.hash, None)
        if agent is not None:
            agent.kill()

    def close(self) -> None:
        for agent in self.agents.values():
            agent.kill()
        self.agents.clear()
        with contextlib.suppress(OSError):
            scratch_root().rmdir()  # empty unless another Runner in this process is still working

    def defines_meta_train(self, submission: Submission) -> bool:
        return self.agent(submission).defines_meta_train

    def model(self, job: TrialJob) -> Model | None:
        """A text suite's language model, as the job names it: one client per server, kept."""
        if not job.suite.text or not job.llm_url:
            return None
        key = (job.llm_url, job.model)
        if key not in self.models:
            from arena.llm import open_model  # only the text track needs it

            self.models[key] = open_model(job.llm_url, job.model)
        return self.models[key]

    def run_trial(self, job: TrialJob) -> Outcome:
        def body(agent: AgentProcess, outcome: Outcome, started: float) -> None:
            trial.run_trial(agent, job, outcome, started, self.limits.setup_seconds, self.model(job))

        return self._run(job.submission, body)

    def run_meta_train(self, job: MetaTrainJob) -> Outcome:
        def body(agent: AgentProcess, outcome: Outcome, started: float) -> None:
            if not agent.defines_meta_train:
                outcome.status = Status.SKIPPED  # its wall time is often that of starting the agent
            else:
                trial.run_meta_train(agent, job, outcome, self.limits.setup_seconds)

        return self._run(job.submission, body)

    def _run(self, submission: Submission, body: Callable[[AgentProcess, Outcome, float], None]) -> Outcome:
        """A job on the submission's agent process; an agent failure becomes the job's status
        and costs the agent process (what it earned before failing is not kept)."""
        started = time.monotonic()
        outcome = Outcome(status=Status.OK, node=platform.node())
        try:
            agent = self.agent(submission)
            outcome.worker_pid = agent.pid
            outcome.memory_cap = agent.cap.kind
            body(agent, outcome, started)
        except AgentFailure as failure:
            outcome.status, outcome.error = failure.status, failure.text
            outcome.eval_return, outcome.episode_returns = None, []
            self.discard(submission)
        outcome.wall_seconds = round(time.monotonic() - started, 4)
        return outcome
