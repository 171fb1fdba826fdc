"""Versioned, immutable releases of each board: what a paper or a report cites.

``arena leaderboard release`` writes, for each board (suite, version, split) whose trials have
changed since its last release, ``releases/<suite>/<version>/<split>/<n>/`` beside the site:

- ``standings.json``: every statistic of the board (``arena.scoring.board_as_dict``);
- ``trials.csv.gz``: one row per trial;
- ``release.json``: the sha256 of both, of the trials they come from, the submissions' hashes,
  the MetaArena commit and platform it was made with;

and ``latest.json`` pointing at the newest. A release is never rewritten: a rebuild with the
same trials finds its content digest in the last release and writes nothing (so its files stay
byte-identical); new trials make release ``n + 1``. Test-split releases publish scores per
family and variant group only: no variant ids and no seeds, which would reveal the held-out
variants (HELM publishes its versioned releases the same way, results without the raw prompts).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import arena
from arena import scoring
from arena.errors import ArenaError
from arena.published import source_commit
from arena.records import TrialRecord, fields, to_row
from arena.store import Store
from leaderboard.standings import board_json

RELEASES = "releases"
HIDDEN_ON_TEST = ("variant", "seed", "split_seed", "error")  # what would name a held-out variant


@dataclass(frozen=True)
class Release:
    suite: str
    suite_version: int
    split: str
    number: int
    folder: Path
    created: bool  # False: the board had not changed since this release


def trials_csv_gz(records: Iterable[TrialRecord], split: str) -> bytes:
    """The board's trials as CSV, gzipped with no timestamp (the same trials give the same bytes)."""
    names = [f for f in fields(TrialRecord) if split != "test" or f not in HIDDEN_ON_TEST]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(to_row(record) for record in records)
    return gzip.compress(buffer.getvalue().encode(), mtime=0)


def release_files(board: scoring.Board, records: Sequence[TrialRecord]) -> dict[str, bytes]:
    """``standings.json`` and ``trials.csv.gz`` of one board."""
    standings = board_json(board)
    ordered = sorted(
        records, key=lambda r: (r.submission_hash, r.family, r.variant, r.budget, r.seed, r.meta_train_seed)
    )
    return {
        "standings.json": (json.dumps(standings, indent=1, sort_keys=True, allow_nan=False) + "\n").encode(),
        "trials.csv.gz": trials_csv_gz(ordered, board.split),
    }


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        content = gzip.decompress(files[name]) if name.endswith(".gz") else files[name]
        digest.update(name.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


def _numbers(folder: Path) -> list[int]:
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()) if folder.is_dir() else []


def release(
    db_path: str | Path, out: str | Path, suite: str | None = None, *, n_resamples: int = scoring.N_RESAMPLES
) -> list[Release]:
    """Release every board of the database (of ``suite`` only, if given) that changed since its
    last release into ``out/releases/``; returns each board's current release."""
    store = Store(db_path, create=False)
    try:
        records, submissions = store.trials(), store.submissions()
    finally:
        store.close()
    if suite is not None:
        records = [r for r in records if r.suite == suite]
        if not records:
            raise ArenaError(f"{db_path} holds no trials of suite {suite!r}")
    references = {s.hash for s in submissions if s.kind == "reference"}
    boards = scoring.score(records, references=references, n_resamples=n_resamples)
    results = []
    for board in boards:
        key = (board.suite, board.suite_version, board.split)
        mine = [r for r in records if (r.suite, r.suite_version, r.split) == key and scoring.in_view(r, "final")]
        results.append(_release_board(Path(out), board, mine))
    return results


def _release_board(out: Path, board: scoring.Board, records: Sequence[TrialRecord]) -> Release:
    folder = out / RELEASES / board.suite / str(board.suite_version) / board.split
    files = release_files(board, records)
    content = _digest(files)
    numbers = _numbers(folder)
    if numbers:
        last = folder / str(numbers[-1])
        try:
            if json.loads((last / "release.json").read_text())["content_sha256"] == content:
                return Release(board.suite, board.suite_version, board.split, numbers[-1], last, created=False)
        except (OSError, ValueError, KeyError) as exc:
            raise ArenaError(
                f"{last / 'release.json'} is damaged ({type(exc).__name__}); releases are never rewritten"
            ) from None
    number = (numbers[-1] if numbers else 0) + 1
    target = folder / str(number)
    target.mkdir(parents=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
    manifest = {
        "suite": board.suite,
        "suite_version": board.suite_version,
        "split": board.split,
        "release": number,
        "content_sha256": content,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "submissions": sorted({(e.hash, e.label) for e in board.everyone}),
        "trials": len(records),
        "trials_finished_at": board.finished_at,
        "metaarena": {"version": arena.__version__, "commit": source_commit()},
        "platform": {"machine": platform.machine(), "python": platform.python_version(), "system": platform.system()},
    }
    (target / "release.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (folder / "latest.json").write_text(json.dumps({"release": number, "path": str(number)}) + "\n")
    return Release(board.suite, board.suite_version, board.split, number, target, created=True)


def history(out: str | Path) -> dict[tuple[str, int, str], list[int]]:
    """The releases found under ``out/releases``: (suite, version, split) -> release numbers."""
    root = Path(out) / RELEASES
    found: dict[tuple[str, int, str], list[int]] = {}
    if not root.is_dir():
        return found
    for split_folder in root.glob("*/*/*"):
        suite, version, split = split_folder.relative_to(root).parts
        if version.isdigit() and split_folder.is_dir():
            numbers = _numbers(split_folder)
            if numbers:
                found[(suite, int(version), split)] = numbers
    return found
