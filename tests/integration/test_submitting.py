"""The submitter's path, as a new user walks it: `arena check` catches what `arena run` will hit,
errors say where, one row per name@version, recorded results import, one trial in-process.

Every command is a real `arena` subprocess on a real SQLite file; agents run in real sandboxed
processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAZY = """
import arena

class Agent(arena.Agent):
    def adapt(self, env):  # builds its model only when adapting: budget 0 never calls this
        self.model = 1

    def act(self, observation, info):
        return self.model - 1
"""

FINE = """
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        return 0
"""


def arena(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "arena.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CI": "1", "COLUMNS": "200", **(env or {})},
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- arena check ---------------------------------------------------------------------------------


def test_check_fails_an_agent_that_needs_adapt_at_budget_0_and_shows_where(write_submission) -> None:
    folder = write_submission("lazy", LAZY)
    result = arena("check", str(folder), check=False)
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert failed and all("budget 0" in line and "adapt() not called" in line for line in failed), result.stdout
    assert any(line.startswith("ok") and "budget 500" in line for line in lines), result.stdout
    trials = [line for line in lines if "trial at budget" in line]
    for group in ("classic", "metarl", "openspiel", "pettingzoo"):  # one variant of each family group
        assert sum(f"({group})" in line for line in trials) == 2, result.stdout
    # the useful tail of the traceback: the agent's own frame and the exception, not only the last line
    assert f'File "{folder / "agent.py"}", line 9, in act' in result.stdout
    assert "AttributeError: 'Agent' object has no attribute 'model'" in result.stdout


def test_check_on_the_families_its_manifest_names(write_submission) -> None:
    folder = write_submission("bandits", FINE, extra_manifest='families = ["bandit"]\n')
    out = arena("check", str(folder)).stdout
    trials = [line for line in out.splitlines() if "trial at budget" in line]
    assert len(trials) == 2 and all("bandit(" in line for line in trials), out
    assert "ready to submit" in out


def test_check_reports_a_syntax_error_with_its_file_and_line(write_submission) -> None:
    folder = write_submission("typo", "import arena\n\nclass Agent(arena.Agent)\n    pass\n")
    result = arena("check", str(folder), check=False)
    assert result.returncode == 1
    assert "FAIL import in an isolated worker: SyntaxError: expected ':'" in result.stdout
    assert f"({folder / 'agent.py'}, line 3)" in result.stdout
    assert f'File "{folder / "agent.py"}", line 3' in result.stdout


def test_check_follows_the_error_rule(write_submission, tmp_path) -> None:
    broken = write_submission("broken", FINE, extra_manifest='entrypoint = "agent:Agent"\n')
    line = one_line_error(arena("check", str(broken), check=False))
    assert "unknown key 'entrypoint' (did you mean 'entry'?)" in line
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "submission.toml").write_text('[submission]\nversion = "1"\nauthors = ["a"]\nentry = "agent:A"\n')
    assert "[submission] is missing 'name'" in one_line_error(arena("check", str(blank), check=False))
    assert "did you mean 'bandit'?" in one_line_error(arena("check", "bandt", check=False))


# -- arena run: what failed, and where ---------------------------------------------------------------


def test_a_run_whose_every_trial_failed_exits_non_zero_and_says_where(write_submission, tiny_suite, tmp_path) -> None:
    folder = write_submission(
        "crash",
        "import arena\n\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        raise ValueError('boom')\n",
    )
    db = tmp_path / "r.db"
    result = arena("run", str(folder), "--suite", str(tiny_suite), "--db", str(db), "-w", "1", check=False)
    assert result.returncode == 1, result.stderr
    assert "8 trials failed" in result.stderr and f"arena results --db {db} --format json" in result.stderr
    assert "ValueError: boom" in result.stderr and "line 5" in result.stderr
    stored = sqlite3.connect(db).execute("SELECT count(*) FROM trials WHERE status = 'error'").fetchone()[0]
    assert stored == 8


def test_a_hanging_agents_timeout_names_the_limit(write_submission, tiny_suite) -> None:
    from arena.check import check_jobs
    from arena.harness.limits import Limits
    from arena.harness.runner import Runner
    from arena.submission import load_submission
    from arena.suites import load_suite

    folder = write_submission(
        "hang",
        "import time\nimport arena\n\nclass Agent(arena.Agent):\n    def adapt(self, env):\n        time.sleep(3600)\n\n    def act(self, o, i):\n        return 0\n",
    )
    job = check_jobs(load_submission(folder), load_suite(str(tiny_suite)), "cartpole", None)[1]
    runner = Runner(Limits(setup_seconds=1.0))
    try:
        outcome = runner.run_trial(job)
    finally:
        runner.close()
    assert outcome.status == "timeout"
    assert "adaptation time limit of 3 s" in (outcome.error or ""), outcome.error


# -- arena results / standings: names checked, one JSON document ---------------------------------------


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("results") / "a.db"
    arena("run", "submissions/random", "--suite", "smoke", "--db", str(db), "-w", "1")
    return db


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "smok"], "did you mean 'smoke'?"),
        (["--split", "tset"], "did you mean 'test'?"),
        (["--family", "bandt"], "did you mean 'bandit'?"),
    ],
)
def test_results_filters_are_checked_like_arena_runs(stored_db, args, message) -> None:
    assert message in one_line_error(arena("results", "--db", str(stored_db), *args, check=False))


def test_json_is_one_document_and_jsonl_one_object_per_line(stored_db) -> None:
    trials = json.loads(arena("results", "--db", str(stored_db), "--format", "json").stdout)
    assert isinstance(trials, list) and len(trials) == 20  # smoke@2 dev: 5 variants (3 bandit), 2 budgets, 2 seeds
    lines = arena("results", "--db", str(stored_db), "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == trials
    some = json.loads(
        arena("results", "--db", str(stored_db), "--family", "bandit", "--budget", "500", "--format", "json").stdout
    )
    assert len(some) == 6 and {(t["family"], t["budget"]) for t in some} == {("bandit", 500)}
    for command in (["games"], ["suites"], ["standings", "--db", str(stored_db)]):
        document = json.loads(arena(*command, "--format", "json").stdout)  # one document each
        assert isinstance(document, list) and document and all(isinstance(item, dict) for item in document)
    for command in (["games"], ["suites"]):
        assert all(
            isinstance(json.loads(line), dict) for line in arena(*command, "--format", "jsonl").stdout.splitlines()
        )


def test_each_trial_stores_the_command_that_reruns_it(stored_db) -> None:
    trials = json.loads(arena("results", "--db", str(stored_db), "--format", "json").stdout)
    assert {t["command"] for t in trials} == {"arena run submissions/random --suite smoke@2 --split dev"}


def test_run_one_family_of_a_suite(tmp_path) -> None:
    db = tmp_path / "f.db"
    arena("run", "submissions/random", "--suite", "smoke", "--family", "bandit", "--db", str(db), "-w", "1")
    trials = json.loads(arena("results", "--db", str(db), "--format", "json").stdout)
    assert len(trials) == 12 and {t["family"] for t in trials} == {"bandit"}  # smoke@2: 3 variants x 2 x 2
    assert {t["command"] for t in trials} == {
        "arena run submissions/random --suite smoke@2 --split dev --family bandit"
    }
    full = tmp_path / "full.db"
    arena("run", "submissions/random", "--suite", "smoke", "--db", str(full), "-w", "1")
    everything = json.loads(arena("results", "--db", str(full), "--format", "json").stdout)
    same = {(t["variant"], t["budget"], t["seed"]): t["eval_return"] for t in everything if t["family"] == "bandit"}
    assert {(t["variant"], t["budget"], t["seed"]): t["eval_return"] for t in trials} == same  # the same trials
    assert "has no family 'bandt'; did you mean 'bandit'?" in one_line_error(
        arena("run", "submissions/random", "--suite", "smoke", "--family", "bandt", "--db", str(db), check=False)
    )


def test_standings_prints_the_boards(stored_db) -> None:
    (board,) = json.loads(arena("standings", "--db", str(stored_db), "--format", "json").stdout)
    assert (board["suite"], board["split"], board["entries"][0]["submission"]) == ("smoke", "dev", "random")
    table = arena("standings", "--db", str(stored_db), env={"COLUMNS": "80"}).stdout
    assert "random 1.0.0" in table
    assert max(len(line) for line in table.splitlines() if not line.startswith("Ranked by")) <= 80, table


# -- one row per name@version ------------------------------------------------------------------------


def test_a_changed_submission_under_its_name_and_version_is_refused_or_replaces(
    write_submission, tiny_suite, tmp_path
) -> None:
    folder = write_submission("same", FINE)
    db = tmp_path / "v.db"
    arena("run", str(folder), "--suite", str(tiny_suite), "--db", str(db), "-w", "1")
    (folder / "agent.py").write_text(FINE + "# a comment changes the code\n")
    line = one_line_error(arena("run", str(folder), "--suite", str(tiny_suite), "--db", str(db), check=False))
    assert "same@0.1 is already stored with other code" in line and "bump the version" in line and "--replace" in line
    replaced = arena("run", str(folder), "--suite", str(tiny_suite), "--db", str(db), "-w", "1", "--replace")
    assert "superseded same@0.1" in replaced.stderr
    every = json.loads(arena("results", "--db", str(db), "--all", "--format", "json").stdout)
    assert len(every) == 16 and len({t["submission_hash"] for t in every}) == 2  # nothing deleted
    shown = json.loads(arena("results", "--db", str(db), "--format", "json").stdout)
    assert len(shown) == 8 and len({t["submission_hash"] for t in shown}) == 1
    (board,) = json.loads(arena("standings", "--db", str(db), "--format", "json").stdout)
    assert len(board["entries"]) == 1


@pytest.mark.slow
def test_demo_keeps_working_on_an_existing_database_after_a_baseline_edit(tmp_path, monkeypatch) -> None:
    """`arena demo` runs the checkout's baselines: an edited one gets a new hash, and the demo
    supersedes its old rows instead of refusing (they stay in the database)."""
    from typer.testing import CliRunner

    from arena import submission
    from arena.cli import app

    baselines = tmp_path / "submissions"
    folder = baselines / "mine"
    folder.mkdir(parents=True)
    (folder / "submission.toml").write_text(
        '[submission]\nname = "mine"\nversion = "1"\nauthors = ["T"]\nentry = "agent:Agent"\n'
    )
    (folder / "agent.py").write_text(FINE)
    monkeypatch.setattr(submission, "BASELINES", baselines)
    db, site = tmp_path / "demo.db", tmp_path / "site"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--db", str(db), "--out", str(site), "-w", "1"])
    assert first.exit_code == 0, first.output
    (folder / "agent.py").write_text(FINE + "# edited\n")
    second = runner.invoke(app, ["demo", "--db", str(db), "--out", str(site), "-w", "1"])
    assert second.exit_code == 0, second.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(DISTINCT submission_hash) FROM trials").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM submissions WHERE superseded_at != ''").fetchone()[0] == 1


# -- arena import ------------------------------------------------------------------------------------


def test_import_recorded_results_self_reported_idempotent_and_apart_from_harness_rows(tmp_path) -> None:
    db = tmp_path / "i.db"
    files = [str(ROOT / "submissions" / name / "results" / "smoke-v1.json") for name in ("random", "ppo-scratch")]
    first = arena("import", *files, "--db", str(db))
    assert first.stdout.count("16 trials imported as self-reported") == 2
    again = arena("import", *files, "--db", str(db))
    assert again.stdout.count("0 trials imported") == 2 and again.stdout.count("16 already stored") == 2
    trials = json.loads(arena("results", "--db", str(db), "--format", "json").stdout)
    assert len(trials) == 32 and {t["provenance"] for t in trials} == {"self-reported"}
    recorded = json.loads((ROOT / "submissions" / "random" / "results" / "smoke-v1.json").read_text())
    assert {t["commit"] for t in trials if t["submission"] == "random"} == {recorded["commit"]}
    assert json.loads(trials[0]["platform"])["machine"]
    # a later harness run of random still runs every trial; its rows then stand in the standings
    run = arena("run", "submissions/random", "--suite", "smoke@1", "--db", str(db), "-w", "1")
    assert "Ran 16 trials" in run.stdout
    shown = json.loads(arena("results", "--db", str(db), "--format", "json").stdout)
    assert {(t["submission"], t["provenance"]) for t in shown} == {
        ("random", "harness"),
        ("ppo-scratch", "self-reported"),
    }
    assert len(json.loads(arena("results", "--db", str(db), "--all", "--format", "json").stdout)) == 48


def test_every_recorded_results_file_is_this_codes_on_a_published_suite() -> None:
    """A recorded file is a claim that `record_results.py SUITE submissions/NAME` at this checkout
    gives its numbers: a change to a baseline's code (its folder or a module it imports) makes its
    files another code's, and this fails until they are recorded again."""
    from arena.submission import load_submission
    from arena.suites import load_suite

    files = sorted(ROOT.glob("submissions/*/results/*.json"))
    assert len(files) >= 40
    submissions = {folder: load_submission(folder) for folder in {path.parents[1] for path in files}}
    for path in files:
        recorded = json.loads(path.read_text())
        submission = submissions[path.parents[1]]
        suite = load_suite(f"{recorded['suite']}@{recorded['suite_version']}")
        assert path.name == f"{suite.name}-v{suite.version}.json", path
        assert recorded["submission"] == submission.label, path
        assert recorded["submission_hash"] == submission.hash, f"{path}: recorded by other code"
        assert {(t["submission_hash"], t["suite"], t["suite_version"]) for t in recorded["trials"]} == {
            (submission.hash, suite.name, suite.version)
        }, path
        assert len(recorded["commit"]) == 40 and recorded["platform"]["python"], path


