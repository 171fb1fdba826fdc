"""``arena results``: the standings in the terminal, or every trial record."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from arena.cli.app import DbOption, Format, app, check_format, console, db_path
from arena.records import TrialRecord, as_plain, fields, to_row


def records(db: Path, suite: str | None, split: str | None) -> list[TrialRecord]:
    from arena.store import Store

    store = Store(db, create=False)
    try:
        return store.trials(suite=suite, split=split)
    finally:
        store.close()


@app.command("results")
def results_command(
    suite: Annotated[str | None, typer.Option(help="only this suite")] = None,
    split: Annotated[str | None, typer.Option(help="only this split")] = None,
    fmt: Format = "table",
    db: DbOption = None,
) -> None:
    """The standings (table), or every trial record (json, csv)."""
    check_format(fmt, ("table", "json", "csv"))
    found = records(db_path(db), suite, split)
    if fmt == "json":
        for record in found:
            sys.stdout.write(json.dumps(as_plain(record)) + "\n")
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


def print_standings(trials: list[TrialRecord], references: set[str] | frozenset[str] = frozenset()) -> None:
    from arena.cli.standings import standings_table

    console.print(standings_table(trials, references=references))
