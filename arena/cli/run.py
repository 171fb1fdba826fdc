"""``arena check``, ``arena run``, ``arena demo``: submissions through the harness."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

import games
from arena.cli.app import DbOption, app, console, db_path, err, progress_bar, progress_callback
from arena.cli.results import print_standings, records, reference_hashes
from arena.errors import ArenaError


@app.command("check")
def check_command(
    target: Annotated[str, typer.Argument(help="a submission folder, or a family name to run its conformance checks")],
) -> None:
    """Validate a submission (manifest, import in isolation, one real smoke trial) or a family."""
    if not Path(target).exists() and target in games.families():
        from games.checker import check_family

        try:
            check_family(target)
        except AssertionError as exc:
            console.print(f"[red]FAIL[/red] {target}: {exc}", highlight=False)
            raise typer.Exit(1) from None
        console.print(f"[green]ok[/green]   family {target} passes the conformance checks", highlight=False)
        return
    from arena.check import check_submission

    report = check_submission(target)
    for what, passed, detail in report.steps:
        mark = "[green]ok[/green]  " if passed else "[red]FAIL[/red]"
        console.print(f"{mark} {what}" + (f": {detail}" if detail else ""), highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"{report.submission.label if report.submission else target} is ready to submit.")


def _run(
    submission_dirs: list[Path],
    suite_name: str,
    split: str,
    db: Path,
    workers: int,
    executor_name: str,
    test_seed_file: Path | None,
    address: str | None = None,
) -> Any:
    from arena import campaign
    from arena.boundary import sandbox
    from arena.harness.executors import EXECUTORS, make_executor
    from arena.store import Store
    from arena.submission import load_submission
    from arena.suites import SPLITS, load_suite, read_test_seed

    if split not in SPLITS:
        raise ArenaError(f"unknown split {split!r}; choose {', '.join(SPLITS)}")
    test_seed = None
    if split == "test" and test_seed_file is None:
        raise ArenaError("--split test needs --test-seed-file (the secret seed of official runs)")
    sandboxed, why = sandbox.available()  # probes once; warns once when incomplete
    if split == "test":
        if not sandboxed:
            raise ArenaError(f"refusing to run the test split without the full agent sandbox: {why}")
        assert test_seed_file is not None
        test_seed = read_test_seed(test_seed_file)
    suite = load_suite(suite_name)
    submissions = [load_submission(d) for d in submission_dirs]
    names = Counter(s.name for s in submissions)
    if any(n > 1 for n in names.values()):
        raise ArenaError(f"two submissions share the name {names.most_common(1)[0][0]!r}")
    store = Store(db)
    if executor_name not in EXECUTORS:
        raise ArenaError(f"unknown executor {executor_name!r}; choose {', '.join(EXECUTORS)}")
    if address is not None and executor_name != "ray":
        raise ArenaError("--address is the Ray cluster's: it goes with --executor ray")
    executor = make_executor(executor_name, workers, address=address, require_sandbox=split == "test")
    label = ", ".join(s.name for s in submissions)
    console.print(f"{label} on {suite.id} {split} split → {db}", highlight=False)
    with progress_bar() as progress:
        summary = campaign.run(
            submissions, suite, split, store, executor, test_seed=test_seed, progress=progress_callback(progress)
        )
    store.close()
    if summary.ran == 0 and not summary.interrupted:
        console.print(f"All {summary.planned} trials are already stored in {db}; nothing new to run.")
    else:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items()))
        console.print(
            f"Ran {summary.ran} trials ({statuses}) in {summary.wall_seconds:.1f}s; "
            f"{summary.already_stored} were already stored."
        )
    if summary.interrupted:
        err.print("Interrupted: every finished trial is stored; run the same command again to resume.")
        raise typer.Exit(130)
    return summary


@app.command("run")
def run_command(
    submissions: Annotated[list[Path], typer.Argument(help="submission folders")],
    suite: Annotated[str, typer.Option("--suite", "-s", help="suite name or TOML path")] = "smoke",
    split: Annotated[str, typer.Option(help="train, dev or test")] = "dev",
    workers: Annotated[int, typer.Option("--workers", "-w", help="parallel trials [default: CPU cores]")] = 0,
    executor: Annotated[str, typer.Option(help="local (this machine) or ray (a Ray cluster)")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (ray executor) [default: start a local Ray]")
    ] = None,
    test_seed_file: Annotated[Path | None, typer.Option(help="file holding the test split's secret seed")] = None,
    db: DbOption = None,
) -> None:
    """Meta-train and evaluate submissions on a suite; resumable and idempotent."""
    _run(submissions, suite, split, db_path(db), workers or os.cpu_count() or 1, executor, test_seed_file, address)


@app.command("demo")
def demo_command(
    db: DbOption = None,
    out: Annotated[Path, typer.Option(help="where to write the site")] = Path("site"),
    workers: Annotated[int, typer.Option("--workers", "-w", help="parallel trials [default: CPU cores]")] = 0,
) -> None:
    """The one-command tour: the baselines on the smoke suite, the standings, then the site."""
    from arena.submission import BASELINES, baseline_folders

    dirs = baseline_folders()
    if not dirs:
        raise ArenaError(f"no submissions found under {BASELINES}")
    path = db_path(db)
    _run(dirs, "smoke", "dev", path, workers or os.cpu_count() or 1, "local", None)
    print_standings(records(path, "smoke", "dev"), reference_hashes(path))
    from leaderboard.builder import build

    report = build(path, out)
    console.print(f"Site written to {report.index} ({len(report.written)} files changed). Open it in a browser,")
    console.print("or preview it with: arena leaderboard serve --dir " + str(out), highlight=False)
