"""The results store: one SQLite file (WAL mode), written one committed trial at a time.

Trials are keyed by (submission hash, suite, suite version, split, variant, budget, seed) and
inserted with ``INSERT OR IGNORE``: a rerun, a resumed run or a second concurrent ``arena run``
never duplicates or overwrites a stored trial. A killed run loses only the trials in flight.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from arena.errors import ArenaError

STATUSES = ("ok", "error", "timeout", "invalid_action", "oom")  # how a trial can end
TRIAL_KEY = ("submission_hash", "suite", "suite_version", "split", "variant", "budget", "seed")
TRIAL_COLUMNS: dict[str, type] = {
    "submission_hash": str,
    "suite": str,
    "suite_version": int,
    "split": str,
    "variant": str,
    "budget": int,
    "seed": int,
    "submission": str,
    "submission_version": str,
    "family": str,
    "variant_group": str,
    "status": str,
    "eval_return": float,
    "normalized_score": float,
    "episode_returns": str,  # JSON list
    "steps_used": int,
    "wall_seconds": float,
    "adapt_seconds": float,
    "error": str,
    "arena_version": str,
    "finished_at": str,
}
META_KEY = ("submission_hash", "suite", "suite_version", "family")
META_COLUMNS: dict[str, type] = {
    "submission_hash": str,
    "suite": str,
    "suite_version": int,
    "family": str,
    "status": str,
    "steps_used": int,
    "wall_seconds": float,
    "error": str,
    "checkpoint": str,
    "finished_at": str,
}
SUBMISSION_COLUMNS: dict[str, type] = {
    "hash": str,
    "name": str,
    "version": str,
    "authors": str,  # JSON list
    "entry": str,
    "description": str,
    "license": str,
    "url": str,
    "path": str,
    "first_seen": str,
}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    """The SQLite results database. Opening checks the file; it never overwrites a foreign one."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if self.path.exists():
            _check_sqlite_file(self.path)
        elif not create:
            raise ArenaError(f"no results database at {self.path} (run `arena run` first, or pass --db)")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            _refuse_foreign(conn, self.path)  # before the journal-mode switch, which rewrites the header
            _when_unlocked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = NORMAL")
            self.db = sqlite_utils.Database(conn)
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise ArenaError(f"{self.path} is not a usable MetaArena database: {exc}") from None

    def _ensure_schema(self) -> None:
        """Create the tables in a new file, in one immediate transaction (runs may start together);
        refuse a file that holds someone else's tables, before writing anything to it."""
        conn = self.db.conn
        _when_unlocked(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            _refuse_foreign(conn, self.path)  # again, inside the transaction: another process may have been first
            for name, columns, pk in (
                ("trials", TRIAL_COLUMNS, TRIAL_KEY),
                ("meta_trains", META_COLUMNS, META_KEY),
                ("submissions", SUBMISSION_COLUMNS, "hash"),
            ):
                conn.execute(self.db.create_table_sql(name, columns, pk=pk, if_not_exists=True))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.conn.close()

    def _write(self, table: str, record: dict[str, Any], pk: Any, *, replace: bool = False) -> bool:
        try:
            before = self.db.conn.total_changes
            with self.db.conn:  # one transaction per record: all of it or nothing
                self.db[table].insert(record, pk=pk, ignore=not replace, replace=replace)  # type: ignore[union-attr]
            return self.db.conn.total_changes > before
        except sqlite3.OperationalError as exc:
            raise ArenaError(f"cannot write to {self.path}: {exc} (stored results are intact)") from None

    # -- submissions ---------------------------------------------------------------------------

    def add_submission(self, submission: Any) -> None:
        self._write(
            "submissions",
            {
                "hash": submission.hash,
                "name": submission.name,
                "version": submission.version,
                "authors": json.dumps(list(submission.authors)),
                "entry": submission.entry,
                "description": submission.description,
                "license": submission.license,
                "url": submission.url,
                "path": str(submission.path),
                "first_seen": now(),
            },
            "hash",
        )

    def submissions(self) -> list[dict[str, Any]]:
        rows = list(self.db["submissions"].rows)
        for row in rows:
            row["authors"] = json.loads(row["authors"] or "[]")
        return rows

    # -- trials --------------------------------------------------------------------------------

    def add_trial(self, record: dict[str, Any]) -> bool:
        """Store one finished trial; False when that key was already stored (nothing changes)."""
        record = dict(record)
        record["episode_returns"] = json.dumps(record.get("episode_returns") or [])
        record.setdefault("finished_at", now())
        return self._write("trials", record, TRIAL_KEY)

    def done_keys(
        self, suite: str, suite_version: int, split: str, submission_hashes: Iterable[str]
    ) -> set[tuple[Any, ...]]:
        hashes = list(submission_hashes)
        if not hashes:
            return set()
        marks = ",".join("?" for _ in hashes)
        rows = self.db.execute(
            f"SELECT {', '.join(TRIAL_KEY)} FROM trials WHERE suite = ? AND suite_version = ? AND split = ? "
            f"AND submission_hash IN ({marks})",
            [suite, suite_version, split, *hashes],
        ).fetchall()
        return {tuple(row) for row in rows}

    def trials(self, suite: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if suite is not None:
            where.append("suite = ?")
            args.append(suite)
        if split is not None:
            where.append("split = ?")
            args.append(split)
        sql = "SELECT * FROM trials" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY submission, suite, split, family, variant, budget, seed"
        return self.rows(sql, args, json_lists=("episode_returns",))

    def rows(self, sql: str, args: list[Any], json_lists: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """A query's rows as dicts, the named JSON-list columns decoded; read errors are one line."""
        try:
            cursor = self.db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise ArenaError(f"cannot read {self.path}: {exc}") from None
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for row in rows:
            for column in json_lists:
                row[column] = json.loads(row[column] or "[]")
        return rows

    # -- meta-training -------------------------------------------------------------------------

    def meta_train(self, submission_hash: str, suite: str, suite_version: int, family: str) -> dict[str, Any] | None:
        rows = list(
            self.db["meta_trains"].rows_where(
                "submission_hash = ? AND suite = ? AND suite_version = ? AND family = ?",
                [submission_hash, suite, suite_version, family],
            )
        )
        return rows[0] if rows else None

    def add_meta_train(self, record: dict[str, Any]) -> None:
        record = {**record, "finished_at": record.get("finished_at") or now()}
        self._write("meta_trains", record, META_KEY, replace=True)

    def meta_trains(self) -> list[dict[str, Any]]:
        return list(self.db["meta_trains"].rows)


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, without writing, a file that holds someone else's tables."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "trials" not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise ArenaError(f"{path} holds other tables ({shown}); not a MetaArena database, refusing to touch it")
    if "trials" in tables:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
        missing = set(TRIAL_COLUMNS) - columns
        if missing:
            raise ArenaError(f"{path}: its 'trials' table lacks {sorted(missing)[:3]}...; not a MetaArena database")


def _when_unlocked(statement: Callable[[], Any], seconds: float = 60.0) -> Any:
    """Run a statement that SQLite answers 'locked' instead of waiting (a journal-mode switch,
    a transaction start while another connection sets up), retrying until ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _check_sqlite_file(path: Path) -> None:
    """Refuse anything that is not an SQLite file, before sqlite could touch it."""
    if path.is_dir():
        raise ArenaError(f"{path} is a directory, not a results database")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ArenaError(f"cannot read {path}: {exc.strerror}") from None
    if header and header != _SQLITE_MAGIC:
        raise ArenaError(f"{path} is not an SQLite database (corrupt or another file); refusing to touch it")
