"""A trial in this process, without the sandbox: the reference a trial through the harness must
equal, and a way to debug an agent with breakpoints.

The trial procedure (:mod:`arena.harness.trial`) drives an :class:`InProcessAgent`: the agent
process's own command handling (:class:`arena.worker.host.AgentHost`) called directly, its proxy
envs answered by the harness's :class:`~arena.harness.envserver.EnvServer` in this process. The
seeds, the budget and the evaluation are the trial's own, so the returns are exactly those of
the same trial through a runner (given the same math kernels: see
``arena.harness.limits.portable_numerics_env``). The agent gets no scratch folder here.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arena.api import Agent, AgentSpec
from arena.boundary.protocol import Kind
from arena.harness import trial
from arena.harness.checkpoints import check_destination
from arena.harness.envserver import EnvServer
from arena.harness.gateway import Gateway, Model
from arena.harness.jobs import Outcome, TrialJob
from arena.records import Status
from arena.submission import Submission
from arena.worker.host import AgentHost, load_entry
from arena.worker.proxy import result


class DirectRequests:
    """The proxies' requests, answered by an env server in this process."""

    def __init__(self, server: EnvServer):
        self.server = server

    def request(self, *message: Any) -> tuple[Any, ...]:
        return result(trial.answer(self.server, message))


class InProcessAgent:
    """The trial procedure's AgentEndpoint for an agent class loaded into this process."""

    def __init__(self, agent_class: type[Agent]):
        self.host = AgentHost(agent_class)
        self._command: Any = None
        self._saved: Path | None = None

    def begin_trial(self, spec: AgentSpec, checkpoint: str | None) -> None:
        self._command = lambda requests: self.host.trial(spec, checkpoint, requests)

    def begin_meta_train(self, spec: AgentSpec) -> None:
        saved = self._saved = Path(tempfile.mkdtemp(prefix="arena-inprocess-"))
        self._command = lambda requests: self.host.meta_train(spec, str(saved), requests)

    def serve(self, server: EnvServer, until: Kind, deadline: float, phase: str) -> float:
        first = time.monotonic()
        self._command(DirectRequests(server))
        return first

    def act(
        self,
        new_episode: bool,
        observation: Any,
        info: dict[str, Any],
        reward: float,
        deadline: float,
        gateway: Gateway | None = None,
    ) -> Any:
        # The agent's model calls reach ``gateway`` through the adaptation server it holds.
        return self.host.act(new_episode, observation, info, reward)

    def end_trial(self) -> None:
        self.host.agent = None

    def finish_meta_train(self, destination: Path) -> None:
        assert self._saved is not None
        check_destination(destination)
        shutil.rmtree(destination, ignore_errors=True)
        shutil.copytree(self._saved, destination)
        shutil.rmtree(self._saved, ignore_errors=True)


def load_agent_class(submission: Submission) -> type[Agent]:
    """The submission's agent class, imported afresh (every submission's module may be ``agent``)."""
    sys.modules.pop(submission.entry.partition(":")[0], None)
    folder = str(submission.path)
    try:
        return load_entry(folder, submission.entry)
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def run_trial(job: TrialJob, model: Model | None = None) -> Outcome:
    """One trial in this process; agent exceptions propagate (breakpoints and tracebacks work).
    ``model``: a text suite's language model."""
    started = time.monotonic()
    outcome = Outcome(status=Status.OK)
    agent = InProcessAgent(load_agent_class(job.submission))
    trial.run_trial(agent, job, outcome, started, setup_seconds=0.0, model=model)
    outcome.wall_seconds = round(time.monotonic() - started, 4)
    return outcome


def trial_in_process(job: TrialJob) -> list[float]:
    """The evaluation returns of :func:`run_trial`: what the same trial through a runner must return."""
    return run_trial(job).episode_returns


def play_episodes(agent: Agent, env: Any, episodes: int, seed: int) -> float:
    """The total reward of ``episodes`` episodes of ``env`` played by ``agent`` through ``act`` as
    a trial's evaluation hands them over (``reset()`` before each, what the previous step paid in
    ``info["reward"]``, also across an episode's end), episode ``i`` reset with ``seed + i``.
    No harness: no budget, no proxy, no trial seeds; what the reference agents' tuning scripts
    and their tests play, at the speed of the agent and the env alone."""
    total, reward = 0.0, None
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        agent.reset()
        done = False
        while not done:
            action = agent.act(obs, info if reward is None else {**info, "reward": reward})
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
    return total
