"""``arena reproduce SUITE``: a published table (``rl2-paper``) beside MetaArena's measurement."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from arena.cli.app import (
    DbOption,
    Format,
    app,
    check_format,
    console,
    db_path,
    err,
    print_json,
    progress_bar,
    progress_callback,
)
from arena.cli.run import only_families
from arena.errors import ArenaError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from arena.reproduce import Row
    from arena.store import Store
    from arena.submission import Submission
    from arena.suites import Suite


def _folder(agent: str) -> Path:
    """A submission folder by path, or by name among the project's own submissions."""
    from arena.submission import BASELINES

    path = Path(agent)
    if path.is_dir():
        return path
    if (BASELINES / agent).is_dir():
        return BASELINES / agent
    from games import did_you_mean

    names = [p.name for p in BASELINES.iterdir() if p.is_dir()] if BASELINES.is_dir() else []
    raise ArenaError(f"unknown agent {agent!r}: not a folder, nor one of submissions/{did_you_mean(agent, names)}")


@app.command("reproduce")
def reproduce_command(
    suite: Annotated[str, typer.Argument(help="a suite with a published table, e.g. rl2-paper")],
    agents: Annotated[
        str | None,
        typer.Option(help="comma-separated submissions (names in submissions/ or folders) [default: the references]"),
    ] = None,
    fmt: Format = "table",
    workers: Annotated[int, typer.Option("--workers", "-w", min=0, help="parallel runners (0: one per CPU core)")] = 0,
    db: DbOption = None,
    from_checkpoints: Annotated[
        bool,
        typer.Option(
            "--from-checkpoints",
            help="evaluate the checkpoints committed under submissions/<name>/checkpoints/ instead of meta-training "
            "(refused where they were made by other code or another suite version)",
        ),
    ] = False,
    publish_checkpoints: Annotated[
        bool,
        typer.Option(
            "--publish-checkpoints",
            help="copy the meta-trained checkpoints into submissions/<name>/checkpoints/<suite>@<version>/, "
            "each with a checkpoint.json (hash, suite version, steps, wall time, device, commit)",
        ),
    ] = False,
    cells: Annotated[
        str | None,
        typer.Option(help="comma-separated cells (the suite's families) to run [default: every cell]"),
    ] = None,
    meta_train_only: Annotated[
        bool,
        typer.Option(
            "--meta-train-only",
            help="meta-train every cell and stop before the trials (on a GPU machine; evaluate elsewhere "
            "with --from-checkpoints)",
        ),
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(
            help="one of --agents: also show each agent's paired difference from it, over the trials both ran "
            "on the same task and seeds (e.g. --against bayes-optimal: the distance to the ceiling)",
        ),
    ] = None,
) -> None:
    """Run submissions on every cell of a published table; print the paper's value beside MetaArena's
    mean and 95% CI. Trials are stored in the database like `arena run`'s (a rerun reuses them).

    Agents that meta-train (rl2) are meta-trained by the harness on each cell under the suite's
    budget first, unless --from-checkpoints evaluates the published ones."""
    from arena import campaign, published, reproduce
    from arena.harness.executors import make_executor
    from arena.store import Store
    from arena.submission import BASELINES, load_submission
    from arena.suites import load_suite

    check_format(fmt)
    whole = load_suite(suite)
    table = reproduce.published(whole)
    the_suite = only_families(whole, [c.strip() for c in (cells or "").split(",") if c.strip()])
    if cells:
        kept = {plan.family for plan in the_suite.families}
        table = dataclasses.replace(table, cells=tuple(c for c in table.cells if c.family in kept))
    if agents is None:
        names = [name for name in table.agents if (BASELINES / name).is_dir() and name != "rl2"]
    else:
        names = [name.strip() for name in agents.split(",") if name.strip()]
    if against is not None and against not in names:
        raise ArenaError(f"--against {against!r} is not one of the agents run: {', '.join(names)}")
    submissions = [load_submission(_folder(name)) for name in names]
    path = db_path(db)
    store = Store(path)
    try:
        if from_checkpoints:
            for submission in (s for s in submissions if s.kind != "reference"):  # references never meta-train
                adopted = published.adopt(store, submission, the_suite)
                err.print(f"{submission.label}: {adopted} published checkpoints of {the_suite.id} adopted")
        err.print(f"{', '.join(s.name for s in submissions)} on {the_suite.id}: {len(table.cells)} cells → {path}")
        if meta_train_only:
            with progress_bar() as progress:
                families = {plan.family for plan in the_suite.families}
                failed = campaign.meta_train_missing(
                    submissions, the_suite, store, make_executor("local", workers or os.cpu_count() or 1),
                    families, progress_callback(progress),
                )  # fmt: skip
            if publish_checkpoints:
                _publish(store, submissions, the_suite)
            if failed:
                status, error = next(iter(failed.values()))
                raise ArenaError(f"{len(failed)} meta-training(s) failed, the first {status}: {error}")
            return
        with progress_bar() as progress:
            summary = campaign.run(
                submissions,
                the_suite,
                "dev",
                store,
                make_executor("local", workers or os.cpu_count() or 1),
                progress=progress_callback(progress),
            )
        if summary.interrupted:
            err.print("Interrupted: every finished trial is stored; run the same command again to resume.")
            raise typer.Exit(130)
        if publish_checkpoints:
            _publish(store, submissions, the_suite)
        hashes = {s.hash for s in submissions}
        records = [
            r
            for r in store.trials(suite=the_suite.name, split="dev")
            if r.suite_version == the_suite.version and r.submission_hash in hashes
        ]
    finally:
        store.close()
    rows = reproduce.compare(table, records, [s.name for s in submissions], against)
    if fmt == "json":
        print_json([row.as_dict() for row in rows])
    else:
        console.print(_table(the_suite.id, table.source, rows))
        if against:
            console.print(_gaps_table(against, rows))
    missed = reproduce.misses(rows)
    if missed:
        err.print(reproduce.misses_line(missed))
        raise typer.Exit(1)


