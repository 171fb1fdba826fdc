"""Faults around the harness: kill -9 at random moments, concurrent runs, corrupt files, a full disk.

The tests drive the real ``arena run`` command in subprocesses (one opens the store in-process), on a real
SQLite file, and check afterwards that every trial is stored exactly once, the database is valid, and no agent
worker or runner process outlived its harness. (tests/test_store.py covers the store itself:
refusing garbage and truncated files when opened, a single kill -9 then resume.)
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arena.errors import ArenaError
from arena.store import Store

LOADED_MACHINE_SECONDS = 60.0  # waits that pass in a second on an idle machine (tests run beside others)

SUITE = """
[suite]
name = "{name}"
version = 1
description = "fault tests"
budgets = [0, 30]
adapt_seconds = [2, 2]
seeds = {seeds}
eval_episodes = 1
eval_seconds = 10
meta_train_steps = {meta_steps}
meta_train_seconds = 10
dev_seed = 7

[families.cartpole]
interpolation = 1
[families.cartpole.train]
length = [0.5, 1.5]
[families.cartpole.reference]
random = 22.0
reference = 500.0
"""

AGENT = """
import time

import arena

CHECKPOINT = {meta}  # whether the suite meta-trains, so that every trial must load the checkpoint


class Agent(arena.Agent):
    weights = 0

    def meta_train(self, tasks):
        env = tasks.sample()
        env.reset()
        for _ in range(20):
            _, _, terminated, truncated, _ = env.step(0)
            if terminated or truncated:
                env.reset()
        time.sleep(0.3)

    def save(self, path):
        (path / "weights.txt").write_text("42")

    def load(self, path):
        self.weights = int((path / "weights.txt").read_text())

    def adapt(self, env):
        time.sleep(0.2)

    def act(self, observation, info):
        assert self.weights == 42 or not CHECKPOINT, "the meta-trained checkpoint was not loaded"
        time.sleep(0.04)
        return 0
