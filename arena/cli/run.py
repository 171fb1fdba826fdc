"""``arena run`` and ``arena demo``: submissions through the harness."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arena.cli.app import (
    DbOption,
    Workers,
    app,
    console,
    db_path,
    err,
    interrupted_exit,
    interruptible,
    progress_bar,
    progress_callback,
    worker_count,
)
from arena.cli.results import print_standings, records, reference_hashes
from arena.errors import ArenaError

if TYPE_CHECKING:
    from arena.suites import Suite


def rerun_command(
    folder: Path, suite: Suite, split: str, families: Sequence[str], llm: tuple[str, str] | None = None
) -> str:
    """The ``arena run`` that reruns a submission's trials of this run: the folder as given, the
    suite's exact version, the families, the model (a server's by placeholder: its address is
    local); the test seed's file by a placeholder, never its path."""
    words = ["arena", "run", shlex.quote(str(folder)), "--suite", suite.id, "--split", split]
    words += [w for family in families for w in ("--family", family)]
    if llm is not None and llm[0]:
        words += ["--llm", "MODEL_SERVER_URL", "--llm-model", shlex.quote(llm[1])]
    if split == "test":
        words += ["--test-seed-file", "SECRET_SEED_FILE"]
    return " ".join(words)


def only_families(suite: Suite, families: Sequence[str]) -> Suite:
    """The suite with only ``families`` (all where none are named). Each family's variants and
    seeds are drawn on their own, so its trials are exactly those of a run of the whole suite."""
    if not families:
        return suite
    known = [plan.family for plan in suite.families]
    for name in families:
        if name not in known:
            from games import did_you_mean

            raise ArenaError(f"suite {suite.id} has no family {name!r}{did_you_mean(name, known)}")
    return dataclasses.replace(suite, families=tuple(p for p in suite.families if p.family in families))


def _run(
    submission_dirs: list[Path],
    suite_name: str,
    split: str,
    db: Path,
    workers: int,
    executor_name: str,
    test_seed_file: Path | None,
    address: str | None = None,
    replace: bool = False,
    families: Sequence[str] = (),
    llm: tuple[str, str] | None = None,
) -> Any:
    from arena import campaign
    from arena.boundary import sandbox
    from arena.harness import environments
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
    suite = only_families(load_suite(suite_name), families)
    submissions = [environments.prepare(load_submission(d)) for d in submission_dirs]
    names = Counter(s.name for s in submissions)
    if any(n > 1 for n in names.values()):
        raise ArenaError(f"two submissions share the name {names.most_common(1)[0][0]!r}")
    if executor_name not in EXECUTORS:
        raise ArenaError(f"unknown executor {executor_name!r}; choose {', '.join(EXECUTORS)}")
    if address is not None and executor_name != "ray":
        raise ArenaError("--address is the Ray cluster's: it goes with --executor ray")
    store = Store(db)
    try:
        for record in campaign.claim_labels(store, submissions, replace=replace):
            err.print(f"superseded {record.label} (code {record.hash[:12]}): its rows are kept, out of the standings")
    except ArenaError:
        store.close()
        raise
    if llm is not None and not suite.text:
        err.print(f"note: {suite.id} is not a text suite: --llm is not used", highlight=False)
    with _text_model(suite, llm, workers) as model:
        executor = make_executor(executor_name, workers, address=address, require_sandbox=split == "test")
        label = ", ".join(s.name for s in submissions)
        console.print(f"{label} on {suite.id} {split} split → {db}", highlight=False)
        if model is not None:
            console.print(f"language model: {model.name} at {model.url}", highlight=False)
        with interruptible() as signals, progress_bar() as progress:
            summary = campaign.run(
                submissions, suite, split, store, executor, test_seed=test_seed, progress=progress_callback(progress),
                commands={s.hash: rerun_command(d, suite, split, families, llm) for s, d in zip(submissions, submission_dirs, strict=True)},
                model=model,
            )  # fmt: skip
    failures = _failures(store, suite, split, {s.hash for s in submissions}) if summary.ran else []
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
        raise interrupted_exit(signals)
    _report_failures(summary, failures, db)
    return summary


