"""``arena results`` and ``arena standings``: the stored trials, and the boards scored from them."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from arena.cli.app import DbOption, Format, app, check_format, console, db_path, print_json, print_rows
from arena.errors import ArenaError, did_you_mean
from arena.records import TrialRecord, as_plain, fields, to_row

if TYPE_CHECKING:
    from arena.store import Store


def records(
    db: Path,
    suite: str | None,
    split: str | None,
    *,
    family: str | None = None,
    budget: int | None = None,
    every: bool = False,
) -> list[TrialRecord]:
    """Stored trials; a misspelt suite, split or family is an error with a did-you-mean."""
    from arena.store import Store

    store = Store(db, create=False)
    try:
        _check_filters(store, suite, split, family)
        return store.trials(suite=suite, split=split, family=family, budget=budget, every=every)
    finally:
        store.close()


def _check_filters(store: Store, suite: str | None, split: str | None, family: str | None) -> None:
    """Like `arena run`: a name that is neither stored nor known is a typo, not an empty result."""
    import games
    from arena.suites import SPLITS, suite_names

    if split is not None and split not in SPLITS:
        raise ArenaError(f"unknown split {split!r}{did_you_mean(split, SPLITS)}; choose {', '.join(SPLITS)}")
    if suite is not None:
        known = set(suite_names()) | {row["suite"] for row in store.rows("SELECT DISTINCT suite FROM trials", [])}
        if suite not in known:
            raise ArenaError(f"unknown suite {suite!r}{did_you_mean(suite, sorted(known))}")
    if family is not None and family not in games.family_names():
        raise ArenaError(f"unknown family {family!r}{did_you_mean(family, games.family_names())}")


SuiteFilter = Annotated[str | None, typer.Option(help="only this suite")]
SplitFilter = Annotated[str | None, typer.Option(help="only this split (train, dev, test)")]


@app.command("results")
def results_command(
    suite: SuiteFilter = None,
    split: SplitFilter = None,
    family: Annotated[str | None, typer.Option(help="only this family")] = None,
    budget: Annotated[int | None, typer.Option(help="only this adaptation budget (steps)")] = None,
    every: Annotated[
        bool, typer.Option("--all", help="also superseded rows, and self-reported ones the harness reran")
    ] = False,
    fmt: Format = "table",
    db: DbOption = None,
) -> None:
    """The standings (table), or every trial record (json: one array; jsonl: one per line; csv)."""
    check_format(fmt, ("table", "json", "jsonl", "csv"))
    found = records(db_path(db), suite, split, family=family, budget=budget, every=every)
    if print_rows([as_plain(record) for record in found], fmt):
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields(TrialRecord))
        writer.writeheader()
        writer.writerows(to_row(record) for record in found)
        sys.stdout.write(buffer.getvalue())
        return
    if not found:
        console.print(f"No trials stored in {db_path(db)} yet; run `arena run submissions/random --suite smoke`.")
        return
    print_standings(found, reference_hashes(db_path(db)))


def reference_hashes(db: Path) -> set[str]:
    """The stored submissions that are reference agents (listed apart, never ranked)."""
    from arena.store import Store

    store = Store(db, create=False)
    try:
        return {s.hash for s in store.submissions() if s.kind == "reference"}
    finally:
        store.close()


@app.command("standings")
def standings_command(
    suite: SuiteFilter = None,
    split: SplitFilter = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json (one document: the boards)")] = "table",
    db: DbOption = None,
) -> None:
    """The leaderboard's boards: per (suite, version, split), IQM with 95% CIs per budget, the
    adaptation area, and the trials by status."""
    from arena import scoring

    check_format(fmt)
    boards = scoring.score(records(db_path(db), suite, split))
    if fmt == "json":
        print_json([scoring.board_as_dict(board) for board in boards])
        return
    from arena.cli.standings import boards_table

    if not boards:
        console.print(f"No trials stored in {db_path(db)} yet; run `arena run submissions/random --suite smoke`.")
        return
    console.print(boards_table(boards))


def print_standings(trials: list[TrialRecord], references: set[str] | frozenset[str] = frozenset()) -> None:
    from arena.cli.standings import standings_table

    console.print(standings_table(trials, references=references))
