"""``arena import``: recorded results files (``submissions/*/results/*.json``) into a database.

A results file (written by ``scripts/record_results.py``) holds every trial of one submission on
one suite version, with the commit and the platform that recorded them. Imported rows are
marked ``provenance = "self-reported"``, which is part of a trial's key: they never stand in
for the harness's own rows, so a later ``arena run`` of the same submission still runs every
trial, and the standings then show the harness's rows in their place. Importing the same file
twice stores nothing new.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from arena.cli.app import DbOption, app, console, db_path
from arena.errors import ArenaError
from arena.records import Provenance, TrialRecord, fields, from_row

_REQUIRED = ("submission_hash", "suite", "suite_version", "split", "variant", "budget", "seed", "submission", "status")


def recorded_trials(path: Path) -> list[TrialRecord]:
    """The trials of one results file, as self-reported records; a malformed file is an ArenaError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArenaError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArenaError(f"{path}: not a JSON results file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise ArenaError(f"{path}: not a results file (no 'trials' list; see scripts/record_results.py)")
    commit = str(data.get("commit", ""))
    platform = json.dumps(data.get("platform", {}), sort_keys=True)
    known = set(fields(TrialRecord))
    out = []
    for number, trial in enumerate(data["trials"], start=1):
        if not isinstance(trial, dict) or any(key not in trial for key in _REQUIRED):
            missing = [k for k in _REQUIRED if not isinstance(trial, dict) or k not in trial]
            raise ArenaError(f"{path}: trial {number} lacks {', '.join(missing[:3])}")
        values: dict[str, Any] = {k: v for k, v in trial.items() if k in known}
        values.update(provenance=Provenance.SELF_REPORTED.value, commit=commit, platform=platform)
        try:
            record = from_row(TrialRecord, values)
        except (TypeError, ValueError) as exc:
            raise ArenaError(f"{path}: trial {number} is malformed ({exc})") from None
        out.append(record)
    return out


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="results files, e.g. submissions/*/results/*.json")],
    db: DbOption = None,
) -> None:
    """Load recorded results files into the database, marked self-reported (idempotent)."""
    from arena.store import Store

    loaded = [(path, recorded_trials(path)) for path in files]  # every file is read before anything is written
    store = Store(db_path(db))
    try:
        for path, trials in loaded:
            added = sum(store.add(record) for record in trials)
            label = f"{trials[0].submission}@{trials[0].submission_version}" if trials else "no trials"
            console.print(
                f"{path}: {label}, {added} trials imported as self-reported, {len(trials) - added} already stored",
                highlight=False,
            )
    finally:
        store.close()
