"""``arena bench``: the harness's own speed figures."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli.app import Format, app, check_format, console, err, listing, print_json


@app.command("bench")
def bench_command(
    fmt: Format = "table",
    quick: Annotated[bool, typer.Option("--quick", help="one repetition, fewer steps (~30 s)")] = False,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=2, help="the parallel figures compare 1 worker with this many")
    ] = 2,
) -> None:
    """The harness's own speed figures, as ratios measured back to back in one run."""
    from arena.bench import describe_cost_model, run_bench
    from leaderboard import build_site

    check_format(fmt)
    figures = run_bench(
        quick=quick, log=lambda text: err.print(f"[dim]bench: {text}[/dim]"), workers=workers, build_site=build_site
    )
    if fmt == "json":
        print_json(
            [
                {
                    "name": f.name,
                    "value": f.value,
                    "target": f.target,
                    "met": f.met,
                    "judged": f.judged,
                    "detail": f.detail,
                }
                for f in figures
            ]
        )
        return
    table = listing("figure", "value", "target", "", "detail", wrap=("detail",))
    for f in figures:
        mark = "" if f.met is None else ("[green]met[/green]" if f.met else "[red]missed[/red]")
        if not f.judged and f.target:
            mark = "[dim]not judged[/dim]"
        table.add_row(f.name, f"{f.value:.3f}", f.target, mark, f.detail)
    console.print(table)
    console.print(describe_cost_model(), highlight=False)
