"""The results store: one SQLite file (WAL mode), written one committed record at a time.

Stage 4 of the pipeline (… → trials → store → scoring → site). It keeps the records of
:mod:`arena.records`: trials, meta-training jobs, ladder matches and submissions' manifests, each
in its table, keyed by the record's ``KEY``. Every write goes through :meth:`Store.add`, one
transaction per record, with ``INSERT OR IGNORE`` for results: a rerun, a resumed run or a second
concurrent ``arena run`` never duplicates or overwrites a stored trial, and a killed run loses
only the records in flight.

The schema has a version (``PRAGMA user_version``). A file of an older version is migrated in
place, in one transaction, the first time a newer MetaArena opens it (:data:`MIGRATIONS`): a new
column or a new key part is a migration, never a refusal. A file of a newer version is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from arena.errors import ArenaError
from arena.records import (
    MatchRecord,
    MetaTrainRecord,
    Provenance,
    R,
    Record,
    SubmissionRecord,
    TrialRecord,
    columns,
    from_row,
    to_row,
)

TABLES: tuple[type[Record], ...] = (TrialRecord, MetaTrainRecord, MatchRecord, SubmissionRecord)
_V1_MATCH_KEY = ("suite", "suite_version", "variant", "submission_a_hash", "submission_b_hash", "seat_a", "seed")
_V1_MATCH_COLUMNS: dict[str, type] = {
    **dict.fromkeys(("suite", "variant", "submission_a_hash", "submission_b_hash", "family"), str),
    **dict.fromkeys(("submission_a", "submission_a_version", "submission_b", "submission_b_version"), str),
    **dict.fromkeys(("suite_version", "seat_a", "seed", "budget", "games", "wins_a", "draws", "losses_a"), int),
    **dict.fromkeys(("illegal_a", "illegal_b", "steps_a", "steps_b"), int),
    **dict.fromkeys(("status", "failed", "error", "returns_a", "arena_version", "finished_at"), str),
    "score_a": float,
    "wall_seconds": float,
}
_V1_META_COLUMNS: dict[str, type] = {
    **dict.fromkeys(("submission_hash", "suite"), str),
    "suite_version": int,
    **dict.fromkeys(("family", "status"), str),
    "steps_used": int,
    "wall_seconds": float,
    **dict.fromkeys(("error", "checkpoint", "finished_at"), str),
}
_V1_SUBMISSION_COLUMNS: dict[str, type] = dict.fromkeys(
    ("hash", "name", "version", "authors", "entry", "description", "license", "url", "path", "first_seen"), str
)
# The tables of schema version 1, as files of that version hold them (trials always existed).
_V1_TABLES: dict[str, tuple[dict[str, type], Any]] = {
    "meta_trains": (_V1_META_COLUMNS, ("submission_hash", "suite", "suite_version", "family")),
    "submissions": (_V1_SUBMISSION_COLUMNS, "hash"),
    "matches": (_V1_MATCH_COLUMNS, _V1_MATCH_KEY),
}
# Columns the trials table has had in every schema version: what makes a file ours.
_IDENTITY_COLUMNS = ("submission_hash", "suite", "suite_version", "split", "variant", "budget", "seed", "status")
_SQLITE_MAGIC = b"SQLite format 3\x00"
# A trial job's key: the record's key without provenance (who ran it is not what was run).
JOB_KEY = tuple(name for name in TrialRecord.KEY if name != "provenance")
_NOT_SUPERSEDED = "submission_hash NOT IN (SELECT hash FROM submissions WHERE superseded_at != '')"
# A self-reported row gives way to the harness's run of the same trial of the same name@version
# (whatever its hash: a recorded baseline's code may since have changed its identity).
_RERUN_MATCH = ("submission", "submission_version", *(c for c in JOB_KEY if c != "submission_hash"))
_NOT_RERUN = (
    "NOT (provenance = 'self-reported' AND EXISTS (SELECT 1 FROM trials AS h WHERE h.provenance != 'self-reported' "
    + "".join(f"AND h.{c} = trials.{c} " for c in _RERUN_MATCH)
    + f"AND h.{_NOT_SUPERSEDED}))"
)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _create_tables(db: sqlite_utils.Database) -> None:
    for record in TABLES:
        key = record.KEY if len(record.KEY) > 1 else record.KEY[0]
        db.conn.execute(db.create_table_sql(record.TABLE, columns(record), pk=key, if_not_exists=True))


def _migrate_0_to_1(db: sqlite_utils.Database) -> None:
    """Files written before the schema had a version: the same tables, the ladder's ``matches``
    created on first use. Nothing to change but to create what is missing."""
    for table, (columns_v1, key) in _V1_TABLES.items():
        if table not in db.table_names():
            db.conn.execute(db.create_table_sql(table, columns_v1, pk=key))


def _rebuild(db: sqlite_utils.Database, table: str, added: dict[str, tuple[type, Any]], pk: tuple[str, ...]) -> None:
    """Give ``table`` the ``added`` columns (type, value for stored rows) and the primary key
    ``pk``: a new table, every row copied, the old one dropped (SQLite cannot change a key in
    place). Runs inside the caller's transaction, so it happens whole or not at all."""
    present = db[table].columns_dict
    new_columns = {**present, **{name: kind for name, (kind, _) in added.items() if name not in present}}
    db.conn.execute(db.create_table_sql(f"{table}_migrating", new_columns, pk=pk))
    kept = ", ".join(f'"{c}"' for c in present)
    fills = [name for name in added if name not in present]
    columns_sql = kept + "".join(f', "{c}"' for c in fills)
    values_sql = kept + "".join(", ?" for _ in fills)
    db.conn.execute(
        f'INSERT INTO "{table}_migrating" ({columns_sql}) SELECT {values_sql} FROM "{table}"',
        [added[c][1] for c in fills],
    )
    db.conn.execute(f'DROP TABLE "{table}"')
    db.conn.execute(f'ALTER TABLE "{table}_migrating" RENAME TO "{table}"')


