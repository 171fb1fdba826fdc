"""Planning and driving a run: fair interleaving, devices, Ctrl-C keeps finished trials."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.campaign import plan_trials
from arena.harness import devices
from arena.submission import load_submission
from arena.suites import load_suite

ROOT = Path(__file__).resolve().parents[2]


def test_several_submissions_are_interleaved_fairly(write_submission, tiny_suite) -> None:
    a = load_submission(write_submission("a", "import arena\nclass Agent(arena.Agent):\n    pass\n"))
    b = load_submission(write_submission("b", "import arena\nclass Agent(arena.Agent):\n    pass\n"))
    jobs = plan_trials([a, b], load_suite(str(tiny_suite)), "dev")
    names = [job.submission.name for job in jobs]
    assert len(names) == 16
    assert names[:4] == ["a", "b", "a", "b"]
    # Every prefix of the plan has advanced both submissions by the same number of trials (±1).
    for n in range(1, len(names) + 1):
        assert abs(names[:n].count("a") - names[:n].count("b")) <= 1


def test_a_reference_agent_plays_only_its_families_and_an_agent_every_family(write_submission, tiny_suite) -> None:
    code = "import arena\nclass Agent(arena.Agent):\n    pass\n"
    reference = load_submission(
        write_submission("ref", code, extra_manifest='kind = "reference"\nfamilies = ["bandit"]\n')
    )
    agent = load_submission(write_submission("agent", code, extra_manifest='families = ["bandit"]\n'))
    jobs = plan_trials([reference, agent], load_suite(str(tiny_suite)), "dev")
    assert {job.family for job in jobs if job.submission.name == "ref"} == {"bandit"}
    assert {job.family for job in jobs if job.submission.name == "agent"} == {"bandit", "cartpole"}


def test_devices_round_robin_only_for_agents_that_ask() -> None:
    assert [devices.assign(True, i, 2) for i in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert devices.assign(False, 3, 2) == "cpu"
    assert devices.assign(True, 3, 0) == "cpu"


def test_without_gpus_every_trial_runs_on_cpu(write_submission, tiny_suite) -> None:
    wants = load_submission(
        write_submission(
            "gpu", "import arena\nclass Agent(arena.Agent):\n    pass\n", extra_manifest='device = "auto"\n'
        )
    )
    jobs = plan_trials([wants], load_suite(str(tiny_suite)), "dev")
    expected = "cpu" if devices.gpu_count() == 0 else "cuda:0"
    assert jobs[0].device == expected


SLOW = """
import time
import arena

class Agent(arena.Agent):
    def act(self, observation, info):
        time.sleep(0.02)
        return 0
"""


def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(write_submission, tiny_suite, tmp_path) -> None:
    folder = write_submission("sleepy", SLOW)
    db = tmp_path / "c.db"
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
    # As from a terminal: a shell running us in the background may have set SIGINT to "ignore",
    # which children inherit, and a user's Ctrl-C finds it at its default.
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and stored < 2:
        time.sleep(0.05)
        try:
            stored = sqlite3.connect(db, timeout=1).execute("SELECT count(*) FROM trials").fetchone()[0]
        except sqlite3.Error:
            stored = 0
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    kept = sqlite3.connect(db).execute("SELECT count(*) FROM trials").fetchone()[0]
    assert 2 <= kept < 8
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert sqlite3.connect(db).execute(
        "SELECT count(*), count(DISTINCT variant || budget || seed) FROM trials"
    ).fetchone() == (8, 8)


SEEDED_META = """
import json
import arena

class Agent(arena.Agent):
    def meta_train(self, tasks):
        env = tasks.sample()
        env.reset()
        for _ in range(10):
            env.step(0)
        self.trained_with = self.spec.seed

    def save(self, path):
        (path / "seed.json").write_text(json.dumps(self.trained_with))

    def load(self, path):
        self.trained_with = json.loads((path / "seed.json").read_text())

    def act(self, observation, info):
        return self.trained_with % 2  # each meta-training run plays its own arm
