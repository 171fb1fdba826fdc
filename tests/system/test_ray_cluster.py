"""A real Ray cluster on this machine: a head and more nodes started with ``ray start`` on
loopback, with token authentication, and ``arena run --executor ray --address`` against it.

Every node has its own temp folder under one folder of this module's, so its processes are found
(and in the end killed) by pid from their command lines, never by name: other Ray clusters on the
machine are left alone. Each node offers one CPU, so a run with two workers has one actor on each.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arena import campaign
from arena.harness.executors import LocalExecutor
from arena.store import Store
from arena.submission import load_submission
from arena.suites import load_suite
from tests.conftest import ROOT, TINY_SUITE

pytest.importorskip("ray")

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
RANDOM = ROOT / "submissions" / "random"
SUITE = TINY_SUITE.replace("seeds = 2", "seeds = 4")  # 16 trials: enough for both nodes, and to kill one mid-run
TRIALS = 16
RUN_SECONDS = 240  # a run that has not ended by then hangs

# The random agent, slower: a warm random trial takes ~15 ms, so a node killed at a random moment
# is rarely running one. Its actions, and so its returns, are the random agent's.
SLEEPY = """
import time

from baselines.random_agent import RandomAgent


class Agent(RandomAgent):
    def reset(self):
        time.sleep(0.4)
"""


# -- the cluster -----------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    folder: Path
    node_id: str
    raylet: int  # the raylet's pid


@dataclass
class Cluster:
    base: Path
    address: str
    env: dict[str, str]  # what every node and the driver run with: the token, no usage stats
    nodes: dict[str, Node] = field(default_factory=dict)

    def start(self, name: str, *, head: bool = False, env: dict[str, str] | None = None) -> Node:
        folder = self.base / name
        where = ["--head", f"--port={self.address.rsplit(':', 1)[1]}", "--include-dashboard=false"] if head else []
        command = [
            str(BIN / "ray"), "start", *(where or [f"--address={self.address}"]), "--num-cpus=1",
            "--disable-usage-stats", f"--temp-dir={folder}", "--object-store-memory=100000000",
        ]  # fmt: skip
        started = subprocess.run(command, env=env or self.env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        pid, node_id = _raylet(folder)
        self.nodes[name] = Node(name, folder, node_id, pid)
        return self.nodes[name]

    def arena(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "arena"), "run", *args], cwd=ROOT, env=env or self.env, capture_output=True, text=True,
            timeout=RUN_SECONDS,
        )  # fmt: skip

    def run_args(self, db: Path, suite: Path, *extra: str, submission: Path = RANDOM) -> list[str]:
        return [str(submission), "--suite", str(suite), "--executor", "ray", "--address", self.address,
                "--workers", "2", "--db", str(db), *extra]  # fmt: skip

    def stop(self) -> None:
        """Every process of this cluster, by pid: SIGTERM, then SIGKILL for what is left."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = _processes_under(str(self.base))
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while pids and time.monotonic() < deadline and _processes_under(str(self.base)):
                time.sleep(0.2)


def _cmdlines() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            table[int(entry.name)] = (ppid, cmdline)
    return table


def _processes_under(marker: str) -> list[int]:
    """The processes whose command line names ``marker``, and all their descendants (Ray's
    workers and agents rename themselves, agent processes are their children)."""
    table = _cmdlines()
    found = {pid for pid, (_, cmd) in table.items() if marker in cmd and pid != os.getpid()}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)