def _add_columns(db: sqlite_utils.Database, table: str, added: dict[str, tuple[type, Any]]) -> None:
    present = db[table].columns_dict
    for name, (kind, value) in added.items():
        if name not in present:
            sql_type = {int: "INTEGER", float: "FLOAT", str: "TEXT"}[kind]
            db.conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {sql_type}')
            if value is not None:
                db.conn.execute(f'UPDATE "{table}" SET "{name}" = ?', [value])


def _migrate_1_to_2(db: sqlite_utils.Database) -> None:
    """The second round's contracts: per-trial online scores, meta-training seeds and the text
    track's model as key parts, where a trial ran and who ran it. Stored trials keep every value;
    they get meta-training seed 0 (their suite's single run), no model, provenance 'harness'."""
    trial_key = ("submission_hash", "suite", "suite_version", "split", "variant", "budget", "seed")
    _rebuild(
        db,
        "trials",
        {
            "meta_train_seed": (int, 0), "model": (str, ""), "adapt_return": (float, None),
            "online_score": (float, None), "success_rate": (float, None), "device": (str, ""), "node": (str, ""),
            "provenance": (str, "harness"), "tokens_used": (int, 0), "llm_calls": (int, 0),
            "unparsable_answers": (int, 0),
        },
        (*trial_key, "meta_train_seed", "model"),
    )  # fmt: skip
    _rebuild(
        db,
        "meta_trains",
        {"meta_train_seed": (int, 0), "device": (str, ""), "node": (str, "")},
        ("submission_hash", "suite", "suite_version", "family", "meta_train_seed"),
    )
    _add_columns(db, "submissions", {"kind": (str, "agent"), "families": (str, "[]"), "superseded_at": (str, "")})


def _migrate_2_to_3(db: sqlite_utils.Database) -> None:
    """Provenance becomes a key part of trials: imported (self-reported) rows live beside the
    harness's rows of the same trial instead of standing in for them; an imported row keeps the
    commit and platform it was recorded on. Every stored row is kept."""
    trial_key = ("submission_hash", "suite", "suite_version", "split", "variant", "budget", "seed")
    _rebuild(
        db,
        "trials",
        {"commit": (str, ""), "platform": (str, "")},
        (*trial_key, "meta_train_seed", "model", "provenance"),
    )