"""


def test_trials_are_crossed_with_meta_training_runs_and_agents_without_one_run_once(
    write_submission, tmp_path: Path
) -> None:
    from arena import campaign
    from arena.harness.executors import LocalExecutor
    from arena.harness.limits import Limits
    from arena.store import Store

    suite_file = tmp_path / "mts.toml"
    suite_file.write_text(
        "[suite]\nname = 'mts'\nversion = 1\nbudgets = [0]\nadapt_seconds = [5]\nseeds = 1\nmeta_train_seeds = 3\n"
        "eval_episodes = 2\neval_seconds = 10\nmeta_train_steps = 50\nmeta_train_seconds = 30\ndev_seed = 3\n"
        "[families.bandit]\ninterpolation = 2\n[families.bandit.train]\narms = 2\ntask = [0, 1000]\nhorizon = 10\n"
    )
    suite = load_suite(str(suite_file))
    learner = load_submission(write_submission("learner", SEEDED_META))
    plain = load_submission(ROOT / "submissions" / "random")
    store = Store(tmp_path / "m.db")
    try:
        summary = campaign.run([learner, plain], suite, "dev", store, LocalExecutor(1, Limits(setup_seconds=5.0)))
        assert summary.statuses == {"ok": 2 * 3 + 2}, store.trials()
        trials = store.trials()
        assert sorted({t.meta_train_seed for t in trials if t.submission == "learner"}) == [0, 1, 2]
        assert {t.meta_train_seed for t in trials if t.submission == "random"} == {0}  # no meta-training: one run
        metas = [m for m in store.meta_trains() if m.submission_hash == learner.hash]
        assert sorted(m.meta_train_seed for m in metas) == [0, 1, 2] and {m.status for m in metas} == {"ok"}
        assert len({m.checkpoint for m in metas}) == 3 and all(m.steps_used == 10 for m in metas)
        again = campaign.run([learner, plain], suite, "dev", store, LocalExecutor(1, Limits(setup_seconds=5.0)))
        assert again.ran == 0 and again.already_stored == again.planned == 8
    finally:
        store.close()


def test_record_results_meta_trains_every_run_first_and_the_trials_reuse_those_checkpoints(
    write_submission, tmp_path: Path
) -> None:
    """``--meta-train-only`` (meta-training on a GPU, trials later on CPUs): every meta seed's
    checkpoint is stored and no trial runs; the run after it plays the trials with exactly those."""
    from arena.store import Store

    suite_file = tmp_path / "mts.toml"
    suite_file.write_text(
        "[suite]\nname = 'mts'\nversion = 1\nbudgets = [0]\nadapt_seconds = [5]\nseeds = 1\nmeta_train_seeds = 3\n"
        "eval_episodes = 2\neval_seconds = 10\nmeta_train_steps = 50\nmeta_train_seconds = 30\ndev_seed = 3\n"
        "[families.bandit]\ninterpolation = 2\n[families.bandit.train]\narms = 2\ntask = [0, 1000]\nhorizon = 10\n"
    )
    learner = write_submission("learner", SEEDED_META)
    db = tmp_path / "db"
    script = [sys.executable, str(ROOT / "scripts" / "record_results.py"), str(suite_file), str(learner)]
    first = subprocess.run(
        [*script, "--db", str(db), "--meta-train-only", "--workers", "1"], capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert "meta-trained on mts@1, 0 failed" in first.stdout
    store = Store(db / "learner.db")
    try:
        metas = {m.meta_train_seed: (m.checkpoint, m.finished_at) for m in store.meta_trains()}
        assert sorted(metas) == [0, 1, 2] and not store.trials()
    finally:
        store.close()
    assert not (learner / "results").exists()
    meta_wall = float((db / "learner.wall").read_text())
    second = subprocess.run([*script, "--db", str(db), "--workers", "1"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    store = Store(db / "learner.db")
    try:
        assert {m.meta_train_seed: (m.checkpoint, m.finished_at) for m in store.meta_trains()} == metas
        trials = store.trials()
        assert sorted((t.meta_train_seed, t.status) for t in trials) == [(s, "ok") for s in (0, 0, 1, 1, 2, 2)]
    finally:
        store.close()
    # the results file's wall time counts the meta-train-only run too
    assert json.loads((learner / "results" / "mts-v1.json").read_text())["wall_seconds"] > meta_wall > 0
    refused = subprocess.run([*script, "--meta-train-only"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--meta-train-only needs --db" in refused.stderr


def test_published_checkpoints_replay_the_meta_training_and_refuse_other_code(write_submission, tmp_path: Path) -> None:
    from arena import campaign, published
    from arena.errors import ArenaError
    from arena.harness.executors import LocalExecutor
    from arena.harness.limits import Limits
    from arena.store import Store

    text = (
        "[suite]\nname = 'pub'\nversion = 1\nbudgets = [0]\nadapt_seconds = [5]\nseeds = 1\nmeta_train_seeds = 2\n"
        "eval_episodes = 2\neval_seconds = 10\nmeta_train_steps = 50\nmeta_train_seconds = 30\ndev_seed = 3\n"
        "[families.bandit]\ninterpolation = 2\n[families.bandit.train]\narms = 2\ntask = [0, 1000]\nhorizon = 10\n"
    )
    (tmp_path / "pub.toml").write_text(text)
    suite = load_suite(str(tmp_path / "pub.toml"))
    folder = write_submission("learner", SEEDED_META)
    learner = load_submission(folder)
    executor = LocalExecutor(1, Limits(setup_seconds=5.0))
    trained = Store(tmp_path / "trained.db")
    replayed = Store(tmp_path / "replayed.db")
    try:
        campaign.run([learner], suite, "dev", trained, executor)
        written = published.publish(trained, learner, suite)
        assert [p.relative_to(folder) for p in written] == [
            Path("checkpoints/pub@1/bandit/seed-0"),
            Path("checkpoints/pub@1/bandit/seed-1"),
        ]
        manifest = published.read(written[1])
        assert (manifest.submission_hash, manifest.suite_version, manifest.steps_used) == (learner.hash, 1, 10)
        assert load_submission(folder).hash == learner.hash  # checkpoints/ is not part of the identity

        assert published.adopt(replayed, learner, suite) == 2
        campaign.run([learner], suite, "dev", replayed, executor)
        metas = replayed.meta_trains()
        assert {m.node.split("@")[0] for m in metas} == {"published"}  # nothing was meta-trained again
        assert {m.checkpoint for m in metas} == {str(p.resolve()) for p in written}
        returns = {(t.variant, t.meta_train_seed): t.episode_returns for t in trained.trials()}
        assert {(t.variant, t.meta_train_seed): t.episode_returns for t in replayed.trials()} == returns

        (folder / "agent.py").write_text(SEEDED_META + "\n# changed\n")
        with pytest.raises(ArenaError, match="its code has changed since"):
            published.adopt(replayed, load_submission(folder), suite)
        (tmp_path / "pub.toml").write_text(text.replace("seeds = 1", "seeds = 3"))  # version 1, changed
        with pytest.raises(ArenaError, match="made with another text of pub@1"):
            published.adopt(replayed, learner, load_suite(str(tmp_path / "pub.toml")))
        (tmp_path / "pub.toml").write_text(text.replace("version = 1", "version = 2"))
        with pytest.raises(ArenaError, match="2 of 2 checkpoints of pub@2 are not published"):
            published.adopt(replayed, learner, load_suite(str(tmp_path / "pub.toml")))
    finally:
        trained.close()
        replayed.close()
