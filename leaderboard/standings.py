"""The standings as downloads: every statistic of every board (JSON), or one row per entry (CSV)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

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


def without_variants(value: Any) -> Any:
    """A board's JSON with every per-variant table removed: what a test-split board publishes."""
    if isinstance(value, dict):
        return {k: without_variants(v) for k, v in value.items() if k != "variants"}
    if isinstance(value, list):
        return [without_variants(v) for v in value]
    return value


def board_json(board: Board) -> dict[str, Any]:
    """``scoring.board_as_dict``, without the held-out variants' ids on the test split."""
    plain = scoring.board_as_dict(board)
    return without_variants(plain) if board.split == "test" else plain


def standings_json(boards: Sequence[Board]) -> str:
    """Every statistic of every board, as one JSON object."""
    return json.dumps({"boards": [board_json(b) for b in boards]}, indent=1, allow_nan=False) + "\n"