def test_import_refuses_a_file_that_is_not_a_results_file(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"suite": "smoke"}')
    assert "not a results file" in one_line_error(
        arena("import", str(bad), "--db", str(tmp_path / "x.db"), check=False)
    )
    assert not (tmp_path / "x.db").exists()


# -- arena debug ---------------------------------------------------------------------------------------


def test_debug_runs_one_trial_in_process_prints_each_episode_and_stores_nothing(tmp_path) -> None:
    result = arena(
        "debug",
        "submissions/random",
        "--variant",
        "bandit(arms=4)",
        "--budget",
        "500",
        env={"ARENA_DB": str(tmp_path / "no.db")},
    )
    episodes = [line for line in result.stdout.splitlines() if line.startswith("episode ")]
    assert len(episodes) == 3 and "mean return" in result.stdout
    assert not (tmp_path / "no.db").exists()
    line = one_line_error(arena("debug", "submissions/random", "--variant", "bandit", "--split", "test", check=False))
    assert "refuses --split test" in line


def test_debug_lets_the_agents_exception_through_with_its_traceback(write_submission) -> None:
    folder = write_submission(
        "crash",
        "import arena\n\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        raise ValueError('boom')\n",
    )
    result = arena("debug", str(folder), "--variant", "cartpole", check=False)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and f'File "{folder / "agent.py"}", line 5, in act' in result.stderr


