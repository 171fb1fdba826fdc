"""``arena debug``: one trial of a submission in this process, to debug it.

No sandbox and no agent process: the agent's code runs here, so ``breakpoint()``, a debugger and
full tracebacks work. It is the trial procedure of every run (:mod:`arena.inprocess`), with the
suite's seeds and evaluation; nothing is stored, and the test split is refused (its seed is
secret and never reaches an agent's process).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from arena.cli.app import app, console, err
from arena.errors import ArenaError


@app.command("debug")
def debug_command(
    submission: Annotated[Path, typer.Argument(help="the submission folder")],
    variant: Annotated[str, typer.Option(help="the variant, e.g. 'bandit(arms=4)'")],
    budget: Annotated[int, typer.Option(help="adaptation budget in env steps (0: adapt() is not called)")] = 0,
    seed: Annotated[int, typer.Option(help="the trial seed")] = 0,
    suite: Annotated[str, typer.Option("--suite", "-s", help="the suite whose seeds and evaluation to use")] = "smoke",
    split: Annotated[str, typer.Option(help="dev or train (test is refused)")] = "dev",
    seconds: Annotated[
        float | None,
        typer.Option(help="wall-clock budget of adaptation [default: the suite's for this budget, else 60]"),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="a meta-training checkpoint folder to load before adapting")
    ] = None,
) -> None:
    """One trial in this process (no sandbox: breakpoints work): per-episode returns, nothing stored."""
    import games
    from arena import campaign, inprocess
    from arena.harness import environments
    from arena.harness.jobs import AgentFailure, TrialJob
    from arena.submission import load_submission
    from arena.suites import load_suite

    if split == "test":
        raise ArenaError("arena debug refuses --split test: the test split's seed never reaches an agent's process")
    if split not in ("dev", "train"):
        raise ArenaError(f"unknown split {split!r}; choose dev or train")
    if budget < 0:
        raise ArenaError(f"--budget must be 0 or more env steps, got {budget}")
    if checkpoint is not None and not checkpoint.is_dir():
        raise ArenaError(f"--checkpoint {checkpoint}: not a directory")
    the_suite = load_suite(suite)
    parsed = games.parse_variant(variant)
    known = dict(zip(the_suite.budgets, the_suite.adapt_seconds, strict=True))
    found = environments.prepare(load_submission(submission))
    if found.environment is not None and str(found.environment) not in sys.path:
        # This is the submitter's own process running its own code: its requirements go on the
        # path, at the end (a plain entry: .pth files in it do not run).
        sys.path.append(str(found.environment))
    job = TrialJob(
        submission=found,
        suite=the_suite,
        split=split,
        variant=parsed.id,
        group="debug",
        budget=budget,
        adapt_seconds=seconds if seconds is not None else known.get(budget, 60.0),
        seed=seed,
        split_seed=campaign.split_seed(the_suite, split, None),
        checkpoint=str(checkpoint.resolve()) if checkpoint else None,
    )
    err.print(f"{job.submission.label} on {job.variant}, budget {budget}, seed {seed}: in this process, nothing stored")
    try:
        outcome = inprocess.run_trial(job)  # the agent's own exceptions propagate, with their tracebacks
    except AgentFailure as failure:
        err.print(f"trial failed ({failure.status}): {failure.text}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    for number, value in enumerate(outcome.episode_returns, start=1):
        console.print(f"episode {number}: return {value:g}", highlight=False)
    adapt_return = f", adaptation return {outcome.adapt_return:g}" if outcome.adapt_return is not None else ""
    console.print(
        f"mean return {outcome.eval_return:g} over {len(outcome.episode_returns)} episodes; "
        f"{outcome.steps_used} of {budget} adaptation steps used{adapt_return}; {outcome.wall_seconds:.2f}s",
        highlight=False,
    )
