"""The records that cross stages: what the harness produces, the store keeps, scoring reads and
the site shows. One definition of each, with its key and its columns.

A record is a frozen dataclass. Its fields are the store's columns in order; ``KEY`` names the
fields that identify it (the table's primary key); list fields are stored as JSON text.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, TypeVar


class Provenance(StrEnum):
    """Who ran a stored trial."""

    OFFICIAL = "official"  # the test split, run with the seed whose hash the suite publishes
    HARNESS = "harness"  # run by this harness
    SELF_REPORTED = "self-reported"  # imported from a results file


class Status(StrEnum):
    """How a trial, a meta-training job or a match ended."""

    OK = "ok"
    ERROR = "error"  # the agent raised, exited or broke the protocol; or the harness failed
    TIMEOUT = "timeout"  # a wall-clock limit passed
    INVALID_ACTION = "invalid_action"  # an action outside the action space (or NaN)
    OOM = "oom"  # the agent ran out of memory
    SKIPPED = "skipped"  # meta-training only: the agent defines no meta_train


# How a trial can end, in the order tables list them.
TRIAL_STATUSES: tuple[Status, ...] = (Status.OK, Status.ERROR, Status.TIMEOUT, Status.INVALID_ACTION, Status.OOM)
FAILURES: frozenset[str] = frozenset(TRIAL_STATUSES) - {Status.OK}


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """One finished trial: (submission, suite version, split, variant, budget, seed) and how it went."""

    TABLE: ClassVar[str] = "trials"
    # Provenance is a key part (schema 3): an imported, self-reported row never stands in for
    # the same trial run by the harness, and a later `arena run` still runs it.
    KEY: ClassVar[tuple[str, ...]] = (
        "submission_hash", "suite", "suite_version", "split", "variant", "budget", "seed", "meta_train_seed", "model",
        "provenance",
    )  # fmt: skip

    submission_hash: str
    suite: str
    suite_version: int
    split: str
    variant: str
    budget: int
    seed: int
    submission: str
    submission_version: str
    family: str
    variant_group: str
    status: str
    eval_return: float | None = None  # mean return over the evaluation episodes; None when failed
    normalized_score: float | None = None  # (R - R_random) / (R_reference - R_random); 0 when failed
    episode_returns: tuple[float, ...] = ()
    steps_used: int = 0
    wall_seconds: float = 0.0
    adapt_seconds: float = 0.0
    error: str | None = None
    arena_version: str = ""
    finished_at: str = ""
    # Schema 2 (the second round's contracts, DESIGN.md): each a migration, never a refusal.
    meta_train_seed: int = 0  # which meta-training run's checkpoint (0 where a suite has one run)
    model: str = ""  # the text track's language model ("" for other suites)
    adapt_return: float | None = None  # reward earned while adapting, counted by the harness
    online_score: float | None = None  # regret-normalized return over the whole trial
    success_rate: float | None = None  # evaluation episodes that reached the goal (families that have one)
    device: str = ""  # where the agent ran: "cpu", "cuda:0"
    node: str = ""  # the machine (host, or Ray node) that ran the trial
    provenance: str = "harness"  # official, harness or self-reported
    tokens_used: int = 0  # text track: model tokens, adaptation and evaluation
    llm_calls: int = 0
    unparsable_answers: int = 0  # text track: answers that named no legal move
    # Schema 3: where a self-reported row (``arena import``) was recorded.
    commit: str = ""  # the commit of the code that recorded it
    platform: str = ""  # the recording machine's platform, as JSON (CPU, kernels, library versions)
    # Schema 4: how the agent process's memory was capped ("cgroup", "rlimit"; "none": a GPU
    # process on a machine without a cgroup memory controller ran uncapped).
    memory_cap: str = ""
    # Schema 5: the command that ran it (``arena run ...``), with what is secret or local removed:
    # what the site's "reproduce this row" shows. Empty for rows stored before, and imported ones.
    command: str = ""
    # Schema 6 (text track): the first few answers that named no legal move, verbatim (each
    # such answer lost its episode, as an illegal move does; ``unparsable_answers`` counts all).
    illegal_answers: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.KEY)


@dataclass(frozen=True, kw_only=True)
class MetaTrainRecord:
    """One (submission, suite version, family)'s meta-training, and the checkpoint it left."""

    TABLE: ClassVar[str] = "meta_trains"
    KEY: ClassVar[tuple[str, ...]] = ("submission_hash", "suite", "suite_version", "family", "meta_train_seed")

    submission_hash: str
    suite: str
    suite_version: int
    family: str
    status: str
    steps_used: int = 0
    wall_seconds: float = 0.0
    error: str | None = None
    checkpoint: str | None = None
    finished_at: str = ""
    meta_train_seed: int = 0
    device: str = ""
    node: str = ""
    memory_cap: str = ""  # schema 4, as TrialRecord's