# -- progress in a log, SIGTERM ------------------------------------------------------------------------


def test_progress_lines_in_a_log_and_sigterm_leaves_a_resumable_run(write_submission, tiny_suite, tmp_path) -> None:
    slow = "import time\nimport arena\n\nclass Agent(arena.Agent):\n    def act(self, o, i):\n        time.sleep(0.05)\n        return 0\n"
    folder = write_submission("slow", slow)
    db, log = tmp_path / "p.db", tmp_path / "run.log"
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
        "1",
    ]
    with open(log, "w") as stderr:  # not a terminal: plain lines
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "ARENA_PROGRESS_SECONDS": "1"},
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and "trials 0/8" not in log.read_text():
            time.sleep(0.2)
        while time.monotonic() < deadline and _stored(db) < 2:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    text = log.read_text()
    assert proc.returncode == 143, text
    assert "trials 0/8" in text and "Interrupted: every finished trial is stored" in text
    done = _stored(db)
    assert 2 <= done < 8
    resumed = arena("run", str(folder), "--suite", str(tiny_suite), "--db", str(db), "-w", "1")
    assert f"{done} were already stored" in resumed.stdout
    assert _stored(db) == 8


def _stored(db: Path) -> int:
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM trials").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


# -- rough edges ---------------------------------------------------------------------------------------


