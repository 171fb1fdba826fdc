"""``arena ladder``: cross-play of submissions on two-player variants, rated."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from arena.cli.app import (
    DbOption,
    Format,
    app,
    check_format,
    console,
    db_path,
    err,
    listing,
    print_json,
    progress_bar,
    progress_callback,
)
from arena.errors import ArenaError


@app.command("ladder")
def ladder_command(
    submissions: Annotated[
        list[Path] | None, typer.Argument(help="submission folders (none: show the stored ladder)", show_default=False)
    ] = None,
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="suite name or TOML path: one with two-player families")
    ] = "spiel-v1",
    seeds: Annotated[
        int | None, typer.Option(help="seeds per variant [default: the suite's]", show_default=False)
    ] = None,
    family: Annotated[
        list[str] | None, typer.Option("--family", help="only this two-player family (repeatable)", show_default=False)
    ] = None,
    fmt: Format = "table",
    db: DbOption = None,
) -> None:
    """Cross-play: every pair of submissions on the suite's two-player variants, rated (OpenSkill, α-Rank)."""
    from arena.ladder import match as ladder
    from arena.ladder import ratings
    from arena.store import Store
    from arena.submission import load_submission
    from arena.suites import load_suite

    check_format(fmt)
    the_suite = load_suite(suite)
    path = db_path(db)
    if submissions:
        from arena.harness import environments

        subs = [environments.prepare(load_submission(d)) for d in submissions]
        names = Counter(s.name for s in subs)
        if any(n > 1 for n in names.values()):
            raise ArenaError(f"two submissions share the name {names.most_common(1)[0][0]!r}")
        store = Store(path)
        budget, _ = ladder.ladder_budget(the_suite)
        err.print(
            f"{', '.join(s.name for s in subs)}: cross-play on {the_suite.id} two-player dev variants, "
            f"adaptation budget {budget} steps → {path}",
            highlight=False,
        )
        try:
            with progress_bar() as progress:
                summary = ladder.run_ladder(
                    subs, the_suite, store, seeds=seeds, families=family, progress=progress_callback(progress)
                )
        finally:
            store.close()
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "none"
        err.print(
            f"Played {summary.ran} matches ({statuses}) in {summary.wall_seconds:.1f}s; "
            f"{summary.already_stored} of {summary.planned} were already stored.",
            highlight=False,
        )
        if summary.interrupted:
            err.print("Interrupted: every finished match is stored; run the same command again to resume.")
            raise typer.Exit(130)
    store = Store(path, create=False)
    try:
        matches = store.matches(the_suite.name)
    finally:
        store.close()
    tables = [t for t in ratings.ladder_tables(matches) if t.suite_version == the_suite.version]
    if not tables:
        console.print(f"No ladder matches of {the_suite.id} stored in {path} yet.")
        return
    table = tables[0]
    if fmt == "json":
        print_json(
            {
                "suite": table.suite,
                "suite_version": table.suite_version,
                "matches": table.n_matches,
                "statuses": dict(table.statuses),
                "standings": [p.as_dict() for p in table.standings],
                "payoff": [[None if v != v else float(v) for v in row] for row in table.payoff],
            }
        )
        return
    out = listing(
        "#",
        "submission",
        "α-Rank",
        "μ ± σ",
        "μ−3σ",
        "mean score",
        "W-D-L",
        "illegal",
        "failed matches",
        wrap=("submission", "failed matches"),
    )
    for p in table.standings:
        out.add_row(
            str(p.rank), f"{p.name} {p.version}", f"{p.alpha_mass:.3f}", f"{p.mu:.1f} ± {p.sigma:.1f}",
            f"{p.ordinal:.1f}", f"{p.mean_score:.3f}", f"{p.wins}-{p.draws}-{p.losses}", str(p.illegal),
            ", ".join(f"{n} {s}" for s, n in sorted(p.failures.items())) or "0",
        )  # fmt: skip
    console.print(out)
    console.print(f"{table.n_matches} matches of {table.suite} v{table.suite_version}; payoff (row's mean score):")
    payoff = listing("", *[p.name for p in table.standings])
    for p, row in zip(table.standings, table.payoff, strict=True):
        payoff.add_row(p.name, *["—" if v != v else f"{v:.2f}" for v in row])
    console.print(payoff)
