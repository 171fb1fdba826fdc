"""Conformance checker for submissions, shared by ``arena check`` and the tests.

Like Gymnasium's ``env_checker``: it either passes or says, per problem, what is wrong. The
manifest is read first (a broken one is an :class:`~arena.errors.ArenaError`: one line, exit 2);
then the agent is imported in an isolated worker and runs what ``arena run`` would run, small:
its meta-training where the suite meta-trains, and on one variant of each family group it plays
(the families its manifest names, else the suite's, else one family of every group) a trial at
budget 0, where ``adapt`` is not called, and one at the suite's smallest non-zero budget.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import games
from arena.harness import environments
from arena.harness.jobs import AgentFailure, MetaTrainJob, Outcome, TrialJob
from arena.harness.runner import Runner
from arena.records import Status
from arena.submission import Submission, load_submission
from arena.suites import Suite, load_suite

# One family stands for its group (the games' registry's groups) when nothing names families.
REPRESENTATIVES = {"classic": "cartpole", "openspiel": "catch", "pettingzoo": "rps", "metarl": "bandit"}
CHECK_META_TRAIN_STEPS = 2000  # meta-training here shows that it runs, saves and loads; not that it learns
TAIL_LINES = 8
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)')
_HARNESS_PARTS = ("/arena/worker/", "/arena/harness/", "/arena/boundary/", "<frozen ", "/importlib/")


@dataclass
class Step:
    what: str
    passed: bool
    detail: str = ""
    tail: str = ""  # the useful end of a traceback, shown under a failed step


@dataclass
class CheckReport:
    submission: Submission | None = None
    steps: list[Step] = field(default_factory=list)
    trials: list[tuple[TrialJob, Outcome]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.passed for step in self.steps)

    def add(self, what: str, passed: bool, detail: str = "", tail: str = "") -> None:
        self.steps.append(Step(what, passed, detail, tail))


# -- tracebacks ------------------------------------------------------------------------------------


def _in_agent_code(line: str) -> bool:
    match = _FRAME.match(line)
    return match is not None and not any(part in match["path"] for part in _HARNESS_PARTS)


def error_tail(text: str, max_lines: int = TAIL_LINES) -> str:
    """The end of a traceback that says where the agent failed: from its own second-to-last
    frame (the harness's and importlib's frames dropped) to the exception, at most ``max_lines``."""
    lines = [line for line in text.rstrip().splitlines() if line.strip()]
    frames = [i for i, line in enumerate(lines) if _in_agent_code(line)]
    start = frames[-2] if len(frames) > 1 else (frames[-1] if frames else 0)
    return "\n".join(lines[start:][-max_lines:])


def error_summary(text: str | None) -> str:
    """One line: the exception, and the file and line of the agent's code it came from."""
    lines = [line for line in (text or "").rstrip().splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1].strip()
    frames = [_FRAME.match(line) for line in lines if _in_agent_code(line)]
    if frames and frames[-1] is not None:
        last += f" ({frames[-1]['path']}, line {frames[-1]['line']})"
    return last


# -- what to run -----------------------------------------------------------------------------------


def check_families(submission: Submission, suite: Suite | None) -> list[str]:
    """One family per group among those the submission plays: its manifest's families, else the
    suite's (when one is given), else every group's representative."""
    registry = games.families()
    if submission.families:
        candidates = list(submission.families)
    elif suite is not None:
        candidates = [plan.family for plan in suite.families]
    else:
        candidates = list(REPRESENTATIVES.values())
    chosen: dict[str, str] = {}
    for family in sorted(candidates, key=lambda f: (REPRESENTATIVES.get(registry[f].group) != f, f)):
        chosen.setdefault(registry[family].group, family)
    return [chosen[group] for group in sorted(chosen)]


def check_variant(suite: Suite, family: str) -> tuple[str, str]:
    """The variant a family is checked on: the suite's first dev variant of it, else its default."""
    for tv in suite.variants("dev"):
        if tv.family == family:
            return tv.variant.id, tv.group
    return games.Variant.of(family).id, "interpolation"


def check_budgets(suite: Suite) -> list[tuple[int, float]]:
    """Budget 0 (``adapt`` is not called) and the suite's smallest non-zero budget, with seconds."""
    seconds = dict(zip(suite.budgets, suite.adapt_seconds, strict=True))
    positive = sorted(b for b in suite.budgets if b > 0) or [500]
    return [(0, seconds.get(0, 10.0)), (positive[0], seconds.get(positive[0], 30.0))]


def small_meta_training(suite: Suite) -> Suite:
    """The suite with meta-training capped at :data:`CHECK_META_TRAIN_STEPS` steps per family."""
    plans = tuple(
        dataclasses.replace(p, meta_train_steps=min(suite.meta_train_steps_of(p.family), CHECK_META_TRAIN_STEPS))
        for p in suite.families
    )
    return dataclasses.replace(
        suite, meta_train_steps=min(suite.meta_train_steps, CHECK_META_TRAIN_STEPS), families=plans
    )


