"""A run of submissions on a suite split: plan the trials, skip stored ones, execute, store.

The orchestration above the harness and the store (suite → variants → trials → store): it plans
:class:`~arena.harness.jobs.TrialJob` s from the suite, hands them to an executor, and turns each
outcome into a :class:`~arena.records.TrialRecord`.

Meta-training happens once per (submission, suite version, family), when the suite has a
meta-train budget and the agent defines ``meta_train``; its checkpoint is loaded before every
trial of that family, and those trials start as soon as it has ended. Each finished trial is committed on its own, so an interrupted run resumes
where it stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import replace as replace_record
from pathlib import Path

import arena
import games
from arena.errors import ArenaError
from arena.harness import devices
from arena.harness.executors import Executor, JobFeed
from arena.harness.jobs import MetaTrainJob, Outcome, TrialJob
from arena.records import MetaTrainRecord, Provenance, Status, SubmissionRecord, TrialRecord
from arena.store import Store
from arena.submission import Submission
from arena.suites import Suite

FAILED_META = "meta-training failed"


@dataclass
class RunSummary:
    planned: int = 0
    already_stored: int = 0
    ran: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    interrupted: bool = False


def split_seed(suite: Suite, split: str, test_seed: int | None) -> int:
    """The seed a split's variants and env seeds derive from: public for dev, secret for test."""
    if split == "dev":
        return suite.dev_seed
    if split == "test":
        if test_seed is None:
            raise ValueError("the test split needs the secret seed")
        return test_seed
    return 0


MetaKey = tuple[str, str, int]  # (submission hash, family, meta-training seed)


def checkpoint_dir(store: Store, submission: Submission, suite: Suite, family: str, meta_train_seed: int = 0) -> Path:
    root = store.path.parent / f"{store.path.stem}.checkpoints"
    folder = root / submission.hash[:16] / suite.id / family
    return folder / f"seed-{meta_train_seed}" if suite.meta_train_seeds else folder


def provenance(suite: Suite, split: str, test_seed: int | None) -> Provenance:
    """Official only on the test split with the seed whose sha256 the suite publishes."""
    if split != "test" or test_seed is None or not suite.test_seed_sha256:
        return Provenance.HARNESS
    matches = hashlib.sha256(str(test_seed).encode()).hexdigest() == suite.test_seed_sha256
    return Provenance.OFFICIAL if matches else Provenance.HARNESS


@dataclass(frozen=True)
class ModelEndpoint:
    """A text suite's language model: its name (a key part of every trial and board) and the
    OpenAI-compatible server the runners reach it at."""

    url: str
    name: str


def plan_trials(
    submissions: Sequence[Submission],
    suite: Suite,
    split: str,
    test_seed: int | None = None,
    model: ModelEndpoint | None = None,
) -> list[TrialJob]:
    """Every trial of the split, submissions interleaved so that each advances at the same pace.
    A language-model agent plays text suites only; on a text suite every trial names ``model``."""
    seed_of_split = split_seed(suite, split, test_seed)
    per_submission = []
    text_model = model if suite.text and model is not None else ModelEndpoint("", "")
    for submission in submissions:
        if submission.llm and not suite.text:
            continue
        # A reference agent plays the families it is a reference for (Thompson sampling has
        # nothing to say about an MDP); a ranked agent plays them all, whatever it declares.
        plays = set(submission.families) if submission.kind == "reference" and submission.families else None
        jobs = [
            TrialJob(
                submission=submission,
                suite=suite,
                split=split,
                variant=tv.variant.id,
                group=tv.group,
                budget=budget,
                adapt_seconds=seconds,
                seed=seed,
                split_seed=seed_of_split,
                meta_train_seed=meta_train_seed,
                model=text_model.name,
                llm_url=text_model.url,
            )
            for tv in suite.variants(split, None if split == "dev" else seed_of_split)  # type: ignore[arg-type]
            if plays is None or tv.family in plays
            for budget, seconds in zip(suite.budgets, suite.adapt_seconds, strict=True)
            for seed in range(suite.seeds)
            for meta_train_seed in suite.meta_train_seed_list()
        ]
        per_submission.append(jobs)
    interleaved = [job for group in itertools.zip_longest(*per_submission) for job in group if job is not None]
    gpus = devices.gpu_count()
    return [
        replace(job, device=devices.assign(job.submission.device == "auto", index, gpus))
        for index, job in enumerate(interleaved)
    ]


