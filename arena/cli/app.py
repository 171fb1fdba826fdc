"""The ``arena`` app and what its commands share: consoles, options, output helpers, progress.

Every user error ends as one line on stderr and exit code 2 (:func:`arena.cli.main`).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from arena.errors import ArenaError

app = typer.Typer(
    name="arena",
    help="MetaArena: benchmark game agents that learn to learn. Start with `arena demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
leaderboard_app = typer.Typer(help="Build or preview the static leaderboard site.", no_args_is_help=True)
app.add_typer(leaderboard_app, name="leaderboard")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Format = Annotated[str, typer.Option("--format", "-f", help="table, json (or csv where offered)")]
DbOption = Annotated[
    Path | None, typer.Option("--db", help="results database [env ARENA_DB, default ./arena.db]", show_default=False)
]


def db_path(db: Path | None) -> Path:
    return db or Path(os.environ.get("ARENA_DB", "arena.db"))


def check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    if fmt not in allowed:
        raise ArenaError(f"unknown format {fmt!r}; choose {', '.join(allowed)}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def progress_bar() -> Progress:
    """Stages with done/total, failures, elapsed and ETA, on stderr; off in CI logs without a terminal."""
    columns = (
        TextColumn("{task.description:>13}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failures]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    )  # fmt: skip
    return Progress(*columns, console=err, disable=not err.is_terminal and "CI" in os.environ)


def progress_callback(progress: Progress) -> Any:
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int, statuses: Counter[str]) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total, failures="")
        failures = sum(n for s, n in statuses.items() if s not in ("ok", "skipped"))
        progress.update(tasks[stage], completed=done, total=total, failures=f"{failures} failed" if failures else "")

    return update