def _migrate_3_to_4(db: sqlite_utils.Database) -> None:
    """How each agent process's memory was capped (a cgroup for GPU processes, RLIMIT_AS for the
    others): unknown ("") for every row stored before."""
    for table in ("trials", "meta_trains"):
        _add_columns(db, table, {"memory_cap": (str, "")})


def _migrate_4_to_5(db: sqlite_utils.Database) -> None:
    """The command line that ran each trial, redacted (what "reproduce this row" shows): unknown
    ("") for every row stored before."""
    _add_columns(db, "trials", {"command": (str, "")})


def _migrate_5_to_6(db: sqlite_utils.Database) -> None:
    """The text track's unparsable answers, verbatim (the first few of a trial): none ("[]") for
    every row stored before."""
    _add_columns(db, "trials", {"illegal_answers": (str, "[]")})


# MIGRATIONS[n] takes a file of schema version n to n + 1, inside the caller's transaction. A
# migration names its columns itself: later versions of the records must not change it.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3, _migrate_3_to_4, _migrate_4_to_5, _migrate_5_to_6,
)  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)


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
        """Create the tables in a new file, or migrate an older one, in one immediate transaction
        (runs may start together); refuse a file that holds someone else's tables, or a newer
        schema, before writing anything to it."""
        conn = self.db.conn
        _when_unlocked(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            _refuse_foreign(conn, self.path)  # again, inside the transaction: another process may have been first
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ArenaError(
                    f"{self.path} has schema version {version}, newer than this MetaArena's {SCHEMA_VERSION}; "
                    "upgrade MetaArena to read it (the file is untouched)"
                )
            fresh = "trials" not in set(self.db.table_names())
            if fresh:
                _create_tables(self.db)
            else:
                for migrate in MIGRATIONS[version:]:
                    migrate(self.db)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.conn.close()

    # -- the one write path --------------------------------------------------------------------

    def add(self, record: Record, *, replace: bool = False) -> bool:
        """Store one record in its table, in one transaction; False when its key was already
        stored (nothing changes) unless ``replace``."""
        row = to_row(record)
        if "finished_at" in row and not row["finished_at"]:
            row["finished_at"] = now()
        if isinstance(record, SubmissionRecord) and not row["first_seen"]:
            row["first_seen"] = now()
        key = record.KEY if len(record.KEY) > 1 else record.KEY[0]
        try:
            before = self.db.conn.total_changes
            with self.db.conn:  # one transaction per record: all of it or nothing
                self.db[record.TABLE].insert(row, pk=key, ignore=not replace, replace=replace)  # type: ignore[union-attr]
            return self.db.conn.total_changes > before
        except sqlite3.OperationalError as exc:
            raise ArenaError(f"cannot write to {self.path}: {exc} (stored results are intact)") from None

    # -- reads ---------------------------------------------------------------------------------

    def _records(self, record: type[R], where: str = "", args: Iterable[Any] = (), order: str = "") -> list[R]:
        sql = f"SELECT * FROM {record.TABLE}" + (f" WHERE {where}" if where else "")
        if order:
            sql += f" ORDER BY {order}"
        return [from_row(record, row) for row in self.rows(sql, list(args))]

    def rows(self, sql: str, args: list[Any]) -> list[dict[str, Any]]:
        """A query's rows as dicts; read errors are one line."""
        try:
            cursor = self.db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise ArenaError(f"cannot read {self.path}: {exc}") from None
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def submissions(self) -> list[SubmissionRecord]:
        return self._records(SubmissionRecord)

    def trials(
        self,
        suite: str | None = None,
        split: str | None = None,
        *,
        family: str | None = None,
        budget: int | None = None,
        every: bool = False,
        self_reported: bool = False,
    ) -> list[TrialRecord]:
        """Stored trials, the filters given. Unless ``every``: what standings show, without the
        rows of superseded submissions (:meth:`supersede`) and, unless ``self_reported`` (the
        site, which shows imported rows in a band of their own), without a self-reported row
        where the harness ran the same trial."""
        where, args = [], []
        for column, value in (("suite", suite), ("split", split), ("family", family), ("budget", budget)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if not every:
            where += [_NOT_SUPERSEDED] if self_reported else [_NOT_SUPERSEDED, _NOT_RERUN]
        order = "submission, suite, split, family, variant, budget, seed"
        return self._records(TrialRecord, " AND ".join(where), args, order)

    def trial_keys(
        self, suite: str, suite_version: int, split: str, submission_hashes: Iterable[str]
    ) -> set[tuple[Any, ...]]:
        """Keys (``TrialJob.key``: the record's key without provenance) of the trials of these
        submissions on one split of one suite version that the harness ran: an imported,
        self-reported row does not make `arena run` skip its trial."""
        wanted = list(submission_hashes)
        if not wanted:
            return set()
        marks = ",".join("?" for _ in wanted)
        rows = self.db.execute(
            f"SELECT {', '.join(JOB_KEY)} FROM trials WHERE suite = ? AND suite_version = ? AND split = ? "
            f"AND provenance != ? AND submission_hash IN ({marks})",
            [suite, suite_version, split, Provenance.SELF_REPORTED, *wanted],
        ).fetchall()
        return {tuple(row) for row in rows}

    # -- one row per name@version ----------------------------------------------------------------

    def submissions_labelled(self, name: str, version: str) -> list[SubmissionRecord]:
        """The stored submissions of this name and version that no rerun has superseded."""
        return self._records(
            SubmissionRecord, "name = ? AND version = ? AND superseded_at = ''", [name, version], "first_seen"
        )

    def supersede(self, record: SubmissionRecord) -> None:
        """Mark a submission's code as replaced by a rerun under its name@version: its rows stay
        stored (``trials(every=True)``), out of standings and the site."""
        self.add(dataclasses.replace(record, superseded_at=now()), replace=True)

    def meta_train(
        self, submission_hash: str, suite: str, suite_version: int, family: str, meta_train_seed: int = 0
    ) -> MetaTrainRecord | None:
        found = self._records(
            MetaTrainRecord,
            "submission_hash = ? AND suite = ? AND suite_version = ? AND family = ? AND meta_train_seed = ?",
            [submission_hash, suite, suite_version, family, meta_train_seed],
        )
        return found[0] if found else None

    def meta_trains(self) -> list[MetaTrainRecord]:
        return self._records(MetaTrainRecord)

    def matches(self, suite: str | None = None) -> list[MatchRecord]:
        """Stored ladder matches (of one suite, or all), in key order."""
        where, args = ("suite = ?", [suite]) if suite is not None else ("", [])
        return self._records(MatchRecord, where, args, ", ".join(MatchRecord.KEY))

    def match_keys(self, suite: str, suite_version: int, hashes: Iterable[str]) -> set[tuple[Any, ...]]:
        """Keys of the stored matches between the given submissions."""
        wanted = sorted(set(hashes))
        if not wanted:
            return set()
        marks = ",".join("?" for _ in wanted)
        rows = self.db.execute(
            f"SELECT {', '.join(MatchRecord.KEY)} FROM {MatchRecord.TABLE} WHERE suite = ? AND suite_version = ? "
            f"AND submission_a_hash IN ({marks}) AND submission_b_hash IN ({marks})",
            [suite, suite_version, *wanted, *wanted],
        ).fetchall()
        return {tuple(row) for row in rows}

    def _keys(self, record: type[Record], where: str, args: list[Any], hashes: Iterable[str]) -> set[tuple[Any, ...]]:
        wanted = list(hashes)
        if not wanted:
            return set()
        marks = ",".join("?" for _ in wanted)
        rows = self.db.execute(
            f"SELECT {', '.join(record.KEY)} FROM {record.TABLE} WHERE {where} AND submission_hash IN ({marks})",
            [*args, *wanted],
        ).fetchall()
        return {tuple(row) for row in rows}


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, without writing, a file that holds someone else's tables."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "trials" not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise ArenaError(f"{path} holds other tables ({shown}); not a MetaArena database, refusing to touch it")
    if "trials" in tables:
        present = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
        missing = set(_IDENTITY_COLUMNS) - present
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