def _raylet(folder: Path) -> tuple[int, str]:
    for pid, (_, cmd) in _cmdlines().items():
        if "/raylet/raylet " in cmd and f"--temp_dir={folder} " in cmd:
            node_id = re.search(r"--node_id=([0-9a-f]+)", cmd)
            assert node_id is not None
            return pid, node_id.group(1)
    raise AssertionError(f"no raylet runs with --temp_dir={folder}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Short and under /tmp: Ray's socket paths live in the temp folder and have a length limit.
    base = Path(tempfile.mkdtemp(prefix="arena-ray-", dir="/tmp"))
    token = base / "token"
    token.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",  # a node joining or a driver with an address never turns it on by itself
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    found = Cluster(base=base, address=f"127.0.0.1:{_free_port()}", env=env)
    try:
        found.start("head", head=True)
        found.start("node2")
        yield found
    finally:
        found.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "tiny.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def local_returns(suite_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple, float | None]:
    """The same suite with the local executor: what every Ray run must equal."""
    store = Store(tmp_path_factory.mktemp("local") / "local.db")
    summary = campaign.run([load_submission(RANDOM)], load_suite(str(suite_file)), "dev", store, LocalExecutor(1))
    assert summary.statuses == {"ok": TRIALS}
    returns = _returns(store)
    store.close()
    return returns


def _returns(store: Store) -> dict[tuple, float | None]:
    return {(r.variant, r.budget, r.seed): r.eval_return for r in store.trials()}


def _stored(db: Path) -> tuple[dict[tuple, float | None], dict[str, int], int]:
    """(key -> eval_return, node -> trials, rows): rows counts duplicates, were there any."""
    store = Store(db)
    trials = store.trials()
    store.close()
    nodes: dict[str, int] = {}
    for record in trials:
        nodes[record.node] = nodes.get(record.node, 0) + 1
    return {(r.variant, r.budget, r.seed): r.eval_return for r in trials}, nodes, len(trials)


def _rows_on(db: Path) -> list[str]:
    """The node of every trial stored so far, read while a run writes."""
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as con:
            return [row[0] for row in con.execute("SELECT node FROM trials")]
    except sqlite3.OperationalError:  # the driver is still creating the schema
        return []


def _wait_for(predicate: Callable[[], bool], what: str, seconds: float = RUN_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def _agents_left(cluster: Cluster) -> list[int]:
    """Agent processes still alive on the cluster's nodes (between runs there should be none)."""
    table = _cmdlines()
    return [pid for pid in _processes_under(str(cluster.base)) if "arena.worker" in table.get(pid, (0, ""))[1]]


# -- a run across two nodes ------------------------------------------------------------------------


def test_a_run_on_two_nodes_stores_what_a_local_run_stores(
    cluster, suite_file, local_returns, tmp_path, write_submission
) -> None:
    # The sleepy random agent: the random agent's 16 trials end in about a second, before a
    # second actor on a loaded machine has answered, and one node would run them all.
    sleepy = write_submission("sleepy", SLEEPY, extra_manifest='includes = ["baselines"]\n')
    db = tmp_path / "ray.db"
    started = time.monotonic()
    result = cluster.arena(*cluster.run_args(db, suite_file, submission=sleepy))
    print(
        f"\n[figures] 2-node run of {TRIALS} trials: {time.monotonic() - started:.1f} s wall (CLI, Ray connect included)"
    )
    assert result.returncode == 0, result.stderr
    returns, nodes, rows = _stored(db)
    assert rows == TRIALS
    assert returns == local_returns
    assert set(nodes) == {cluster.nodes["head"].node_id, cluster.nodes["node2"].node_id}, nodes


def test_a_driver_killed_with_kill_9_resumes_on_the_cluster(cluster, suite_file, local_returns, tmp_path) -> None:
    db = tmp_path / "ray.db"
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen(
            [str(BIN / "arena"), "run", *cluster.run_args(db, suite_file)], cwd=ROOT, env=cluster.env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for(lambda: len(_rows_on(db)) >= 2 or driver.poll() is not None, "two stored trials")
        finally:
            driver.kill()
            driver.wait(timeout=60)
    at_kill = len(_rows_on(db))
    started = time.monotonic()
    rerun = cluster.arena(*cluster.run_args(db, suite_file))
    wall = time.monotonic() - started
    assert rerun.returncode == 0, rerun.stderr
    print(
        f"\n[figures] driver kill -9 after {at_kill} of {TRIALS} stored; the rerun took {wall:.1f} s: {rerun.stdout.strip()}"
    )
    returns, _, rows = _stored(db)
    assert rows == TRIALS
    assert returns == local_returns
    assert f"{at_kill} were already stored" in rerun.stdout or at_kill == TRIALS
    _wait_for(lambda: not _agents_left(cluster), "the agent processes of both runs to end", 60)


def test_a_node_lost_mid_run_costs_its_job_a_retry_on_the_other(
    cluster, suite_file, local_returns, tmp_path, write_submission
) -> None:
    sleepy = write_submission("sleepy", SLEEPY, extra_manifest='includes = ["baselines"]\n')
    lost = cluster.nodes["node2"]
    db = tmp_path / "ray.db"
    started = time.monotonic()
    with open(tmp_path / "driver.err", "w") as err, open(tmp_path / "driver.out", "w") as out:
        driver = subprocess.Popen(
            [str(BIN / "arena"), "run", *cluster.run_args(db, suite_file, submission=sleepy)], cwd=ROOT, env=cluster.env,
            stdout=out, stderr=err,
        )  # fmt: skip
        try:
            _wait_for(lambda: lost.node_id in _rows_on(db) or driver.poll() is not None, "a trial stored from node2")
            on_lost = _rows_on(db).count(lost.node_id)
            os.kill(lost.raylet, signal.SIGKILL)
            del cluster.nodes["node2"]
            driver.wait(timeout=RUN_SECONDS)
        finally:
            driver.kill()
    wall = time.monotonic() - started
    stderr = (tmp_path / "driver.err").read_text()
    assert driver.returncode == 0, stderr
    requeued = stderr.count("its job goes to another actor")
    returns, nodes, rows = _stored(db)
    print(
        f"\n[figures] node2's raylet killed after it stored {on_lost} trial(s): {requeued} job(s) requeued, "
        f"run {wall:.1f} s wall, trials per node {dict(nodes)}"
    )
    assert rows == TRIALS  # every trial once: none lost, none twice
    assert returns == local_returns  # the random agent's
    assert requeued >= 1, stderr  # node2 was running its next job when it went
    # Not "nothing after the kill": node2's actor runs on for a second or two, until it notices
    # that its raylet is gone, and what it finishes by then is a result like any other.
    assert nodes.get(lost.node_id, 0) >= on_lost
    _wait_for(lambda: not _agents_left(cluster), "the agent processes, the lost node's too, to end", 60)


# -- nodes without bubblewrap ----------------------------------------------------------------------


def _path_without_bwrap(folder: Path) -> str:
    """A PATH with every program of this one except bubblewrap: a node where it is not installed."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        with contextlib.suppress(OSError):
            for program in Path(directory).iterdir():
                link = folder / program.name
                if program.name != "bwrap" and not link.exists():
                    link.symlink_to(program)
    return str(folder)


def test_a_node_without_bubblewrap_is_warned_about_and_refused_for_the_test_split(
    cluster, suite_file, tmp_path, write_submission
) -> None:
    from arena.boundary import sandbox

    if not sandbox.available()[0]:
        pytest.skip("the head needs the full sandbox for the test split to run at all")
    if "node2" in cluster.nodes:  # the node-loss test normally took it
        with contextlib.suppress(ProcessLookupError):
            os.kill(cluster.nodes.pop("node2").raylet, signal.SIGKILL)
    bare = cluster.start("bare", env={**cluster.env, "PATH": _path_without_bwrap(cluster.base / "nobwrap")})

    # The sleepy random agent: the random agent's trials can all end before the bare node's
    # actor has answered, and then nothing is warned about or refused.
    sleepy = write_submission("sleepy", SLEEPY, extra_manifest='includes = ["baselines"]\n')
    dev = cluster.arena(*cluster.run_args(tmp_path / "dev.db", suite_file, submission=sleepy))
    assert dev.returncode == 0, dev.stderr
    assert f"Ray node {bare.node_id[:12]}: agent workers are NOT fully sandboxed: " in dev.stderr
    assert "bubblewrap is not installed" in dev.stderr

    seed = tmp_path / "seed"
    seed.write_text("1234567")
    test = cluster.arena(
        *cluster.run_args(
            tmp_path / "test.db", suite_file, "--split", "test", "--test-seed-file", str(seed), submission=sleepy
        )
    )
    assert test.returncode == 0, test.stderr
    assert f"Ray node {bare.node_id[:12]}: refusing to run the test split on it" in test.stderr
    _, nodes, rows = _stored(tmp_path / "test.db")
    assert rows == TRIALS
    assert set(nodes) == {cluster.nodes["head"].node_id}


# -- a cluster that is not there, or not ours ------------------------------------------------------


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_cluster_that_does_not_answer_is_one_line(cluster, suite_file, tmp_path) -> None:
    args = cluster.run_args(tmp_path / "x.db", suite_file)
    args[args.index(cluster.address)] = f"127.0.0.1:{_free_port()}"
    assert "no Ray cluster answers at 127.0.0.1:" in _one_line_error(cluster.arena(*args))


def test_an_address_without_the_ray_executor_is_one_line(cluster, suite_file, tmp_path) -> None:
    args = cluster.run_args(tmp_path / "x.db", suite_file)
    args[args.index("--executor") + 1] = "local"
    assert "it goes with --executor ray" in _one_line_error(cluster.arena(*args))


def test_a_driver_without_the_clusters_token_is_one_line(cluster, suite_file, tmp_path) -> None:
    args = cluster.run_args(tmp_path / "x.db", suite_file)
    no_token = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH")}
    line = _one_line_error(cluster.arena(*args, env=no_token))
    assert "uses token authentication and this driver sends no token" in line and "RAY_AUTH_MODE=token" in line
    wrong = tmp_path / "wrong-token"
    wrong.write_text(secrets.token_hex(32))
    line = _one_line_error(cluster.arena(*args, env={**cluster.env, "RAY_AUTH_TOKEN_PATH": str(wrong)}))
    assert "sends a token it does not accept" in line


def test_a_missing_ray_package_is_one_line(cluster, suite_file, tmp_path) -> None:
    hide_ray = "import sys; sys.modules['ray'] = None; from arena.cli import main; sys.argv[0] = 'arena'; main()"
    args = ["run", str(RANDOM), "--suite", str(suite_file), "--executor", "ray", "--db", str(tmp_path / "x.db")]
    result = subprocess.run(
        [sys.executable, "-c", hide_ray, *args], cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=60
    )
    assert "pip install 'meta-arena[ray]'" in _one_line_error(result)