def test_ladder_defaults_to_a_suite_with_two_player_families(stored_db) -> None:
    out = arena("ladder", "--db", str(stored_db)).stdout  # the old default, smoke, has none: it could never work
    assert "No ladder matches of spiel-v1@1" in out


def test_listings_fit_an_80_column_terminal() -> None:
    for command in (["suites"], ["games"], ["suite", "smoke"]):
        out = arena(*command, env={"COLUMNS": "80"}).stdout
        assert max(len(line) for line in out.splitlines()) <= 80, out
        assert "…" not in out  # nothing cut off: prose wraps at word boundaries, short columns keep their width


def test_version_workers_and_help() -> None:
    import arena as package

    assert arena("--version").stdout.strip() == f"arena {package.__version__}"
    line = one_line_error(arena("run", "submissions/random", "--workers", "-3", check=False))
    assert "--workers must be a positive number" in line
    help_text = arena("run", "--help").stdout
    workers = " ".join(help_text.split("--workers", 1)[1].split("--executor", 1)[0].split())
    assert workers.count("default") == 1, workers


# -- Stable-Baselines3 with a vector env -----------------------------------------------------------


SB3_VECTOR = """
import numpy as np
from stable_baselines3 import PPO

import arena
from arena.sb3 import sb3_env


class Agent(arena.Agent):
    num_envs = 4  # adapt() gets a Gymnasium vector env of 4 copies; SB3 needs its own VecEnv type

    def adapt(self, env):
        assert env.num_envs == 4
        self.model = PPO("MlpPolicy", sb3_env(env), n_steps=32, batch_size=64, n_epochs=1, seed=self.spec.seed, device="cpu")
        self.model.learn(total_timesteps=self.spec.budget_steps)

    def act(self, observation, info):
        if not hasattr(self, "model"):
            return 0
        action, _ = self.model.predict(np.asarray(observation), deterministic=True)
        return int(action)
"""


