"""Meta-trained checkpoints committed with a submission, and their reuse without meta-training.

``arena reproduce SUITE --publish-checkpoints`` copies each (family, meta-training seed)'s
checkpoint that the harness meta-trained into
``submissions/<name>/checkpoints/<suite>@<version>/<family>/seed-<k>/``, with a
``checkpoint.json`` saying what made it: the submission's hash, the suite version, the steps and
wall time, the device, the commit. ``--from-checkpoints`` stores those as the meta-training of
the run, so only the trials run (minutes on 2 cores instead of GPU-hours).

A checkpoint belongs to one submission hash and one suite version: a submission whose code has
changed since, or another version of the suite, is refused with a one-line error, never
evaluated with a checkpoint another code made. ``checkpoints/`` is not part of the hash (as
``results/`` is not), so publishing one never changes the identity it records.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from arena.errors import ArenaError
from arena.records import MetaTrainRecord, Status
from arena.store import Store
from arena.submission import Submission
from arena.suites import Suite

FOLDER = "checkpoints"
MANIFEST = "checkpoint.json"


@dataclass(frozen=True)
class PublishedCheckpoint:
    """What ``checkpoint.json`` holds: where a committed checkpoint came from."""

    submission: str  # name@version
    submission_hash: str
    suite: str
    suite_version: int
    family: str
    meta_train_seed: int
    steps_used: int
    wall_seconds: float
    device: str
    memory_cap: str
    finished_at: str
    commit: str
    suite_sha256: str = ""  # of the suite file: a version's meaning never changes, and this checks it


def folder(submission: Submission, suite: Suite, family: str, meta_train_seed: int) -> Path:
    return submission.path / FOLDER / suite.id / family / f"seed-{meta_train_seed}"


def suite_digest(suite: Suite) -> str:
    return hashlib.sha256(suite.path.read_bytes()).hexdigest() if suite.path is not None else ""


def _meta_trained_families(suite: Suite) -> list[str]:
    return [plan.family for plan in suite.families if suite.meta_train_steps_of(plan.family) > 0]


def source_commit() -> str:
    """The commit of this checkout (``-dirty`` with uncommitted changes), or ``ARENA_COMMIT``
    where there is no git checkout (a copy of the tree on a GPU machine)."""
    here = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=here, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)submissions/*/results/*",
             ":(exclude)submissions/*/checkpoints/*"],
            capture_output=True, text=True, cwd=here, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        head = None
    if head is not None and head.returncode == 0:
        return head.stdout.strip() + ("-dirty" if dirty else "")
    return os.environ.get("ARENA_COMMIT", "unknown")


def publish(store: Store, submission: Submission, suite: Suite) -> list[Path]:
    """Copy the submission's meta-trained checkpoints of ``suite`` into its folder; returns the
    folders written. Meta-trainings that did not end OK are left out (and so are missing later)."""
    written = []
    commit = source_commit()
    for family in _meta_trained_families(suite):
        for seed in suite.meta_train_seed_list():
            record = store.meta_train(submission.hash, suite.name, suite.version, family, seed)
            if record is None or record.status != Status.OK or not Path(record.checkpoint or "").is_dir():
                continue
            target = folder(submission, suite, family, seed)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(str(record.checkpoint), target)
            manifest = PublishedCheckpoint(
                submission=submission.label, submission_hash=submission.hash, suite=suite.name,
                suite_version=suite.version, family=family, meta_train_seed=seed, steps_used=record.steps_used,
                wall_seconds=record.wall_seconds, device=record.device, memory_cap=record.memory_cap,
                finished_at=record.finished_at, commit=commit, suite_sha256=suite_digest(suite),
            )  # fmt: skip
            (target / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1) + "\n")
            written.append(target)
    return written


def read(path: Path) -> PublishedCheckpoint:
    try:
        return PublishedCheckpoint(**json.loads((path / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ArenaError(f"{path / MANIFEST}: not a checkpoint manifest ({type(exc).__name__}: {exc})") from None


def adopt(store: Store, submission: Submission, suite: Suite) -> int:
    """Store the submission's committed checkpoints of ``suite`` as its meta-training, so its
    trials run with them; returns how many. Every checkpoint the suite needs must be there and
    made by this very submission hash on this suite version: else a one-line ArenaError."""
    wanted = [(f, s) for f in _meta_trained_families(suite) for s in suite.meta_train_seed_list()]
    found = [(f, s, folder(submission, suite, f, s)) for f, s in wanted]
    missing = [path for _, _, path in found if not (path / MANIFEST).is_file()]
    if missing:
        where = (
            missing[0].relative_to(submission.path.parent)
            if submission.path.parent in missing[0].parents
            else missing[0]
        )
        raise ArenaError(
            f"{submission.name}: {len(missing)} of {len(wanted)} checkpoints of {suite.id} are not published "
            f"(first: {where}); run without --from-checkpoints to meta-train them"
        )
    records = []
    for family, seed, path in found:
        manifest = read(path)
        if (manifest.suite, manifest.suite_version, manifest.family) != (suite.name, suite.version, family):
            raise ArenaError(
                f"{path}: made for {manifest.suite}@{manifest.suite_version} {manifest.family}, not {suite.id} {family}"
            )
        if manifest.suite_sha256 and suite.path is not None and manifest.suite_sha256 != suite_digest(suite):
            raise ArenaError(f"{path}: made with another text of {suite.id} ({suite.path} has changed since)")
        if manifest.submission_hash != submission.hash:
            raise ArenaError(
                f"{path}: meta-trained by {manifest.submission} {manifest.submission_hash[:12]}, not by this "
                f"{submission.label} {submission.hash[:12]} (its code has changed since): run without "
                "--from-checkpoints to meta-train again"
            )
        records.append(
            MetaTrainRecord(
                submission_hash=submission.hash,
                suite=suite.name,
                suite_version=suite.version,
                family=family,
                status=Status.OK,
                steps_used=manifest.steps_used,
                wall_seconds=manifest.wall_seconds,
                checkpoint=str(path.resolve()),
                meta_train_seed=seed,
                device=manifest.device,
                node=f"published@{manifest.commit[:12]}",
                memory_cap=manifest.memory_cap,
            )
        )
    for record in records:  # only once every one was checked: a refused run stores nothing
        store.add(record, replace=True)
    return len(records)
