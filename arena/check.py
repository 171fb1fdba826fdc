"""Conformance checker for submissions, shared by ``arena check`` and the tests; and
:func:`trial_in_process`, the reference a trial through the harness must equal.

Like Gymnasium's ``env_checker``: it either passes or says, in one line per problem, what is
wrong. It validates the manifest, imports the agent in an isolated worker, and runs one real
trial of the ``smoke`` suite with a non-zero budget.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import games
from arena.api import AgentSpec, BudgetExhausted
from arena.envserver import Budget, EnvServer, check_action, fixed
from arena.errors import ArenaError
from arena.proxy import make_proxy, to_wire
from arena.runner import Outcome, Runner, TrialJob, WorkerFailure
from arena.seeding import derive_seed
from arena.submission import Submission, load_submission
from arena.suites import Suite, load_suite


@dataclass
class CheckReport:
    submission: Submission | None = None
    steps: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, passed, detail)
    trial: Outcome | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(passed for _, passed, _ in self.steps)

    def add(self, what: str, passed: bool, detail: str = "") -> None:
        self.steps.append((what, passed, detail))


def smoke_job(submission: Submission, suite: Suite, budget: int | None = None) -> TrialJob:
    """The first dev variant of the suite at its smallest non-zero budget, one seed."""
    variant = suite.variants("dev")[0]
    budgets = [b for b in suite.budgets if b > 0] or [0]
    chosen = budgets[0] if budget is None else budget
    seconds = suite.adapt_seconds[suite.budgets.index(chosen)] if chosen in suite.budgets else 60.0
    return TrialJob(submission, suite, "dev", variant.variant.id, variant.group, chosen, seconds, 0, suite.dev_seed)


def check_submission(path: str | Path, suite_name: str = "smoke") -> CheckReport:
    report = CheckReport()
    try:
        submission = load_submission(path)
    except ArenaError as exc:
        report.add("manifest", False, str(exc))
        return report
    report.submission = submission
    report.add("manifest", True, f"{submission.label}, entry {submission.entry}, hash {submission.hash[:12]}")

    runner = Runner()
    try:
        try:
            worker = runner.worker(submission)
        except WorkerFailure as failure:
            report.add(
                "import in an isolated worker",
                False,
                failure.text.strip().splitlines()[-1] if failure.text.strip() else failure.status,
            )
            return report
        report.add("import in an isolated worker", True, "meta_train defined" if worker.defines_meta_train else "")
        suite = load_suite(suite_name)
        job = smoke_job(submission, suite)
        outcome = runner.run_trial(job)
        report.trial = outcome
        detail = f"{job.variant}, budget {job.budget}: status {outcome.status}, return {outcome.eval_return}, {outcome.steps_used} steps, {outcome.wall_seconds:.2f}s"
        if outcome.status != "ok" and outcome.error:
            detail += f"; {outcome.error.strip().splitlines()[-1]}"
        report.add("smoke trial", outcome.status == "ok" and outcome.steps_used <= job.budget, detail)
    finally:
        runner.close()
    return report


# -- the harness's own check: is the transport transparent? ---------------------------------


class DirectChannel:
    """The proxy's channel without the process boundary: each request goes straight to an
    EnvServer in this process, and its reply comes back as the worker's Channel returns it."""

    def __init__(self, server: EnvServer):
        self.server = server

    def request(self, *message: Any) -> tuple[Any, ...]:
        reply = self.server.handle(message)
        if reply[0] == "exhausted":
            raise BudgetExhausted(reply[1])
        if reply[0] != "ok":
            raise RuntimeError(f"{message[0]}: {reply[1:]}")
        return reply[1:]


def trial_in_process(job: TrialJob) -> list[float]:
    """``Runner.run_trial``'s adaptation and evaluation in this process, for its evaluation
    returns: the worker's proxy envs on a channel that calls the EnvServer directly, then the
    harness's evaluation loop, with the same seeds. Through the harness, a trial must return
    exactly these (given the same torch kernels: see ``Limits.portable_numerics``). The agent
    gets no scratch folder here."""
    module, _, name = job.submission.entry.partition(":")
    sys.modules.pop(module, None)  # every submission's module may be called ``agent``
    sys.path.insert(0, str(job.submission.path))
    try:
        agent_class = getattr(importlib.import_module(module), name)
    finally:
        sys.path.pop(0)
    variant = games.parse_variant(job.variant)
    eval_env = games.make(variant)
    secret = derive_seed(job.secret, job.variant, job.seed)
    spec = AgentSpec(
        eval_env.observation_space,
        eval_env.action_space,
        job.family,
        derive_seed("agent", job.seed) % 2**31,
        budget_steps=job.budget,
        budget_seconds=job.adapt_seconds,
        adapt_budgets=job.suite.budgets,
    )
    agent = agent_class(spec)
    if job.checkpoint:
        agent.load(Path(job.checkpoint))
    server = EnvServer(Budget(job.budget, job.adapt_seconds), fixed(variant), derive_seed(secret, job.budget, "adapt"))
    if job.budget > 0:
        channel = DirectChannel(server)
        num_envs = int(getattr(agent, "num_envs", 1) or 1)  # as arena.worker.run_trial
        handle, obs_space, act_space = channel.request("open", num_envs)
        try:
            agent.adapt(make_proxy(channel, handle, num_envs, obs_space, act_space))  # type: ignore[arg-type]
        except BudgetExhausted:
            pass
    returns: list[float] = []
    reward: float | None = None  # paid for the previous action, across episode ends too
    for episode in range(job.suite.eval_episodes):
        obs, info = eval_env.reset(seed=derive_seed(secret, "eval", episode))
        agent.reset()
        total, done = 0.0, False
        while not done:
            seen = info if reward is None else {**info, "reward": reward}
            action = check_action(eval_env.action_space, to_wire(agent.act(obs, seen)))
            obs, step_reward, terminated, truncated, info = eval_env.step(action)
            reward = float(step_reward)
            total += reward
            done = terminated or truncated
        returns.append(total)
    return returns
