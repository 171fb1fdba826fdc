"""``arena leaderboard build``, ``release`` and ``serve``: the static site and its releases."""

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


@leaderboard_app.command("release")
def leaderboard_release(
    suite: Annotated[str | None, typer.Option(help="release this suite's boards only [default: every board]")] = None,
    out: Annotated[Path, typer.Option(help="the site folder; releases go under OUT/releases/")] = Path("site"),
    db: DbOption = None,
) -> None:
    """Write an immutable, numbered release of each board whose trials changed since its last
    (standings.json, trials.csv.gz, release.json with hashes, commit and platform; test-split
    releases without variant ids or seeds), then rebuild the site, which links them."""
    from leaderboard.builder import build
    from leaderboard.releases import release

    for found in release(db_path(db), out, suite):
        what = "new" if found.created else "unchanged since"
        console.print(
            f"{found.suite} v{found.suite_version} {found.split}: {what} release {found.number} → {found.folder}",
            highlight=False,
        )
    report = build(db_path(db), out)
    console.print(f"{report.index}: {len(report.written)} files written", highlight=False)


@leaderboard_app.command("serve")
def leaderboard_serve(
    site: Annotated[Path, typer.Option("--dir", help="the built site")] = Path("site"),
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8000,
) -> None:
    """Preview the built site on localhost (Ctrl-C stops)."""
    from leaderboard.serve import serve

    serve(site, port, ready=lambda url: console.print(f"Serving {site} at {url} (Ctrl-C stops)", highlight=False))
