"""The SQLite store: idempotent keyed writes, resume after kill -9, refusal of corrupt files."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.store import SCHEMA_VERSION, Store
from tests.conftest import make_trial

ROOT = Path(__file__).resolve().parents[2]


def record(**overrides):
    return make_trial(**overrides)


def test_a_stored_trial_is_never_duplicated_or_overwritten(tmp_path) -> None:
    store = Store(tmp_path / "a.db")
    assert store.add(record()) is True
    assert store.add(record(eval_return=99.0)) is False
    second = Store(tmp_path / "a.db")  # a second connection, as a concurrent `arena run` has
    assert second.add(record(eval_return=98.0)) is False
    assert second.add(record(seed=1)) is True
    rows = store.trials()
    assert [(r.seed, r.eval_return) for r in rows] == [(0, 10.0), (1, 10.0)]


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"\x00\xff" * 5000])
def test_garbage_file_is_refused_and_left_untouched(tmp_path, content) -> None:
    path = tmp_path / "g.db"
    path.write_bytes(content)
    with pytest.raises(ArenaError, match="not an SQLite database"):
        Store(path)
    assert path.read_bytes() == content


def test_truncated_database_gives_a_clear_error_and_is_not_overwritten(tmp_path) -> None:
    path = tmp_path / "t.db"
    store = Store(path)
    for seed in range(200):
        store.add(record(seed=seed, error="x" * 500))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    truncated = path.read_bytes()
    with pytest.raises(ArenaError, match=str(path)):
        Store(path).trials()
    assert path.read_bytes() == truncated


def test_results_command_on_a_corrupt_db_is_one_line(tmp_path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"garbage" * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "arena.cli", "results", "--db", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "\n" not in result.stderr.strip()
    assert "Traceback" not in result.stderr


SLOW_AGENT = """
import time
import arena

class Agent(arena.Agent):
    def adapt(self, env):
        time.sleep(0.2)

    def act(self, observation, info):
        time.sleep(0.01)
        return 0