def trial_record(job: TrialJob, outcome: Outcome, origin: Provenance = Provenance.HARNESS) -> TrialRecord:
    variant = games.parse_variant(job.variant)
    ok = outcome.status == Status.OK
    return TrialRecord(
        submission_hash=job.submission.hash,
        suite=job.suite.name,
        suite_version=job.suite.version,
        split=job.split,
        variant=job.variant,
        budget=job.budget,
        seed=job.seed,
        submission=job.submission.name,
        submission_version=job.submission.version,
        family=job.family,
        variant_group=job.group,
        status=outcome.status,
        eval_return=outcome.eval_return,
        normalized_score=job.suite.normalized(variant, outcome.eval_return if ok else None),
        episode_returns=tuple(outcome.episode_returns),
        steps_used=outcome.steps_used,
        wall_seconds=outcome.wall_seconds,
        adapt_seconds=outcome.adapt_seconds,
        error=outcome.error,
        arena_version=arena.__version__,
        meta_train_seed=job.meta_train_seed,
        model=job.model,
        adapt_return=outcome.adapt_return,
        online_score=job.suite.online(
            variant, outcome.adapt_return if ok else None, outcome.steps_used, outcome.episode_returns
        ),
        success_rate=outcome.success_rate if ok else None,
        device=outcome.device or job.device,
        node=outcome.node,
        provenance=origin,
        memory_cap=outcome.memory_cap,
        tokens_used=outcome.tokens_used,
        llm_calls=outcome.llm_calls,
        unparsable_answers=outcome.answers.count,
        illegal_answers=tuple(outcome.answers.first),
    )


def submission_record(submission: Submission) -> SubmissionRecord:
    return SubmissionRecord(
        hash=submission.hash,
        name=submission.name,
        version=submission.version,
        authors=tuple(submission.authors),
        entry=submission.entry,
        description=submission.description,
        license=submission.license,
        url=submission.url,
        path=str(submission.path),
        kind=submission.kind,
        families=submission.families,
    )


def claim_labels(store: Store, submissions: Sequence[Submission], *, replace: bool = False) -> list[SubmissionRecord]:
    """One row per name@version on the leaderboard: a submission whose name@version is stored
    with other code is refused (bump the version), unless ``replace``, which supersedes the
    stored code (its rows are kept, out of standings and the site). Returns what it superseded."""
    superseded = []
    for submission in submissions:
        others = [
            r for r in store.submissions_labelled(submission.name, submission.version) if r.hash != submission.hash
        ]
        if others and not replace:
            raise ArenaError(
                f"{submission.path}: {submission.label} is already stored with other code (hash {others[0].hash[:12]}, "
                f"this code {submission.hash[:12]}); bump the version in submission.toml, or pass --replace to "
                "supersede the stored rows (kept in the database, left out of the standings)"
            )
        for record in others:
            store.supersede(record)
            superseded.append(record)
        mine = [r for r in store.submissions() if r.hash == submission.hash]
        if replace and mine and mine[0].superseded_at:  # back to code that was replaced before
            store.add(replace_record(mine[0], superseded_at=""), replace=True)
    return superseded


Progress = Callable[[str, int, int, Counter[str]], None]


