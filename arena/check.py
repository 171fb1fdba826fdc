"""Conformance checker for submissions, shared by ``arena check`` and the tests.

Like Gymnasium's ``env_checker``: it either passes or says, in one line per problem, what is
wrong. It validates the manifest, imports the agent in an isolated worker, and runs one real
trial of the ``smoke`` suite with a non-zero budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError
from arena.harness.jobs import AgentFailure, Outcome, TrialJob
from arena.harness.runner import Runner
from arena.records import Status
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
    return TrialJob(
        submission=submission,
        suite=suite,
        split="dev",
        variant=variant.variant.id,
        group=variant.group,
        budget=chosen,
        adapt_seconds=seconds,
        seed=0,
        split_seed=suite.dev_seed,
    )


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
            agent = runner.agent(submission)
        except AgentFailure as failure:
            report.add(
                "import in an isolated worker",
                False,
                failure.text.strip().splitlines()[-1] if failure.text.strip() else failure.status,
            )
            return report
        report.add("import in an isolated worker", True, "meta_train defined" if agent.defines_meta_train else "")
        suite = load_suite(suite_name)
        job = smoke_job(submission, suite)
        outcome = runner.run_trial(job)
        report.trial = outcome
        detail = f"{job.variant}, budget {job.budget}: status {outcome.status}, return {outcome.eval_return}, {outcome.steps_used} steps, {outcome.wall_seconds:.2f}s"
        if outcome.status != Status.OK and outcome.error:
            detail += f"; {outcome.error.strip().splitlines()[-1]}"
        report.add("smoke trial", outcome.status == Status.OK and outcome.steps_used <= job.budget, detail)
    finally:
        runner.close()
    return report
