"""``arena leaderboard build`` and ``arena leaderboard serve``: the static site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from arena.cli.app import DbOption, console, db_path, leaderboard_app


@leaderboard_app.command("build")
def leaderboard_build(
    out: Annotated[Path, typer.Option(help="folder to write the site into")] = Path("site"),
    db: DbOption = None,
) -> None:
    """Write the static site (self-contained; works from file:// and any static host)."""
    from leaderboard.builder import build

    report = build(db_path(db), out)
    console.print(
        f"{report.index}: {len(report.written)} files written, {report.unchanged} unchanged, "
        f"{len(report.removed)} stale removed.",
        highlight=False,
    )


@leaderboard_app.command("serve")
def leaderboard_serve(
    site: Annotated[Path, typer.Option("--dir", help="the built site")] = Path("site"),
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8000,
) -> None:
    """Preview the built site on localhost (Ctrl-C stops)."""
    from leaderboard.serve import serve

    serve(site, port, ready=lambda url: console.print(f"Serving {site} at {url} (Ctrl-C stops)", highlight=False))
