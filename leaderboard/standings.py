"""The standings as downloads: every statistic of every board (JSON), or one row per entry (CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import IO

from arena import scoring
from arena.records import TrialRecord
from arena.scoring import Board


def write_standings(
    records: Iterable[TrialRecord], out: IO[str], kind: str = "json", *, n_resamples: int = scoring.N_RESAMPLES
) -> None:
    """The standings as ``json`` (every statistic of every board) or ``csv`` (one row per entry)."""
    boards = scoring.score(records, n_resamples=n_resamples)
    if kind == "json":
        out.write(standings_json(boards))
    elif kind == "csv":
        out.write(standings_csv(boards))
    else:
        raise ValueError(f"unknown format {kind!r}: json or csv")


def standings_csv(boards: Sequence[Board]) -> str:
    """One row per (board, entry); the union of every row's columns."""
    rows = scoring.standings_rows(boards)
    fields: dict[str, None] = {}
    for row in rows:
        fields.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def standings_json(boards: Sequence[Board]) -> str:
    """Every statistic of every board, as one JSON object."""
    return json.dumps({"boards": [scoring.board_as_dict(b) for b in boards]}, indent=1, allow_nan=False) + "\n"