def test_sb3_learns_on_a_vector_env_through_arena_sb3(write_submission, tiny_suite) -> None:
    from arena.check import check_jobs
    from arena.harness.runner import Runner
    from arena.submission import load_submission
    from arena.suites import load_suite

    folder = write_submission("sb3-vector", SB3_VECTOR)
    job = check_jobs(load_submission(folder), load_suite(str(tiny_suite)), "cartpole", None)[1]
    job = dataclasses.replace(job, budget=256, adapt_seconds=60.0)
    runner = Runner()
    try:
        outcome = runner.run_trial(job)
    finally:
        runner.close()
    assert outcome.status == "ok", outcome.error
    assert outcome.steps_used == 256  # every copy's steps counted against the one budget


SAMPLER = """
import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return self.spec.action_space.sample()  # no generator of its own: the spec's space is seeded
"""


def test_spec_action_space_is_seeded_so_sampling_is_reproducible(write_submission, tiny_suite) -> None:
    from arena.check import check_jobs
    from arena.harness.runner import Runner
    from arena.submission import load_submission
    from arena.suites import load_suite

    folder = write_submission("sampler", SAMPLER)
    suite = load_suite(str(tiny_suite))
    jobs = check_jobs(load_submission(folder), suite, "bandit", None)
    returns = []
    for _ in range(2):  # two fresh agent processes, the same trial
        runner = Runner()
        try:
            outcome = runner.run_trial(jobs[0])
        finally:
            runner.close()
        assert outcome.status == "ok", outcome.error
        returns.append(outcome.episode_returns)
    assert returns[0] == returns[1]