"""


class Setup:
    """A submission, a suite and a database in a temporary folder, and the command that runs them."""

    def __init__(self, tmp_path: Path, *, seeds: int = 5, meta: bool = True, name: str = "faults"):
        self.tmp = tmp_path
        self.scratch = tmp_path / "scratch"  # the agent workers' scratch dirs go here (TMPDIR)
        self.scratch.mkdir(exist_ok=True)
        self.submission = tmp_path / "faulty"
        self.submission.mkdir(exist_ok=True)
        (self.submission / "submission.toml").write_text(
            '[submission]\nname = "faulty"\nversion = "1"\nauthors = ["Test"]\nentry = "agent:Agent"\n'
        )
        (self.submission / "agent.py").write_text(textwrap.dedent(AGENT).replace("{meta}", str(meta)))
        self.suite = tmp_path / f"{name}.toml"
        self.suite.write_text(SUITE.format(name=name, seeds=seeds, meta_steps=100 if meta else 0))
        self.db = tmp_path / "arena.db"
        self.trials = 2 * seeds
        self.env = {**os.environ, "CI": "1", "TMPDIR": str(self.scratch)}
        self.launched = 0
        self.outputs: dict[int, tuple[Any, Any]] = {}

    def command(self, workers: int = 1, db: Path | None = None) -> list[str]:
        return [
            sys.executable, "-m", "arena.cli", "run", str(self.submission), "--suite", str(self.suite),
            "--db", str(db or self.db), "-w", str(workers),
        ]  # fmt: skip

    def start(self, workers: int = 1, db: Path | None = None) -> subprocess.Popen[str]:
        """The harness, its output in files: processes that outlive it must not keep a pipe open."""
        self.launched += 1
        out = open(self.tmp / f"run-{self.launched}.out", "w+")  # noqa: SIM115 - closed by finish()
        err = open(self.tmp / f"run-{self.launched}.err", "w+")  # noqa: SIM115
        proc = subprocess.Popen(self.command(workers, db), stdout=out, stderr=err, text=True, env=self.env)
        self.outputs[proc.pid] = (out, err)
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float = 180) -> tuple[str, str]:
        """Wait for ``proc``; its stdout and stderr."""
        proc.wait(timeout=timeout)
        out, err = self.outputs.pop(proc.pid)
        texts = []
        for handle in (out, err):
            handle.seek(0)
            texts.append(handle.read())
            handle.close()
        return texts[0], texts[1]

    def workers_of(self, pid: int) -> list[int]:
        """Agent workers (sandboxed or not) that descend from the process ``pid``."""
        return [p for p in _descendants(pid) if f"ARENA_SCRATCH={self.scratch}".encode() in _environ(p)]

    def run(self, workers: int = 1, db: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(workers, db), capture_output=True, text=True, env=self.env, timeout=timeout)

    def rows(self, db: Path | None = None) -> list[tuple[str, int, int, str]]:
        conn = sqlite3.connect(db or self.db, timeout=30)
        try:
            return conn.execute("SELECT variant, budget, seed, status FROM trials").fetchall()
        finally:
            conn.close()

    def leftovers(self) -> list[str]:
        """Agent workers (and whatever they started) still alive: their environment names our scratch."""
        needle = f"ARENA_SCRATCH={self.scratch}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "environ").read_bytes() and "State:\tZ" not in (entry / "status").read_text():
                    found.append(f"{entry.name} {(entry / 'cmdline').read_bytes()[:120]!r}")
            except OSError:
                pass
        return found

    def scratch_mounts(self) -> list[str]:
        """Mount points (the agents' scratch quotas) under this test's scratch folder."""
        try:
            lines = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return []
        points = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]
        return [p for p in points if p.startswith(str(self.scratch) + "/")]

    def release_mounts(self) -> None:
        for point in sorted(self.scratch_mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def wait_for_no_leftovers(self, seconds: float = 10) -> list[str]:
        deadline = time.monotonic() + seconds
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM trials").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def assert_complete(setup: Setup) -> None:
    rows = setup.rows()
    keys = [(variant, budget, seed) for variant, budget, seed, _ in rows]
    assert len(keys) == len(set(keys)) == setup.trials, "every trial exactly once"
    assert {status for *_, status in rows} == {"ok"}, rows
    assert integrity(setup.db) == "ok"


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


# -- kill -9 ---------------------------------------------------------------------------------------


def kill_at_random_moments(tmp_path: Path, kills: int, seed: int) -> None:
    setup = Setup(tmp_path, seeds=max(5, kills))
    rng = random.Random(seed)
    interrupted = 0
    for attempt in range(kills):
        workers = 1 + attempt % 2  # the runner in the harness's process, then a pool of runner processes
        proc = setup.start(workers=workers)
        if workers > 1:
            # Once every runner process works (has an agent worker): their start-up is another test's.
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                runners = _runners(proc.pid)
                if len(runners) == workers and all(setup.workers_of(p) for p in runners):
                    break
                time.sleep(0.02)
        try:
            proc.wait(timeout=rng.uniform(0.3, 4.0) if workers == 1 else rng.uniform(0.0, 2.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            interrupted += 1
        _, stderr = setup.finish(proc)
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        # Runner processes and sandboxed agent workers die with the harness (PDEATHSIG, bwrap).
        assert setup.wait_for_no_leftovers() == [], f"kill {attempt}: processes outlived the harness"
        if setup.db.exists():
            assert integrity(setup.db) == "ok"
            keys = [row[:3] for row in setup.rows()]
            assert len(keys) == len(set(keys))
    assert interrupted >= kills // 2, f"only {interrupted} of {kills} kills landed mid-run (seed {seed})"
    result = setup.run(workers=2)
    assert result.returncode == 0, result.stderr
    assert_complete(setup)


def test_kill_minus_nine_at_random_moments_then_resume(tmp_path: Path) -> None:
    kill_at_random_moments(tmp_path, kills=5, seed=int(os.environ.get("ARENA_FAULT_SEED", "8")))


@pytest.mark.slow
def test_kill_minus_nine_thirty_times_then_resume(tmp_path: Path) -> None:
    kill_at_random_moments(tmp_path, kills=30, seed=int(os.environ.get("ARENA_FAULT_SEED", "30")))


def test_scratch_left_by_a_killed_harness_is_swept_by_the_next_run(tmp_path: Path) -> None:
    setup = Setup(tmp_path, seeds=2, meta=False)
    proc = setup.start(workers=2)
    deadline = time.monotonic() + 60
    while stored(setup.db) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    setup.finish(proc)
    assert setup.wait_for_no_leftovers() == []
    assert list(setup.scratch.iterdir()), "a harness killed by SIGKILL cannot clean up after itself"
    result = setup.run(workers=2)
    assert result.returncode == 0, result.stderr
    assert_complete(setup)
    assert list(setup.scratch.iterdir()) == []


def test_runner_processes_die_with_a_harness_killed_as_they_start(tmp_path: Path) -> None:
    setup = Setup(tmp_path, seeds=3, meta=False)
    proc = setup.start(workers=2)
    runners: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(runners) < 2 and proc.poll() is None and time.monotonic() < deadline:
            runners = _runners(proc.pid)
            time.sleep(0.005)
        assert len(runners) == 2, "the runner processes never started"
        proc.send_signal(signal.SIGKILL)
        setup.finish(proc)
        # A runner that has set PDEATHSIG dies at once. One killed while it still imports the
        # harness (seconds on a loaded machine) has no PDEATHSIG yet: it finds its parent gone
        # when the import ends and returns. Either way it dies; the wait is for a loaded machine.
        deadline = time.monotonic() + LOADED_MACHINE_SECONDS
        while any(_alive(p) for p in runners) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in runners if _alive(p)] == [], "runner processes outlived the harness"
        assert setup.wait_for_no_leftovers(LOADED_MACHINE_SECONDS) == []
    finally:
        for pid in runners:  # orphans of the harness this test started: their workers die with them
            with contextlib.suppress(ProcessLookupError):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _runners(pid: int) -> list[int]:
    """The runner processes a harness spawned (multiprocessing's spawn_main), not its resource tracker."""
    found = []
    for child in _children(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def test_a_runner_process_killed_mid_run_neither_hangs_nor_loses_a_trial(tmp_path: Path) -> None:
    setup = Setup(tmp_path, seeds=5, meta=False)
    proc = setup.start(workers=2)
    try:
        deadline = time.monotonic() + 120
        while stored(setup.db) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        busy: list[int] = []
        while not busy and time.monotonic() < deadline:  # a runner process in the middle of a trial
            busy = [p for p in _runners(proc.pid) if _children(p)]
            time.sleep(0.01)  # scanning /proc in a tight loop would starve the run it waits for
        assert busy, "no busy runner process found"
        os.kill(busy[0], signal.SIGKILL)  # the OOM killer's choice, say
        try:
            # What is left takes seconds; a loaded machine may need many times that. A hang does not end.
            proc.wait(timeout=LOADED_MACHINE_SECONDS * 2)
        except subprocess.TimeoutExpired:
            pytest.fail("the harness hangs after losing a runner process")
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = setup.finish(proc)
        leaked = setup.scratch_mounts()
    assert integrity(setup.db) == "ok"
    if proc.returncode != 0:
        one_line_error(stderr)
    try:
        result = setup.run(workers=2)
        assert result.returncode == 0, result.stderr
        assert_complete(setup)
        # The killed runner's scratch quota (a tmpfs, as root) is unmounted by the next run's sweep.
        assert setup.scratch_mounts() == [], f"tmpfs mounts left behind (after the kill: {leaked})"
    finally:
        setup.release_mounts()  # whatever happened above: nothing mounted outlives the test


# -- concurrency -----------------------------------------------------------------------------------


def test_two_concurrent_runs_on_one_database(tmp_path: Path) -> None:
    setup = Setup(tmp_path, seeds=4, meta=False)
    Store(setup.db).close()  # created beforehand: creating it concurrently is the next test
    first, second = setup.start(workers=1), setup.start(workers=2)
    outputs = [setup.finish(proc) for proc in (first, second)]
    assert first.returncode == 0, outputs[0][1]
    assert second.returncode == 0, outputs[1][1]
    assert_complete(setup)


def _open_store(path: Path, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        Store(path).close()
        results.put("ok")
    except ArenaError as exc:
        results.put(str(exc))


def test_runs_that_start_together_can_all_open_a_new_database(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    failures = []
    for attempt in range(10):  # four `arena run`s opening the same new database at the same moment
        path = tmp_path / f"new-{attempt}.db"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_store, args=(path, barrier, results)) for _ in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        failures += [r for r in (results.get(timeout=10) for _ in procs) if r != "ok"]
    assert failures == []


# -- corrupt database files --------------------------------------------------------------------------


def _truncated_database(setup: Setup) -> bytes:
    conn = sqlite3.connect(setup.db)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(400)])
    conn.commit()
    conn.close()
    data = setup.db.read_bytes()
    return data[: len(data) // 3]


def _garbage(setup: Setup) -> bytes:
    return bytes(random.Random(1).getrandbits(8) for _ in range(20000))


def _foreign_database(setup: Setup) -> bytes:
    conn = sqlite3.connect(setup.db)
    conn.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY, note TEXT)")
    conn.execute("INSERT INTO trials (note) VALUES ('somebody else''s data')")
    conn.commit()
    conn.close()
    return setup.db.read_bytes()


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_garbage, id="garbage"),
        pytest.param(_truncated_database, id="truncated"),
        pytest.param(
            _foreign_database,
            id="foreign",
        ),
    ],
)
def test_run_on_a_corrupt_database_is_one_line_and_leaves_the_file_alone(tmp_path: Path, make) -> None:
    setup = Setup(tmp_path, seeds=1, meta=False)
    content = make(setup)
    setup.db.write_bytes(content)
    result = setup.run()
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line_error(result.stderr)
    assert str(setup.db) in line
    assert setup.db.read_bytes() == content, "the database file was modified"


# -- a full disk -------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "arena-test", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    chunk = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, chunk) > 0:
            pass
    except OSError:
        pass  # no space left: that was the point
    finally:
        os.close(fd)
    return filler


@pytest.mark.needs_root
def test_disk_full_mid_run_is_one_line_and_the_database_stays_valid(tmp_path: Path, small_disk: Path) -> None:
    setup = Setup(tmp_path, seeds=5, meta=False)
    db = small_disk / "arena.db"
    proc = setup.start(workers=1, db=db)
    try:
        deadline = time.monotonic() + 60
        while stored(db) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = stored(db)
        assert 2 <= before < setup.trials, "the disk must fill up mid-run"
        filler = _fill(small_disk)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = setup.finish(proc)
    assert proc.returncode == 2, stderr
    line = one_line_error(stderr)
    assert "full" in line and str(db) in line
    assert setup.wait_for_no_leftovers() == []
    filler.unlink()
    assert integrity(db) == "ok"
    rows = setup.rows(db)
    assert len(rows) >= before and len({row[:3] for row in rows}) == len(rows)
    result = setup.run(db=db)  # space again: the run resumes and completes
    assert result.returncode == 0, result.stderr
    setup.db = db
    assert_complete(setup)
