"""The ``arena`` app and what its commands share: consoles, options, output helpers, progress.

Every user error ends as one line on stderr and exit code 2 (:func:`arena.cli.main`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

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

Format = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="table, json (one document), jsonl (one object per line) or csv, where offered"
    ),
]
Workers = Annotated[
    int, typer.Option("--workers", "-w", help="parallel trials [default: one per CPU core]", show_default=False)
]


def _version(value: bool) -> None:
    if value:
        import arena

        console.print(f"arena {arena.__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """MetaArena: benchmark game agents that learn to learn. Start with `arena demo`."""


def worker_count(workers: int) -> int:
    """``--workers``: 0 means one per CPU core; a negative count is refused."""
    if workers < 0:
        raise ArenaError(f"--workers must be a positive number of parallel trials (0: one per core), got {workers}")
    return workers or os.cpu_count() or 1


DbOption = Annotated[
    Path | None, typer.Option("--db", help="results database [env ARENA_DB, default ./arena.db]", show_default=False)
]


def db_path(db: Path | None) -> Path:
    return db or Path(os.environ.get("ARENA_DB", "arena.db"))


def check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    if fmt not in allowed:
        raise ArenaError(f"unknown format {fmt!r}; choose {', '.join(allowed)}")


def listing(*columns: str, wrap: Sequence[str] = (), title: str | None = None) -> Table:
    """A table that reads at 80 columns: no vertical rules, and only the ``wrap`` columns (the
    prose: descriptions, details) wrap, at word boundaries; the others keep their width."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, title=title)
    for column in columns:
        wraps = column in wrap
        table.add_column(
            column, no_wrap=not wraps, ratio=1 if wraps else None, overflow="fold" if wraps else "ellipsis"
        )
    return table


def print_json(data: Any) -> None:
    """One JSON document on stdout (a list of objects, or the one object a command shows)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_jsonl(rows: Sequence[Any]) -> None:
    """One JSON object per line (``--format jsonl``)."""
    sys.stdout.write("".join(json.dumps(row, default=str) + "\n" for row in rows))


def print_rows(rows: Sequence[Any], fmt: str) -> bool:
    """Print ``rows`` when ``fmt`` is json or jsonl; False when the caller prints a table."""
    if fmt == "json":
        print_json(list(rows))
    elif fmt == "jsonl":
        print_jsonl(rows)
    else:
        return False
    return True


PROGRESS_SECONDS = float(os.environ.get("ARENA_PROGRESS_SECONDS", "30"))


class LineProgress:
    """Progress for a log (stderr not a terminal: CI, nohup, SLURM): plain lines, one when a stage
    starts or ends, and at most one per ``interval`` in between; a line every ``interval`` also
    when nothing finished, so a long meta-training shows that the run is alive."""

    def __init__(self, interval: float = PROGRESS_SECONDS):
        self.interval = interval
        self.started = time.monotonic()
        self.tasks: dict[int, dict[str, Any]] = {}
        self.last_line = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="arena-progress", daemon=True)

    def __enter__(self) -> LineProgress:
        self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._beat.join(timeout=5)

    def add_task(self, description: str, total: int, failures: str = "") -> int:
        with self._lock:
            task = len(self.tasks)
            self.tasks[task] = {"description": description, "completed": 0, "total": total, "failures": failures}
            self._line(task)
        return task

    def update(self, task: int, completed: int, total: int, failures: str = "") -> None:
        with self._lock:
            state = self.tasks[task]
            changed = state["completed"] != completed
            state.update(completed=completed, total=total, failures=failures)
            if changed and (completed >= total or time.monotonic() - self.last_line >= self.interval):
                self._line(task)

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(self.interval, 5.0)):
            with self._lock:
                if self.tasks and time.monotonic() - self.last_line >= self.interval:
                    self._line(max(self.tasks))

    def _line(self, task: int) -> None:
        state = self.tasks[task]
        elapsed = time.monotonic() - self.started
        done, total = state["completed"], state["total"]
        text = f"[{elapsed:6.0f}s] {state['description']} {done}/{total}"
        if state["failures"]:
            text += f", {state['failures']}"
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        self.last_line = time.monotonic()


def progress_bar() -> Progress | LineProgress:
    """Stages with done/total, failures, elapsed and ETA, on stderr: a live bar on a terminal,
    plain periodic lines otherwise (a log file, CI)."""
    if not err.is_terminal:
        return LineProgress()
    columns = (
        TextColumn("{task.description:>13}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failures]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    )  # fmt: skip
    return Progress(*columns, console=err)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's cancel, ``kill``): stops a run like Ctrl-C, so it ends resumable."""


class Signals:
    terminated = False  # whether SIGTERM stopped the run (exit 143, not Ctrl-C's 130)


@contextmanager
def interruptible() -> Iterator[Signals]:
    """Turn SIGTERM into :class:`Terminated` while a run is in progress (main thread only)."""
    seen = Signals()

    def stop(signum: int, frame: Any) -> None:
        seen.terminated = True
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_exit(seen: Signals, what: str = "trial") -> typer.Exit:
    """The message and exit code of a run stopped by Ctrl-C or SIGTERM."""
    err.print(f"Interrupted: every finished {what} is stored; run the same command again to resume.")
    return typer.Exit(143 if seen.terminated else 130)


def progress_callback(progress: Progress | LineProgress) -> Any:
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int, statuses: Counter[str]) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total, failures="")
        failures = sum(n for s, n in statuses.items() if s not in ("ok", "skipped"))
        progress.update(tasks[stage], completed=done, total=total, failures=f"{failures} failed" if failures else "")

    return update