@contextlib.contextmanager
def _text_model(suite: Suite, llm: tuple[str, str] | None, workers: int) -> Iterator[Any]:
    """A text suite's model for the run: the server ``--llm`` names, else the embedded default
    (SmolLM2-135M-Instruct), started here and stopped when the run ends. None elsewhere."""
    from arena.campaign import ModelEndpoint

    if not suite.text:
        yield None
        return
    if llm is not None:
        yield ModelEndpoint(url=llm[0], name=llm[1])
        return
    from arena.llm import EmbeddedModel

    console.print("starting the embedded language model (SmolLM2-135M-Instruct)...", highlight=False)
    # llama.cpp's threads wait for each other at every layer: where the run's runners and
    # agents keep cores busy, two threads measured 0.6-13 s a call where one took 0.14 s (a
    # 206-token prompt, 2 cores, loaded). So the model gets the cores the workers leave it (a
    # worker's pair mostly waits for the model), one at least, four at most.
    threads = min(4, max(1, (os.cpu_count() or 1) - workers + 1))
    embedded = EmbeddedModel(threads=threads)
    try:
        yield ModelEndpoint(url=embedded.url, name=embedded.name)
    finally:
        embedded.close()


def _failures(store: Any, suite: Any, split: str, hashes: set[str]) -> list[Any]:
    """The failed trials of this run's submissions, as stored."""
    return [
        r
        for r in store.trials(suite=suite.name, split=split)
        if r.submission_hash in hashes and r.suite_version == suite.version and r.status != "ok"
    ]


def _report_failures(summary: Any, failures: list[Any], db: Path) -> None:
    """Say where failed trials' errors are; a run whose every trial failed exits 1."""
    if not failures or not summary.ran:
        return
    from arena.check import error_summary

    first = failures[0]
    where = f"arena results --db {db} --format json"
    err.print(
        f"{len(failures)} trials failed; each one's error is stored: `{where}` shows them "
        f"(first: {first.submission} on {first.variant} at budget {first.budget}: {error_summary(first.error)})",
        highlight=False,
        markup=False,
    )
    if summary.statuses and "ok" not in summary.statuses:
        err.print("Every trial of this run failed; `arena check DIR` shows the traceback.", highlight=False)
        raise typer.Exit(1)


@app.command("run")
def run_command(
    submissions: Annotated[list[Path], typer.Argument(help="submission folders")],
    suite: Annotated[str, typer.Option("--suite", "-s", help="suite name or TOML path")] = "smoke",
    split: Annotated[str, typer.Option(help="train, dev or test")] = "dev",
    workers: Workers = 0,
    executor: Annotated[str, typer.Option(help="local (this machine) or ray (a Ray cluster)")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (ray executor) [default: start a local Ray]")
    ] = None,
    test_seed_file: Annotated[Path | None, typer.Option(help="file holding the test split's secret seed")] = None,
    family: Annotated[
        list[str] | None,
        typer.Option(help="only this family of the suite (repeatable); its trials are those of a whole run"),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="a name@version stored with other code: supersede its rows (kept, out of the standings)"
        ),
    ] = False,
    llm: Annotated[
        str | None,
        typer.Option(
            help="text suites: an OpenAI-compatible server's URL (vLLM, llama.cpp, ollama: http://host:port/v1) "
            "[default: the embedded SmolLM2-135M-Instruct]"
        ),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option(help="the model's name at --llm's server: part of every trial's key and the board's")
    ] = None,
    db: DbOption = None,
) -> None:
    """Meta-train and evaluate submissions on a suite; resumable and idempotent."""
    if llm_model is not None and llm is None:
        raise ArenaError("--llm-model names a model of the --llm server: give --llm URL too")
    model = (llm.rstrip("/"), llm_model or "default") if llm is not None else None
    _run(
        submissions, suite, split, db_path(db), worker_count(workers), executor, test_seed_file, address, replace,
        family or (), model,
    )  # fmt: skip


@app.command("demo")
def demo_command(
    db: DbOption = None,
    out: Annotated[Path, typer.Option(help="where to write the site")] = Path("site"),
    workers: Workers = 0,
) -> None:
    """The one-command tour: the baselines on the smoke suite, the standings, then the site."""
    from arena.submission import BASELINES, baseline_folders

    dirs = baseline_folders()
    if not dirs:
        raise ArenaError(f"no submissions found under {BASELINES}")
    path = db_path(db)
    # The baselines are the project's own code: after an edit of one (a new hash under the same
    # name@version), the tour shows the code of this checkout and supersedes the old rows
    # (kept in the database, out of the standings) instead of refusing.
    _run(dirs, "smoke", "dev", path, worker_count(workers), "local", None, replace=True)
    print_standings(records(path, "smoke", "dev"), reference_hashes(path))
    from leaderboard.builder import build

    report = build(path, out)
    console.print(f"Site written to {report.index} ({len(report.written)} files changed). Open it in a browser,")
    console.print("or preview it with: arena leaderboard serve --dir " + str(out), highlight=False)