def _publish(store: Store, submissions: Sequence[Submission], suite: Suite) -> None:
    """Each submission's meta-trained checkpoints of ``suite`` into its folder, said on stderr."""
    from arena import published

    for submission in submissions:
        written = published.publish(store, submission, suite)
        where = f" → {written[0].parent.parent}" if written else ""
        err.print(f"{submission.label}: {len(written)} checkpoints published{where}")


def _table(suite_id: str, source: str, rows: list[Row]) -> Table:
    out = Table(
        title=f"{suite_id}: {source}",
        title_justify="left",
        caption="measured: mean total reward over the cell's tasks, 95% CI; ok/MISS: within the tolerance "
        "(plus the CI's half-width) for the agents the table requires; off: outside it, for the others",
        caption_justify="left",
    )
    for column in ("cell", "agent", "paper", "measured [95% CI]", "Δ %", ""):
        out.add_column(column, justify="left" if column in ("cell", "agent", "") else "right", no_wrap=True)
    for row in rows:
        verdict = "" if row.passed is None else ("ok" if row.passed else ("MISS" if row.required else "off"))
        out.add_row(
            row.cell, row.agent, "—" if row.paper is None else f"{row.paper:g}", _interval(row.n, row.measured, row.ci),
            "" if row.difference is None else f"{row.difference:+.1f}", verdict,
        )  # fmt: skip
    return out


def _gaps_table(against: str, rows: list[Row]) -> Table:
    """Each agent's paired difference from ``against``: a table of its own, so that the main one
    still fits a terminal of 80 columns."""
    out = Table(
        title=f"against {against}, paired: the same tasks and seeds",
        title_justify="left",
        caption=f"mean of (agent's total - {against}'s) over the trials both ran, 95% CI",
        caption_justify="left",
    )
    for column in ("cell", "agent", "difference [95% CI]", "trials"):
        out.add_column(column, justify="left" if column in ("cell", "agent") else "right", no_wrap=True)
    for row in rows:
        if row.agent != against:
            out.add_row(row.cell, row.agent, _interval(row.n, row.gap, row.gap_ci, sign="+"), str(row.paired))
    return out


def _interval(n: int, value: float | None, ci: tuple[float, float] | None, sign: str = "") -> str:
    """``value [low, high]``, to the table's precision (two decimals on the 10-step cells)."""
    if value is None or ci is None:
        return "—"
    digits = 1 if n > 10 else 2
    return f"{value:{sign}.{digits}f} [{ci[0]:{sign}.{digits}f}, {ci[1]:{sign}.{digits}f}]"