@dataclass(frozen=True, kw_only=True)
class MatchRecord:
    """One cross-play match of the ladder: (suite version, variant, A, B, seat of A, seed).

    A and B are in hash order, so a pair is one key whichever order a command named them in.
    """

    TABLE: ClassVar[str] = "matches"
    KEY: ClassVar[tuple[str, ...]] = (
        "suite", "suite_version", "variant", "submission_a_hash", "submission_b_hash", "seat_a", "seed",
    )  # fmt: skip

    suite: str
    suite_version: int
    variant: str
    submission_a_hash: str
    submission_b_hash: str
    seat_a: int
    seed: int
    family: str
    submission_a: str
    submission_a_version: str
    submission_b: str
    submission_b_version: str
    budget: int  # adaptation steps each agent had (the suite's smallest non-zero budget)
    status: str
    failed: str | None = None  # who caused a failed match: "a", "b" or "harness"
    error: str | None = None
    games: int = 0
    wins_a: int = 0
    draws: int = 0
    losses_a: int = 0
    score_a: float | None = None  # A's mean game score: win 1, draw 0.5, loss 0 (a failure forfeits)
    illegal_a: int = 0  # games A lost by an illegal or invalid move
    illegal_b: int = 0
    returns_a: tuple[float, ...] = ()  # A's return in each game
    steps_a: int = 0  # adaptation steps used
    steps_b: int = 0
    wall_seconds: float = 0.0
    arena_version: str = ""
    finished_at: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmissionRecord:
    """A submission's manifest as the store keeps it, by content hash."""

    TABLE: ClassVar[str] = "submissions"
    KEY: ClassVar[tuple[str, ...]] = ("hash",)

    hash: str
    name: str
    version: str
    authors: tuple[str, ...] = ()
    entry: str = ""
    description: str = ""
    license: str = ""
    url: str = ""
    path: str = ""
    first_seen: str = ""
    kind: str = "agent"  # "reference": shown as a reference line, never ranked
    families: tuple[str, ...] = ()  # a reference agent's families (the ones it models)
    superseded_at: str = ""  # set when a rerun under the same name@version replaced this code

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


Record = TrialRecord | MetaTrainRecord | MatchRecord | SubmissionRecord
R = TypeVar("R", TrialRecord, MetaTrainRecord, MatchRecord, SubmissionRecord)


# --------------------------------------------------------------------------------------------
# Rows: records as the store and the downloads hold them
# --------------------------------------------------------------------------------------------


def fields(cls: type[Record]) -> tuple[str, ...]:
    """A record type's field names, in column order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _base_type(annotation: Any) -> type:
    """``int`` of ``int | None``, ``tuple`` of ``tuple[float, ...]``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        origin = typing.get_origin(annotation)
    return origin or annotation


def columns(cls: type[Record]) -> dict[str, type]:
    """The store's column types of a record type (lists are JSON text)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, type] = {}
    for name in fields(cls):
        base = _base_type(hints[name])
        out[name] = str if base is tuple else base
    return out


_LIST_FIELDS: dict[type, tuple[str, ...]] = {}


def _list_fields(cls: type[Record]) -> tuple[str, ...]:
    if cls not in _LIST_FIELDS:
        hints = typing.get_type_hints(cls)
        _LIST_FIELDS[cls] = tuple(n for n in fields(cls) if _base_type(hints[n]) is tuple)
    return _LIST_FIELDS[cls]


def to_row(record: Record) -> dict[str, Any]:
    """A record as a row of plain values (list fields as JSON text, statuses as strings)."""
    row = {name: getattr(record, name) for name in fields(type(record))}
    for name in _list_fields(type(record)):
        row[name] = json.dumps(list(row[name]))
    if "status" in row:
        row["status"] = str(row["status"])
    return row


def from_row(cls: type[R], row: Mapping[str, Any]) -> R:
    """A record from a stored row; columns the record does not know are ignored."""
    values = {name: row[name] for name in fields(cls) if name in row}
    for name in _list_fields(cls):
        if name in values:
            raw = values[name]
            values[name] = tuple(json.loads(raw) if isinstance(raw, str) else raw or ())
    return cls(**values)


def as_plain(record: Record) -> dict[str, Any]:
    """A record as JSON-ready values (lists as lists): what ``--format json`` prints."""
    out = {name: getattr(record, name) for name in fields(type(record))}
    for name in _list_fields(type(record)):
        out[name] = list(out[name])
    if "status" in out:
        out["status"] = str(out["status"])
    return out
