"""``arena check``: a submission before it is submitted, or a family's conformance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import games
from arena.cli.app import app, console
from arena.errors import ArenaError, did_you_mean


@app.command("check")
def check_command(
    target: Annotated[str, typer.Argument(help="a submission folder, or a family name to run its conformance checks")],
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            "-s",
            help="check on this suite's families and budgets [default: smoke's budgets, one family per group]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate a submission (manifest, import in isolation, meta-training, trials at budget 0 and
    above on one variant of each family group) or a family."""
    if not Path(target).exists():
        if target in games.families():
            _check_family(target)
            return
        hint = did_you_mean(target, games.family_names())
        raise ArenaError(f"{target}: neither a submission folder nor a family{hint}")
    from arena.check import check_submission

    report = check_submission(target, suite)  # a broken manifest: ArenaError, one line, exit 2
    for step in report.steps:
        mark = "[green]ok[/green]  " if step.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {step.what}" + (f": {step.detail}" if step.detail else ""), highlight=False)
        if step.tail and not step.passed:
            console.print("\n".join(f"       {line}" for line in step.tail.splitlines()), markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    label = report.submission.label if report.submission else target
    console.print(f"{label} is ready to submit.", highlight=False)


def _check_family(name: str) -> None:
    from games.checker import check_family

    try:
        check_family(name)
    except AssertionError as exc:
        console.print(f"[red]FAIL[/red] {name}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"[green]ok[/green]   family {name} passes the conformance checks", highlight=False)