"""


def _workers_alive(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().decode("utf-8", "replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_kill_minus_nine_mid_run_then_resume_runs_every_trial_exactly_once(
    write_submission, tiny_suite, tmp_path
) -> None:
    folder = write_submission("slowpoke", SLOW_AGENT)
    db = tmp_path / "k.db"
    command = [
        sys.executable,
        "-m",
        "arena.cli",
        "run",
        str(folder),
        "--suite",
        str(tiny_suite),
        "--db",
        str(db),
        "-w",
        "2",
    ]
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and stored < 2:
        time.sleep(0.05)
        if db.exists():
            try:
                stored = sqlite3.connect(db, timeout=1).execute("SELECT count(*) FROM trials").fetchone()[0]
            except sqlite3.Error:
                stored = 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 2 <= stored < 8, "the run must be killed mid-way"
    # Runner processes and agent workers die with their parent (PR_SET_PDEATHSIG), not linger.
    for _ in range(50):
        if not _workers_alive("arena-slowpoke-"):
            break
        time.sleep(0.1)
    assert _workers_alive("arena-slowpoke-") == []

    before = sqlite3.connect(db).execute("SELECT count(*) FROM trials").fetchone()[0]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{before} were already stored" in result.stdout
    rows = sqlite3.connect(db).execute("SELECT variant, budget, seed, status FROM trials").fetchall()
    keys = [(v, b, s) for v, b, s, _ in rows]
    assert len(keys) == len(set(keys)) == 8
    assert {status for *_, status in rows} == {"ok"}


V0_TRIALS = """CREATE TABLE trials (submission_hash TEXT, suite TEXT, suite_version INTEGER, split TEXT,
 variant TEXT, budget INTEGER, seed INTEGER, submission TEXT, submission_version TEXT, family TEXT,
 variant_group TEXT, status TEXT, eval_return FLOAT, normalized_score FLOAT, episode_returns TEXT,
 steps_used INTEGER, wall_seconds FLOAT, adapt_seconds FLOAT, error TEXT, arena_version TEXT, finished_at TEXT,
 PRIMARY KEY (submission_hash, suite, suite_version, split, variant, budget, seed))"""


def test_a_file_without_a_schema_version_is_migrated_in_place(tmp_path) -> None:
    """Databases written before the schema had a version (no matches table) open, keep every
    trial and get the current version."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(V0_TRIALS)
    conn.execute(
        "INSERT INTO trials VALUES ('h','s',1,'dev','cartpole',0,0,'x','1','cartpole','interpolation','ok',"
        "12.0,0.2,'[12.0]',0,0.1,0.0,NULL,'0.1.0','2026-11-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION >= 1
    (trial,) = store.trials()
    assert (trial.eval_return, trial.episode_returns, trial.finished_at) == (12.0, (12.0,), "2026-11-01T00:00:00+00:00")
    assert store.matches() == [] and store.meta_trains() == []
    assert (trial.meta_train_seed, trial.model, trial.provenance) == (0, "", "harness")
    # meta_train_seed is a key part now: another meta-training run's trial is a new row.
    assert store.add(replace(trial, meta_train_seed=1)) is True
    assert store.add(replace(trial, eval_return=99.0)) is False
    store.close()
    assert Store(path).schema_version == SCHEMA_VERSION  # a second opening changes nothing


def test_a_file_of_a_newer_schema_is_refused_untouched(tmp_path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ArenaError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        Store(path)
    assert path.read_bytes() == before


def test_a_schema_2_file_gets_provenance_as_a_key_part_keeping_every_row(tmp_path) -> None:
    """Schema 3: a self-reported row of a trial lives beside the harness's row of the same trial."""
    from arena import store as store_module
    from tests.conftest import make_trial

    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    conn.execute(V0_TRIALS)
    conn.execute(
        "INSERT INTO trials VALUES ('h','s',1,'dev','cartpole',0,0,'x','1','cartpole','interpolation','ok',"
        "12.0,0.2,'[12.0]',0,0.1,0.0,NULL,'0.1.0','2026-11-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    db = sqlite_utils_db(path)
    for migrate in store_module.MIGRATIONS[:2]:  # to schema 2, as the previous release left its files
        migrate(db)
    db.conn.execute("PRAGMA user_version = 2")
    db.conn.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION == 6
    (trial,) = store.trials()
    assert (trial.provenance, trial.commit, trial.platform, trial.eval_return) == ("harness", "", "", 12.0)
    assert trial.memory_cap == "" and trial.command == ""  # schemas 4 and 5: unknown for older rows
    assert trial.illegal_answers == ()  # schema 6: none recorded before the text track
    imported = make_trial(
        submission_hash="h",
        suite="s",
        submission="x",
        submission_version="1",
        provenance="self-reported",
        eval_return=5.0,
    )
    assert store.add(imported) is True  # the same trial, self-reported: a row of its own
    assert store.trial_keys("s", 1, "dev", ["h"]) == {("h", "s", 1, "dev", "cartpole", 0, 0, 0, "")}
    assert [t.provenance for t in store.trials()] == ["harness"]  # the harness's row stands in the standings
    assert sorted(t.provenance for t in store.trials(every=True)) == ["harness", "self-reported"]
    store.close()


def test_superseded_submissions_rows_are_kept_but_left_out(tmp_path) -> None:
    from arena.records import SubmissionRecord
    from tests.conftest import make_trial

    store = Store(tmp_path / "s.db")
    old = SubmissionRecord(hash="old", name="x", version="1")
    store.add(old)
    store.add(SubmissionRecord(hash="new", name="x", version="1"))
    store.add(make_trial(submission_hash="old", eval_return=1.0))
    store.add(make_trial(submission_hash="new", eval_return=2.0))
    assert len(store.trials()) == 2
    store.supersede(old)
    assert [t.submission_hash for t in store.trials()] == ["new"]
    assert sorted(t.submission_hash for t in store.trials(every=True)) == ["new", "old"]
    assert [r.hash for r in store.submissions_labelled("x", "1")] == ["new"]
    store.close()


def sqlite_utils_db(path):
    import sqlite_utils

    return sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))


def test_a_text_trials_answers_are_stored_verbatim(tmp_path) -> None:
    """Schema 6: a text trial's unparsable answers are stored verbatim, beside older rows."""
    from tests.conftest import make_trial

    store = Store(tmp_path / "r.db")
    text = make_trial(model="m", tokens_used=321, llm_calls=4, unparsable_answers=2, illegal_answers=("I think 42", ""))
    assert store.add(text)
    (back,) = store.trials()
    assert dataclasses.replace(back, finished_at="") == text  # the store stamps finished_at
    assert back.illegal_answers == ("I think 42", "") and back.tokens_used == 321