def check_jobs(submission: Submission, suite: Suite, family: str, checkpoint: str | None) -> list[TrialJob]:
    variant, group = check_variant(suite, family)
    return [
        TrialJob(
            submission=submission,
            suite=suite,
            split="dev",
            variant=variant,
            group=group,
            budget=budget,
            adapt_seconds=seconds,
            seed=0,
            split_seed=suite.dev_seed,
            checkpoint=checkpoint,
        )
        for budget, seconds in check_budgets(suite)
    ]


# -- the check -------------------------------------------------------------------------------------


def check_submission(path: str | Path, suite_name: str | None = None) -> CheckReport:
    """Check a submission folder; a broken manifest raises ArenaError (one line)."""
    report = CheckReport()
    submission = load_submission(path)
    report.add("manifest", True, f"{submission.label}, entry {submission.entry}")
    if submission.requirements:  # built (or found in the cache) as `arena run` builds it; a failure is one line
        submission = environments.prepare(submission)
        report.add("requirements installed, wheels only", True, environments.describe(submission))
    report.submission = submission
    report.add("identity", True, f"hash {submission.hash[:12]}")
    # A language-model agent plays text suites only: it is checked on the text suite, with the
    # embedded model.
    suite = small_meta_training(load_suite(suite_name or ("text-v1" if submission.llm else "smoke")))
    model = _check_model(report, suite)
    if suite.text and model is None:
        return report
    runner = Runner()
    checkpoints = Path(tempfile.mkdtemp(prefix="arena-check-"))
    try:
        try:
            agent = runner.agent(submission)
        except AgentFailure as failure:
            report.add("import in an isolated worker", False, error_summary(failure.text) or str(failure.status),
                       error_tail(failure.text))  # fmt: skip
            return report
        meta = agent.defines_meta_train
        report.add("import in an isolated worker", True, "meta_train defined" if meta else "")
        for family in check_families(submission, suite if suite_name else None):
            checkpoint = _meta_train(report, runner, submission, suite, family, checkpoints) if meta else None
            if checkpoint == "failed":
                continue
            for job in check_jobs(submission, suite, family, checkpoint):
                if model is not None:
                    job = dataclasses.replace(job, model=model.name, llm_url=model.url)
                _trial(report, runner, job)
    finally:
        runner.close()
        if model is not None:
            model.close()
        shutil.rmtree(checkpoints, ignore_errors=True)
    return report


def _check_model(report: CheckReport, suite: Suite) -> Any:
    """A text suite's embedded model for the check's trials (None elsewhere, or when it cannot start)."""
    if not suite.text:
        return None
    try:
        from arena.llm import EmbeddedModel, ModelError
    except ImportError as exc:
        report.add("the text track's model", False, f"the llm extra is not installed: {exc}")
        return None
    try:
        model = EmbeddedModel(threads=1)
    except ModelError as exc:
        report.add("the text track's model", False, str(exc))
        return None
    report.add("the text track's model", True, f"{model.name}, embedded")
    return model


def _meta_train(
    report: CheckReport, runner: Runner, submission: Submission, suite: Suite, family: str, root: Path
) -> str | None:
    """Meta-train on the family's train variants, as ``arena run`` would; the checkpoint folder,
    None where the suite does not meta-train it, or "failed"."""
    if suite._own(family) is None or suite.meta_train_steps_of(family) <= 0:
        return None
    job = MetaTrainJob(submission=submission, suite=suite, family=family, checkpoint=str(root / family))
    Path(job.checkpoint).mkdir(parents=True, exist_ok=True)
    outcome = runner.run_meta_train(job)
    what = f"meta-training on {family} ({suite.meta_train_steps_of(family)} steps)"
    if outcome.status != Status.OK:
        report.add(
            what, False, f"status {outcome.status}: {error_summary(outcome.error)}", error_tail(outcome.error or "")
        )
        return "failed"
    report.add(what, True, f"{outcome.steps_used} steps, {outcome.wall_seconds:.1f}s, checkpoint saved")
    return job.checkpoint


def _trial(report: CheckReport, runner: Runner, job: TrialJob) -> None:
    outcome = runner.run_trial(job)
    report.trials.append((job, outcome))
    group = games.get_family(job.family).group
    what = f"trial at budget {job.budget} on {job.variant} ({group})"
    if job.budget == 0:
        what += ", adapt() not called"
    passed = outcome.status == Status.OK and outcome.steps_used <= job.budget
    if passed:
        detail = f"return {outcome.eval_return:g}, {outcome.steps_used} steps, {outcome.wall_seconds:.2f}s"
        report.add(what, True, detail)
        return
    detail = f"status {outcome.status}"
    if outcome.error:
        detail += f": {error_summary(outcome.error)}"
    report.add(what, False, detail, error_tail(outcome.error or ""))