def run(
    submissions: Sequence[Submission],
    suite: Suite,
    split: str,
    store: Store,
    executor: Executor,
    *,
    test_seed: int | None = None,
    progress: Progress | None = None,
    commands: Mapping[str, str] | None = None,
    model: ModelEndpoint | None = None,
) -> RunSummary:
    """Meta-train and run every trial of the split not yet stored; ``commands``: by submission
    hash, the command that reruns its trials (nothing secret in it), stored with each trial for
    "reproduce this row"."""
    started = time.monotonic()
    summary = RunSummary()
    for submission in submissions:
        store.add(submission_record(submission))
    origin = provenance(suite, split, test_seed)
    jobs = plan_trials(submissions, suite, split, test_seed, model)
    summary.planned = len(jobs)
    done = store.trial_keys(suite.name, suite.version, split, {s.hash for s in submissions})
    todo = [job for job in jobs if job.key not in done]
    summary.already_stored = len(jobs) - len(todo)
    if not todo:
        summary.wall_seconds = time.monotonic() - started
        return summary

    pairs = {_meta_key(job): job.submission for job in todo}
    total = len(todo)
    try:
        meta_jobs, failed_meta = plan_meta_training(list(pairs.items()), suite, store)
        # Meta-training first; each (submission, family, meta seed)'s trials join the run as soon
        # as its meta-training ends, so runners never wait at a barrier between the phases.
        feed = JobFeed(meta_jobs)
        waiting: dict[MetaKey, list[TrialJob]] = {_meta_key(j): [] for j in meta_jobs}
        for job in todo:
            key = _meta_key(job)
            if key in failed_meta:
                _record_failed_meta(store, summary, job, failed_meta[key], origin)
            elif key in waiting:
                waiting[key].append(job)
            else:
                record = store.meta_train(
                    job.submission.hash, suite.name, suite.version, job.family, job.meta_train_seed
                )
                if _one_run_only(job, record):
                    total -= 1
                    summary.planned -= 1
                    continue
                feed.add(_with_checkpoint(job, record.checkpoint if record and record.status == Status.OK else None))
        meta_left = len(meta_jobs)
        if not meta_left:
            feed.close()
        meta_counts: Counter[str] = Counter()
        if progress:
            if meta_jobs:
                progress("meta-training", 0, len(meta_jobs), meta_counts)
            progress("trials", summary.ran, total, summary.statuses)
        for index, outcome in executor.run(feed):
            finished = feed.jobs[index]
            if isinstance(finished, MetaTrainJob):
                store_meta_outcome(store, finished, outcome)
                meta_left -= 1
                meta_counts[outcome.status] += 1
                for trial in waiting.pop(_meta_key(finished)):
                    if outcome.status == Status.SKIPPED and finished.meta_train_seed > 0:
                        total -= 1  # no meta-training: the trials of run 0 are the agent's only ones
                        summary.planned -= 1
                    elif outcome.status in (Status.OK, Status.SKIPPED):
                        feed.add(_with_checkpoint(trial, finished.checkpoint if outcome.status == Status.OK else None))
                    else:
                        _record_failed_meta(store, summary, trial, (outcome.status, outcome.error or ""), origin)
                if not meta_left:
                    feed.close()
                if progress:
                    progress("meta-training", len(meta_jobs) - meta_left, len(meta_jobs), meta_counts)
            else:
                row = trial_record(finished, outcome, origin)
                store.add(replace_record(row, command=(commands or {}).get(row.submission_hash, "")))
                summary.statuses[outcome.status] += 1
                summary.ran += 1
            if progress:
                progress("trials", summary.ran, total, summary.statuses)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        executor.shutdown()
        summary.wall_seconds = time.monotonic() - started
    return summary


def _one_run_only(job: TrialJob, record: MetaTrainRecord | None) -> bool:
    """Whether a trial is not needed: an agent that does not meta-train has one "run" whatever
    the suite's meta_train_seeds; its trials of the other runs would repeat run 0's exactly."""
    return job.meta_train_seed > 0 and record is not None and record.status == Status.SKIPPED


def _meta_key(job: TrialJob | MetaTrainJob) -> MetaKey:
    return (job.submission.hash, job.family, job.meta_train_seed)


