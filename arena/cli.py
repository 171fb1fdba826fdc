"""The ``arena`` command line. Every user error ends as one line on stderr and exit code 2."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

import games
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


def _db_path(db: Path | None) -> Path:
    return db or Path(os.environ.get("ARENA_DB", "arena.db"))


def _check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json")) -> None:
    if fmt not in allowed:
        raise ArenaError(f"unknown format {fmt!r}; choose {', '.join(allowed)}")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------------------------
# games, suites
# --------------------------------------------------------------------------------------------


def _family_dict(family: games.Family) -> dict[str, Any]:
    env = games.make(games.Variant.of(family.name))
    return {
        "name": family.name,
        "group": family.group,
        "players": family.players,
        "description": family.description,
        "observation_space": str(env.observation_space),
        "action_space": str(env.action_space),
        "action_type": type(env.action_space).__name__,
        "max_episode_steps": family.max_episode_steps,
        "example": family.example or family.name,
        "parameters": {
            key: {
                "kind": p.kind,
                "default": str(p.default) if p.kind == "spec" else p.default,
                "range": p.describe(),
                "doc": p.doc,
            }
            for key, p in family.params.items()
        },
    }


@app.command("games")
def games_command(
    name: Annotated[str | None, typer.Argument(help="show one family in detail")] = None,
    fmt: Format = "table",
) -> None:
    """List game families, their parameters and ranges."""
    _check_format(fmt)
    if name is not None:
        family = games.get_family(name)
        info = _family_dict(family)
        env = games.make(info["example"], render_mode="ansi")
        env.reset(seed=0)
        info["rendering"] = str(env.render())
        if fmt == "json":
            _print_json(info)
            return
        console.print(f"[bold]{family.name}[/bold] ({family.group}, {family.players} player(s)): {family.description}")
        console.print(
            f"observations {info['observation_space']}, actions {info['action_space']}, time limit {family.max_episode_steps}"
        )
        table = Table("parameter", "default", "range", "meaning")
        for key, p in info["parameters"].items():
            table.add_row(key, str(p["default"]), p["range"], p["doc"])
        console.print(table)
        console.print(f"example: {info['example']}")
        console.print(info["rendering"], markup=False, highlight=False)
        return
    rows = [_family_dict(f) for f in games.families().values()]
    if fmt == "json":
        _print_json(rows)
        return
    table = Table("family", "group", "players", "actions", "parameters", "description")
    for row in rows:
        params = ", ".join(f"{k} {v['range']}" for k, v in row["parameters"].items())
        table.add_row(row["name"], row["group"], str(row["players"]), row["action_type"], params, row["description"])
    console.print(table)


def _suite_dict(suite: Any, with_variants: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": suite.name,
        "version": suite.version,
        "description": suite.description,
        "families": [p.family for p in suite.families],
        "budgets": list(suite.budgets),
        "adapt_seconds": list(suite.adapt_seconds),
        "seeds": suite.seeds,
        "eval_episodes": suite.eval_episodes,
        "meta_train_steps": suite.meta_train_steps,
        "dev_variants": len(suite.variants("dev")),
    }
    data["dev_trials"] = data["dev_variants"] * len(suite.budgets) * suite.seeds
    if with_variants:
        data["distributions"] = {
            p.family: {
                "train": {k: d.describe() for k, d in p.train.items()},
                "extrapolation": {k: d.describe() for k, d in p.extrapolation.items()},
                "interpolation_variants": p.n_interpolation,
                "extrapolation_variants": p.n_extrapolation,
            }
            for p in suite.families
        }
        data["dev"] = [
            {"variant": tv.variant.id, "group": tv.group, "reference": vars(suite.reference(tv.variant))}
            for tv in suite.variants("dev")
        ]
    return data


@app.command("suites")
def suites_command(fmt: Format = "table") -> None:
    """List the built-in suites."""
    from arena.suites import load_suite, suite_names

    _check_format(fmt)
    rows = [_suite_dict(load_suite(name), False) for name in suite_names()]
    if fmt == "json":
        _print_json(rows)
        return
    table = Table("suite", "version", "families", "budgets", "seeds", "dev trials", "description")
    for row in rows:
        table.add_row(
            row["name"], str(row["version"]), str(len(row["families"])), str(row["budgets"]), str(row["seeds"]),
            str(row["dev_trials"]), row["description"],
        )  # fmt: skip
    console.print(table)


@app.command("suite")
def suite_command(
    args: Annotated[
        list[str], typer.Argument(help="NAME (a suite name or TOML path), or: calibrate NAME", show_default=False)
    ],
    fmt: Format = "table",
    episodes: Annotated[int, typer.Option(help="calibrate: episodes per variant")] = 20,
) -> None:
    """Show what one suite holds; `arena suite calibrate NAME` re-measures its references."""
    if args[0] == "calibrate":
        if len(args) != 2:
            raise ArenaError("usage: arena suite calibrate NAME")
        _calibrate(args[1], fmt, episodes)
        return
    if len(args) != 1:
        raise ArenaError("usage: arena suite NAME  (or: arena suite calibrate NAME)")
    name = args[0]
    from arena.suites import load_suite

    _check_format(fmt)
    suite = load_suite(name)
    data = _suite_dict(suite, True)
    if fmt == "json":
        _print_json(data)
        return
    console.print(f"[bold]{suite.name}[/bold] version {suite.version}: {suite.description}")
    console.print(
        f"budgets {list(suite.budgets)} steps (adapt seconds {list(suite.adapt_seconds)}), {suite.seeds} seed(s), "
        f"{suite.eval_episodes} eval episodes, meta-train {suite.meta_train_steps} steps per family"
    )
    table = Table("family", "train distribution", "extrapolation", "test variants (interp + extrap)")
    for fam, dist in data["distributions"].items():
        table.add_row(
            fam,
            ", ".join(f"{k}={v}" for k, v in dist["train"].items()),
            ", ".join(f"{k}={v}" for k, v in dist["extrapolation"].items()),
            f"{dist['interpolation_variants']} + {dist['extrapolation_variants']}",
        )
    console.print(table)
    table = Table("dev variant", "group", "random return", "reference return")
    for row in data["dev"]:
        ref = row["reference"]
        table.add_row(row["variant"], row["group"], f"{ref['random']:.3g}", f"{ref['reference']:.3g}")
    console.print(table)


def _calibrate(name: str, fmt: str, episodes: int) -> None:
    """Print re-measured references as TOML to paste into a NEW suite version (published ones never change)."""
    from arena.calibrate import calibrate
    from arena.suites import load_suite

    _check_format(fmt, ("table", "json", "toml"))
    suite = load_suite(name)
    err.print(f"calibrating {suite.id}: random policy, {episodes} episodes per variant...")
    refs = calibrate(suite, episodes=episodes)
    if fmt == "json":
        _print_json(refs)
        return
    lines = [f"# references for {suite.id}, re-measured by `arena suite calibrate {name}`"]
    for key, ref in refs.items():
        table = (
            f"families.{key}.reference"
            if "(" not in key and key in {p.family for p in suite.families}
            else f'references."{key}"'
        )
        reference = "nan" if ref["reference"] is None else repr(float(ref["reference"]))
        lines += [
            f"[{table}]",
            f"random = {float(ref['random'])!r}",
            f"reference = {reference}",
            f"method = {json.dumps(ref['method'])}",
            "",
        ]
    sys.stdout.write("\n".join(lines))


# --------------------------------------------------------------------------------------------
# check, run, results
# --------------------------------------------------------------------------------------------


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


def _progress_bar() -> Progress:
    """Stages with done/total, failures, elapsed and ETA, on stderr; off in CI logs without a terminal."""
    columns = (
        TextColumn("{task.description:>13}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failures]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    )  # fmt: skip
    return Progress(*columns, console=err, disable=not err.is_terminal and "CI" in os.environ)


def _progress_callback(progress: Progress) -> Any:
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int, statuses: Counter[str]) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total, failures="")
        failures = sum(n for s, n in statuses.items() if s not in ("ok", "skipped"))
        progress.update(tasks[stage], completed=done, total=total, failures=f"{failures} failed" if failures else "")

    return update


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
    from arena import campaign, sandbox
    from arena.executors import EXECUTORS, make_executor
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
    executor = make_executor(executor_name, workers, address=address)
    label = ", ".join(s.name for s in submissions)
    console.print(f"{label} on {suite.id} {split} split → {db}", highlight=False)
    with _progress_bar() as progress:
        summary = campaign.run(
            submissions, suite, split, store, executor, test_seed=test_seed, progress=_progress_callback(progress)
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
    _run(submissions, suite, split, _db_path(db), workers or os.cpu_count() or 1, executor, test_seed_file, address)


def _records(db: Path, suite: str | None, split: str | None) -> list[dict[str, Any]]:
    from arena.store import Store

    store = Store(db, create=False)
    try:
        return store.trials(suite=suite, split=split)
    finally:
        store.close()


RESULT_FIELDS = (
    "submission", "submission_version", "suite", "suite_version", "split", "variant", "family", "variant_group",
    "budget", "seed", "status", "eval_return", "normalized_score", "steps_used", "wall_seconds", "adapt_seconds",
    "error", "submission_hash", "episode_returns", "finished_at",
)  # fmt: skip


@app.command("results")
def results_command(
    suite: Annotated[str | None, typer.Option(help="only this suite")] = None,
    split: Annotated[str | None, typer.Option(help="only this split")] = None,
    fmt: Format = "table",
    db: DbOption = None,
) -> None:
    """The standings (table), or every trial record (json, csv)."""
    _check_format(fmt, ("table", "json", "csv"))
    records = _records(_db_path(db), suite, split)
    if fmt == "json":
        for record in records:
            sys.stdout.write(json.dumps({k: record.get(k) for k in RESULT_FIELDS}) + "\n")
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "episode_returns": json.dumps(record["episode_returns"])})
        sys.stdout.write(buffer.getvalue())
        return
    if not records:
        console.print(f"No trials stored in {_db_path(db)} yet; run `arena run submissions/random --suite smoke`.")
        return
    _print_standings(records)


def _print_standings(records: list[dict[str, Any]]) -> None:
    from leaderboard.standings import standings_table

    console.print(standings_table(records))


@leaderboard_app.command("build")
def leaderboard_build(
    out: Annotated[Path, typer.Option(help="folder to write the site into")] = Path("site"),
    db: DbOption = None,
) -> None:
    """Write the static site (self-contained; works from file:// and any static host)."""
    from leaderboard.builder import build

    report = build(_db_path(db), out)
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

    _check_format(fmt)
    figures = run_bench(quick=quick, log=lambda text: err.print(f"[dim]bench: {text}[/dim]"), workers=workers)
    if fmt == "json":
        _print_json(
            [{"name": f.name, "value": f.value, "target": f.target, "met": f.met, "detail": f.detail} for f in figures]
        )
        return
    table = Table("figure", "value", "target", "", "detail")
    for f in figures:
        mark = "" if f.met is None else ("[green]met[/green]" if f.met else "[red]missed[/red]")
        table.add_row(f.name, f"{f.value:.3f}", f.target, mark, f.detail)
    console.print(table)
    console.print(describe_cost_model(), highlight=False)


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
    path = _db_path(db)
    _run(dirs, "smoke", "dev", path, workers or os.cpu_count() or 1, "local", None)
    _print_standings(_records(path, "smoke", "dev"))
    from leaderboard.builder import build

    report = build(path, out)
    console.print(f"Site written to {report.index} ({len(report.written)} files changed). Open it in a browser,")
    console.print("or preview it with: arena leaderboard serve --dir " + str(out), highlight=False)


# --------------------------------------------------------------------------------------------
# ladder (cross-play on two-player variants; see arena/ladder.py)
# --------------------------------------------------------------------------------------------


@app.command("ladder")
def ladder_command(
    submissions: Annotated[
        list[Path] | None, typer.Argument(help="submission folders (none: show the stored ladder)", show_default=False)
    ] = None,
    suite: Annotated[str, typer.Option("--suite", "-s", help="suite name or TOML path")] = "smoke",
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
    from arena import ladder, ladder_store, ratings
    from arena.store import Store
    from arena.submission import load_submission
    from arena.suites import load_suite

    _check_format(fmt)
    the_suite = load_suite(suite)
    path = _db_path(db)
    if submissions:
        subs = [load_submission(d) for d in submissions]
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
            with _progress_bar() as progress:
                summary = ladder.run_ladder(
                    subs, the_suite, store, seeds=seeds, families=family, progress=_progress_callback(progress)
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
        matches = ladder_store.matches(store, the_suite.name)
    finally:
        store.close()
    tables = [t for t in ratings.ladder_tables(matches) if t.suite_version == the_suite.version]
    if not tables:
        console.print(f"No ladder matches of {the_suite.id} stored in {path} yet.")
        return
    table = tables[0]
    if fmt == "json":
        _print_json(
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
    out = Table("#", "submission", "α-Rank", "μ ± σ", "μ−3σ", "mean score", "W-D-L", "illegal", "failed matches")
    for p in table.standings:
        out.add_row(
            str(p.rank), f"{p.name} {p.version}", f"{p.alpha_mass:.3f}", f"{p.mu:.1f} ± {p.sigma:.1f}",
            f"{p.ordinal:.1f}", f"{p.mean_score:.3f}", f"{p.wins}-{p.draws}-{p.losses}", str(p.illegal),
            ", ".join(f"{n} {s}" for s, n in sorted(p.failures.items())) or "0",
        )  # fmt: skip
    console.print(out)
    console.print(f"{table.n_matches} matches of {table.suite} v{table.suite_version}; payoff (row's mean score):")
    payoff = Table("", *[p.name for p in table.standings])
    for p, row in zip(table.standings, table.payoff, strict=True):
        payoff.add_row(p.name, *["—" if v != v else f"{v:.2f}" for v in row])
    console.print(payoff)


def main() -> None:
    try:
        app()
    except (ArenaError, games.SpecError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
