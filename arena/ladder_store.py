"""Ladder matches in the results database: the ``matches`` table, beside ``trials``.

A match is keyed by (suite, suite version, variant, submission A hash, submission B hash, seat of
A, seed), with A and B in hash order so that a pair is one key whichever order the command line
named them in. Matches are inserted with ``INSERT OR IGNORE``, one committed transaction each:
a rerun never duplicates or overwrites a stored match, and an interrupted ladder resumes where
it stopped. The table lives in the same SQLite file and uses :class:`arena.store.Store`'s
connection; nothing here changes the ``trials`` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from arena.errors import ArenaError
from arena.store import Store, now

TABLE = "matches"
MATCH_KEY = ("suite", "suite_version", "variant", "submission_a_hash", "submission_b_hash", "seat_a", "seed")
MATCH_COLUMNS: dict[str, type] = {
    "suite": str,
    "suite_version": int,
    "variant": str,
    "submission_a_hash": str,
    "submission_b_hash": str,
    "seat_a": int,
    "seed": int,
    "family": str,
    "submission_a": str,
    "submission_a_version": str,
    "submission_b": str,
    "submission_b_version": str,
    "budget": int,  # adaptation steps each agent had (the suite's smallest non-zero budget)
    "status": str,  # ok, error, timeout, invalid_action, oom
    "failed": str,  # who caused a failed match: "a", "b" or "harness"; empty when ok
    "error": str,
    "games": int,
    "wins_a": int,
    "draws": int,
    "losses_a": int,
    "score_a": float,  # A's mean game score: win 1, draw 0.5, loss 0 (a failure forfeits every game)
    "illegal_a": int,  # games A lost by an illegal or invalid move
    "illegal_b": int,
    "returns_a": str,  # JSON list: A's return in each game
    "steps_a": int,  # adaptation steps used
    "steps_b": int,
    "wall_seconds": float,
    "arena_version": str,
    "finished_at": str,
}


def ensure_schema(store: Store) -> None:
    store.db[TABLE].create(MATCH_COLUMNS, pk=MATCH_KEY, if_not_exists=True)  # type: ignore[union-attr]
    missing = set(MATCH_COLUMNS) - set(store.db[TABLE].columns_dict)
    if missing:
        raise ArenaError(f"{store.path}: table {TABLE!r} lacks columns {sorted(missing)}; not a MetaArena database?")


def has_matches(store: Store) -> bool:
    return TABLE in store.db.table_names()


def add_match(store: Store, record: dict[str, Any]) -> bool:
    """Store one finished match; False when that key was already stored (nothing changes)."""
    ensure_schema(store)
    record = dict(record)
    record["returns_a"] = json.dumps(record.get("returns_a") or [])
    record.setdefault("finished_at", now())
    try:
        before = store.db.conn.total_changes
        with store.db.conn:  # one transaction per match: all of it or nothing
            store.db[TABLE].insert(record, pk=MATCH_KEY, ignore=True)  # type: ignore[union-attr]
        return store.db.conn.total_changes > before
    except sqlite3.OperationalError as exc:
        raise ArenaError(f"cannot write to {store.path}: {exc} (stored results are intact)") from None


def done_keys(store: Store, suite: str, suite_version: int, hashes: Iterable[str]) -> set[tuple[Any, ...]]:
    """Keys of the stored matches between the given submissions."""
    wanted = sorted(set(hashes))
    if not wanted or not has_matches(store):
        return set()
    marks = ",".join("?" for _ in wanted)
    rows = store.db.execute(
        f"SELECT {', '.join(MATCH_KEY)} FROM {TABLE} WHERE suite = ? AND suite_version = ? "
        f"AND submission_a_hash IN ({marks}) AND submission_b_hash IN ({marks})",
        [suite, suite_version, *wanted, *wanted],
    ).fetchall()
    return {tuple(row) for row in rows}


def matches(store: Store, suite: str | None = None) -> list[dict[str, Any]]:
    """Stored matches (of one suite, or all), in key order; empty when no ladder ever ran."""
    if not has_matches(store):
        return []
    sql = f"SELECT * FROM {TABLE}"
    args: list[Any] = []
    if suite is not None:
        sql += " WHERE suite = ?"
        args.append(suite)
    sql += " ORDER BY " + ", ".join(MATCH_KEY)
    return store.rows(sql, args, json_lists=("returns_a",))