def _record_failed_meta(
    store: Store, summary: RunSummary, job: TrialJob, failure: tuple[str, str], origin: Provenance
) -> None:
    """A trial whose meta-training failed is recorded at that failure's status, not run."""
    status, error = failure
    store.add(trial_record(job, Outcome(status=Status(status), error=f"{FAILED_META}: {error}"), origin))
    summary.statuses[status] += 1
    summary.ran += 1


def _with_checkpoint(job: TrialJob, checkpoint: str | None) -> TrialJob:
    return job if checkpoint is None else replace(job, checkpoint=checkpoint)


def plan_meta_training(
    pairs: Sequence[tuple[MetaKey, Submission]], suite: Suite, store: Store
) -> tuple[list[MetaTrainJob], dict[MetaKey, tuple[str, str]]]:
    """The meta-training jobs missing for ``((submission hash, family, meta seed), submission)``
    pairs, and the pairs whose stored meta-training failed (``(status, error)``)."""
    jobs: list[MetaTrainJob] = []
    failed: dict[MetaKey, tuple[str, str]] = {}
    for (_, family, meta_seed), submission in pairs:
        if suite.meta_train_steps_of(family) <= 0:
            continue
        record = store.meta_train(submission.hash, suite.name, suite.version, family, meta_seed)
        if record is not None and (record.status != Status.OK or Path(record.checkpoint or "").is_dir()):
            if record.status not in (Status.OK, Status.SKIPPED):
                failed[(submission.hash, family, meta_seed)] = (record.status, record.error or "")
            continue
        directory = checkpoint_dir(store, submission, suite, family, meta_seed)
        shutil.rmtree(directory, ignore_errors=True)  # a half-written checkpoint from a killed run
        directory.mkdir(parents=True)
        device = devices.assign(submission.device == "auto", len(jobs), devices.gpu_count())
        jobs.append(
            MetaTrainJob(
                submission=submission,
                suite=suite,
                family=family,
                checkpoint=str(directory),
                device=device,
                meta_train_seed=meta_seed,
            )
        )
    return jobs, failed


def store_meta_outcome(store: Store, job: MetaTrainJob, outcome: Outcome) -> None:
    record = MetaTrainRecord(
        submission_hash=job.submission.hash,
        suite=job.suite.name,
        suite_version=job.suite.version,
        family=job.family,
        status=outcome.status,
        steps_used=outcome.steps_used,
        wall_seconds=outcome.wall_seconds,
        error=outcome.error,
        checkpoint=job.checkpoint if outcome.status == Status.OK else None,
        meta_train_seed=job.meta_train_seed,
        device=outcome.device or job.device,
        node=outcome.node,
        memory_cap=outcome.memory_cap,
    )
    store.add(record, replace=True)  # a rerun after a failed checkpoint folder replaces the record


def meta_train_missing(
    submissions: Sequence[Submission],
    suite: Suite,
    store: Store,
    executor: Executor,
    families: set[str],
    progress: Progress | None,
    meta_seeds: Sequence[int] = (0,),
) -> dict[MetaKey, tuple[str, str]]:
    """Meta-train what is missing, every family and meta seed for every submission, before
    anything else runs (the ladder's way, with run 0 only: each side plays with its first
    meta-training run's checkpoint); returns the (submission hash, family, meta seed) keys that
    failed."""
    pairs = [((s.hash, family, seed), s) for s in submissions for family in sorted(families) for seed in meta_seeds]
    jobs, failed = plan_meta_training(pairs, suite, store)
    counts: Counter[str] = Counter()
    if progress and jobs:
        progress("meta-training", 0, len(jobs), counts)
    for n, (index, outcome) in enumerate(executor.run(jobs), start=1):
        job = jobs[index]
        store_meta_outcome(store, job, outcome)
        if outcome.status not in (Status.OK, Status.SKIPPED):
            failed[_meta_key(job)] = (outcome.status, outcome.error or "")
        counts[outcome.status] += 1
        if progress:
            progress("meta-training", n, len(jobs), counts)
    return failed
