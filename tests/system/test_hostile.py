"""Hostile submissions (tests/hostile/*) through the real harness: every attack must fail safely.

One campaign runs them all on the test split of a tiny suite, with a secret seed in a file, a
real SQLite store, two runner processes, the random baseline and three copies of it ("canaries")
spread among the attacks. Then, per attack: the recorded status and what the attack itself found
out (the "cheats" raise a ``Report`` whose JSON lands in the trial's error text: the only channel
an agent has); and for the run as a whole: the harness finished, every trial is stored once, the
database is intact, the canaries scored exactly like the random baseline, no step budget was
overrun, the secret appears nowhere, nothing was written outside scratch, no process outlived
the run and no listener of the test was reached. The two attacks on meta-training checkpoints
run in a second, smaller campaign whose suite meta-trains.

Each folder's manifest says what its attack does and the status it must end with ("expect ...");
ATTACKS below holds the same statuses, checked against the manifests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from arena import campaign
from arena.boundary import sandbox
from arena.errors import ArenaError
from arena.harness.executors import LocalExecutor
from arena.harness.limits import Limits
from arena.records import TrialRecord, as_plain
from arena.store import Store
from arena.submission import Submission, load_submission
from arena.suites import load_suite, read_test_seed

HOSTILE = Path(__file__).resolve().parent / "hostile"
RANDOM = HOSTILE.parents[2] / "submissions" / "random"
BUDGET = 60
ADAPT_SECONDS = 2.0
FILE_BYTES = 16 * 1024**2
LIMITS = Limits(
    memory_bytes=2 * 1024**3,
    open_files=256,
    file_bytes=FILE_BYTES,
    scratch_bytes=3 * FILE_BYTES,
    processes=64,
    load_seconds=30.0,
    setup_seconds=1.0,
)
SECRET_SEED = 804_918_273_645_501  # the test split's secret: it must show up nowhere an agent could write
CANARIES = 3

SUITE = f"""
[suite]
name = "hostile"
version = 1
description = "hostile submissions"
budgets = [{BUDGET}]
adapt_seconds = [{ADAPT_SECONDS}]
seeds = 1
eval_episodes = 2
eval_seconds = 3
meta_train_steps = 0
dev_seed = 7

[families.cartpole]
interpolation = 1
[families.cartpole.train]
length = [0.5, 1.5]
[families.cartpole.reference]
random = 22.0
reference = 500.0
"""


@dataclass(frozen=True)
class Attack:
    status: str  # the trial's expected status; "rejected": the manifest is refused before any trial
    sandboxed: bool = False  # only safe or meaningful inside the full sandbox: skipped without it
    xfail: str = ""  # a known harness bug this attack exposes
    meta: bool = False  # attacks the meta-training checkpoint: runs in a second campaign that meta-trains


ATTACKS: dict[str, Attack] = {
    "import_crash": Attack("error"),
    "syntax_error": Attack("error"),
    "missing_class": Attack("error"),
    "act_nan": Attack("invalid_action"),
    "act_out_of_range": Attack("invalid_action"),
    "act_wrong_type": Attack("error"),
    "act_wrong_shape": Attack("invalid_action"),
    "act_huge_int": Attack("invalid_action"),
    "act_infinite_loop": Attack("timeout"),
    "adapt_sleep": Attack("timeout"),
    "exit_mid_step": Attack("error"),
    "alloc_50gb": Attack("oom"),
    "print_1gb": Attack("error"),
    "budget_ignore": Attack("ok"),
    "reset_storm": Attack("ok"),
    "env_hoard": Attack("error"),
    "malicious_pickle": Attack("error"),
    "oversized_message": Attack("error"),
    "partial_frame": Attack("timeout"),
    "reply_flood": Attack("timeout"),
    "lane_garbage": Attack("error"),
    "introspect_gc": Attack("error"),
    "proc_snoop": Attack("error", sandboxed=True),
    "read_secret": Attack("error", sandboxed=True),
    "read_db": Attack("error", sandboxed=True),
    "read_other_submission": Attack("error", sandboxed=True),
    "write_outside": Attack("error", sandboxed=True),
    "socket_out": Attack("error", sandboxed=True),
    "privilege_escalation": Attack("error", sandboxed=True),
    "log_swap": Attack("error", sandboxed=True),
    "fork_bomb": Attack("timeout", sandboxed=True),
    "thread_bomb": Attack("ok", sandboxed=True),
    "fd_exhaust": Attack("ok"),
    "orphan_process": Attack("ok", sandboxed=True),
    "kill_parent": Attack("error", sandboxed=True),
    "kill_everything": Attack("ok", sandboxed=True),
    # A quota needs a tmpfs mount (root); elsewhere only the time limit bounds what an agent writes.
    "scratch_fill": Attack("error", xfail="" if os.geteuid() == 0 else "no scratch quota without root"),
    "checkpoint_swap": Attack("error", sandboxed=True, meta=True),
    "checkpoint_plant": Attack("error", sandboxed=True, meta=True),
    "manifest_traversal": Attack("rejected"),
    "manifest_huge_name": Attack("rejected"),
}
# Slowest first, so that they overlap with the quick ones.
ORDER = sorted(ATTACKS, key=lambda name: (ATTACKS[name].status not in ("timeout",), name))


# -- listeners the sandboxed agents try to reach ------------------------------------------------


@dataclass
class Listeners:
    tcp: socket.socket
    udp: socket.socket
    unix: socket.socket
    abstract: socket.socket
    abstract_name: str
    unix_path: str
    reached: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @classmethod
    def start(cls, folder: Path, marker: str) -> Listeners:
        tcp = socket.create_server(("0.0.0.0", 0))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("0.0.0.0", 0))
        unix_path = str(folder / "listener.sock")
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(unix_path)
        os.chmod(unix_path, 0o777)  # only the sandbox, not the permissions, may keep an agent out
        unix.listen()
        name = f"arena-hostile-{marker}"
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        abstract.bind("\0" + name)
        abstract.listen()
        listeners = cls(tcp, udp, unix, abstract, name, unix_path)
        listeners.thread = threading.Thread(target=listeners._serve, daemon=True)
        listeners.thread.start()
        return listeners

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                with contextlib.suppress(OSError):
                    if sock is self.udp:
                        data, peer = sock.recvfrom(4096)
                        self.reached.append(f"udp from {peer}: {data!r}")
                    else:
                        conn, peer = sock.accept()
                        self.reached.append(f"connection from {peer!r} on {sock.getsockname()!r}")
                        conn.close()
        selector.close()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        for sock in (self.tcp, self.udp, self.unix, self.abstract):
            sock.close()


def _host_ips() -> list[str]:
    ips = set()
    with contextlib.suppress(OSError):
        ips.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet: only asks which local address would be used
        ips.add(probe.getsockname()[0])
    return sorted(ip for ip in ips if not ip.startswith("127."))[:3]


# -- the run -------------------------------------------------------------------------------------


@dataclass
class HostileRun:
    tmp: Path
    db: Path
    scratch_root: Path
    outside: Path
    marker: str
    harness_pid: int
    folders: dict[str, Path]  # attack -> its copy
    rejected: dict[str, str]  # attack -> the load error
    skipped: set[str]
    rows: dict[str, TrialRecord]  # submission name -> trial record
    all_rows: list[TrialRecord]
    summary: campaign.RunSummary
    seconds: float
    listeners: Listeners
    stray: list[str]
    variant: str
    canaries: int

    def row(self, attack: str) -> TrialRecord:
        return self.rows[f"h-{attack}"]

    def report(self, attack: str) -> dict[str, Any]:
        """What the attack found, from the ``REPORT {...}`` at the end of its error text."""
        error = self.row(attack).error or ""
        match = re.search(r"REPORT (\{.*\})\s*$", error, re.S)
        assert match, f"{attack} sent no report; error text:\n{error[-1500:]}"
        return dict(json.loads(match.group(1)))


def _stray_processes(needles: list[str]) -> list[str]:
    """Processes (any user) whose command line or environment mentions one of ``needles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        decoded = text.decode("utf-8", "replace")
        if any(needle in decoded for needle in needles):
            found.append(f"{entry.name}: {decoded[:150]!r}")
    return found


def _copy(source: Path, destination: Path, name: str | None = None) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
    if name is not None:
        manifest = destination / "submission.toml"
        manifest.write_text(re.sub(r'name = "[^"]*"', f'name = "{name}"', manifest.read_text(), count=1))
    for path in [destination, *destination.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return destination


def _campaign(
    tmp: Path, attacks: list[str], suite_text: str, *, canaries: int, workers: int, skipped: set[str]
) -> HostileRun:
    """Copy the attacks (with their targets.json), run them with the baseline and canaries, collect."""
    detail = sandbox.available()[1]
    marker = f"{os.getpid()}-{time.monotonic_ns() % 10**9}"
    # Everything the agents attack is readable/writable for anyone by its permissions: only the
    # sandbox may stop them.
    secret_dir, outside, db_dir, scratch_root, subs = (tmp / d for d in ("secret", "outside", "db", "scratch", "subs"))
    for folder in (secret_dir, outside, db_dir, scratch_root, subs):
        folder.mkdir()
        os.chmod(folder, 0o777)
    os.chmod(tmp, 0o755)
    seed_file = secret_dir / "test-seed"
    seed_file.write_text(f"{SECRET_SEED}\n")
    os.chmod(seed_file, 0o644)
    db = db_dir / "arena.db"
    suite_file = tmp / "hostile.toml"
    suite_file.write_text(suite_text)
    suite = load_suite(str(suite_file))
    listeners = Listeners.start(outside, marker)

    folders = {name: _copy(HOSTILE / name, subs / name) for name in attacks if name not in skipped}
    targets = {
        "secret_file": str(seed_file),
        "db": str(db),
        "outside": str(outside),
        "marker": marker,
        "harness_pid": os.getpid(),
        "tcp_port": listeners.tcp.getsockname()[1],
        "udp_port": listeners.udp.getsockname()[1],
        "unix_path": listeners.unix_path,
        "abstract": listeners.abstract_name,
        "host_ips": _host_ips(),
        "other_submission": str(folders.get("import_crash", subs)),
        "random_submission": str(RANDOM),
    }
    for folder in folders.values():
        (folder / "targets.json").write_text(json.dumps(targets))
        os.chmod(folder / "targets.json", 0o644)

    submissions: list[Submission] = [load_submission(RANDOM)]
    rejected: dict[str, str] = {}
    step = max(1, len(folders) // (canaries + 1))
    for index, name in enumerate(folders):
        if index and index % step == 0 and index // step <= canaries:
            canary = f"canary-{index // step}"
            submissions.append(load_submission(_copy(RANDOM, subs / canary, name=canary)))
        try:
            submissions.append(load_submission(folders[name]))
        except ArenaError as exc:
            rejected[name] = str(exc)

    store = Store(db)
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(scratch_root))  # the runner processes make their scratch dirs here
        summary = campaign.run(
            submissions, suite, "test", store, LocalExecutor(workers, LIMITS), test_seed=read_test_seed(seed_file)
        )
    seconds = time.monotonic() - started
    all_rows = store.trials()
    store.close()
    listeners.close()
    time.sleep(0.5)  # the kernel reaps the sandboxes' last processes
    stray = _stray_processes([f"ARENA_SCRATCH={scratch_root}", f"arena-orphan-{marker}"])
    print(f"\n{suite.name}: {len(submissions)} submissions, {summary.ran} trials in {seconds:.1f}s; sandbox: {detail}")
    for row in all_rows:  # shown with -s: the table of observed outcomes
        last = (row.error or "").strip().splitlines()[-1:] or [""]
        print(f"  {row.submission:28} {row.status:15} {row.wall_seconds:6.2f}s {row.steps_used:3} {last[0][:150]}")
    for name, message in rejected.items():
        print(f"  h-{name:26} {'rejected':15} {message[:150]}")
    return HostileRun(
        tmp=tmp,
        db=db,
        scratch_root=scratch_root,
        outside=outside,
        marker=marker,
        harness_pid=os.getpid(),
        folders=folders,
        rejected=rejected,
        skipped=skipped,
        rows={row.submission: row for row in all_rows},
        all_rows=all_rows,
        summary=summary,
        seconds=seconds,
        listeners=listeners,
        stray=stray,
        variant=suite.variants("test", SECRET_SEED)[0].variant.id,
        canaries=canaries,
    )


def _skipped() -> set[str]:
    return set() if sandbox.available()[0] else {name for name, attack in ATTACKS.items() if attack.sandboxed}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    main = [name for name in ORDER if not ATTACKS[name].meta]
    return _campaign(tmp_path_factory.mktemp("hostile"), main, SUITE, canaries=CANARIES, workers=2, skipped=_skipped())


@pytest.fixture(scope="module")
def checkpoint_run(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    """The attacks on checkpoints, in a campaign that meta-trains (one runner: the worker stays put)."""
    meta = [name for name in ORDER if ATTACKS[name].meta]
    suite = SUITE.replace('name = "hostile"', 'name = "hostile-meta"').replace(
        "meta_train_steps = 0", "meta_train_steps = 10\nmeta_train_seconds = 10"
    )
    return _campaign(tmp_path_factory.mktemp("hostile-meta"), meta, suite, canaries=0, workers=1, skipped=_skipped())


# -- what each attack must have achieved (nothing) ------------------------------------------------


def _failed(outcome: str) -> bool:
    return not outcome.startswith("ok")


def _check_budget_ignore(run: HostileRun) -> None:
    assert run.row("budget_ignore").steps_used == BUDGET


def _check_env_hoard(run: HostileRun) -> None:
    found = run.report("env_hoard")
    assert found["copies_opened"] <= 1024, f"the harness built {found['copies_opened']} env copies for one agent"


def _check_malicious_pickle(run: HostileRun) -> None:
    assert not (run.outside / "pickle-pwned").exists(), "the harness ran the agent's pickle"
    assert "not allowed" in run.row("malicious_pickle").error


def _check_oversized_message(run: HostileRun) -> None:
    assert "longer than" in run.row("oversized_message").error


def _check_lane_garbage(run: HostileRun) -> None:
    assert "malformed" in run.row("lane_garbage").error


def _check_quick_timeout(attack: str) -> Any:
    def check(run: HostileRun) -> None:
        row = run.row(attack)
        limit = ADAPT_SECONDS + LIMITS.setup_seconds + 0.1 * ADAPT_SECONDS
        assert row.wall_seconds <= limit + 3.0, f"the harness waited {row.wall_seconds:.1f}s (limit {limit}s)"

    return check


def _check_introspect_gc(run: HostileRun) -> None:
    found = run.report("introspect_gc")
    assert found["variant_like_strings"] == []
    assert found["game_types"] == []
    assert found["modules"] == []
    assert found["unwrapped"] == "ProxyEnv"


def _check_proc_snoop(run: HostileRun) -> None:
    found = run.report("proc_snoop")
    assert int(found["uid"]) == sandbox.worker_uid() != 0
    assert max(found["visible_pids"]) < 100, "the agent sees processes outside its own PID namespace"
    assert run.harness_pid not in found["visible_pids"] or run.harness_pid < 100
    for key, outcome in found.items():
        # The parent is bubblewrap's init: its command line (the view's mounts) is public, nothing else.
        if key.startswith(("ppid/", "harness/")) and key != "ppid/cmdline":
            assert _failed(outcome), f"{key}: {outcome}"
        if key.startswith(("ptrace", "process_vm_readv")):
            assert outcome.startswith("-1 "), f"{key}: {outcome}"


def _check_read_secret(run: HostileRun) -> None:
    found = run.report("read_secret")
    assert _failed(found["read"]) and "No such file" in found["read"]
    assert _failed(found["list_parent"])
    assert not any(h.endswith(("test-seed", ".db")) for h in found["hits"]), found["hits"]


def _check_read_db(run: HostileRun) -> None:
    found = run.report("read_db")
    assert all(_failed(v) for v in found.values()), found
    assert all(row.eval_return != 1e9 for row in run.all_rows)


def _check_read_other_submission(run: HostileRun) -> None:
    found = run.report("read_other_submission")
    assert _failed(found["other_agent"]) and _failed(found["other_list"]) and _failed(found["random_baseline"]), found
    # Its own folder's parent is an empty mount point of the view, or unreadable.
    assert _failed(found["parent_list"]) or found["parent_list"] == "ok: ['read_other_submission']", found


def _check_write_outside(run: HostileRun) -> None:
    found = run.report("write_outside")
    written = {k: v for k, v in found.items() if k != "symlink_out" and not _failed(v)}
    assert written == {}
    assert list(run.outside.glob("escaped*")) == []
    assert not (run.folders["write_outside"] / "escaped.txt").exists()
    for place in (Path("/tmp"), run.scratch_root, Path("/"), Path(sandbox.__file__).parent):
        assert [p for p in place.iterdir() if run.marker in p.name] == [], place


def _check_socket_out(run: HostileRun) -> None:
    found = run.report("socket_out")
    # A UDP datagram may leave the socket: it goes nowhere but the sandbox's own loopback.
    reached = {k: v for k, v in found.items() if not k.startswith(("interfaces", "udp")) and not _failed(v)}
    assert reached == {}
    assert run.listeners.reached == []
    assert found["interfaces"] == "ok: [(1, 'lo')]", "the sandbox has network interfaces besides loopback"


def _check_privilege_escalation(run: HostileRun) -> None:
    found = run.report("privilege_escalation")
    assert _failed(found["setuid0"]) and _failed(found["setgid0"])
    assert _failed(found["secret_after"])
    assert str(run.outside) not in found["root_listing"]


def _check_log_swap(run: HostileRun) -> None:
    error = run.row("log_swap").error
    assert re.search(r"'unlink': .PermissionError", error) and re.search(r"'rename': .PermissionError", error), error


def _check_kill_parent(run: HostileRun) -> None:
    found = run.report("kill_parent")
    assert all(_failed(v) for k, v in found.items() if k.startswith("kill")), found


def _check_print_1gb(run: HostileRun) -> None:
    assert "File too large" in run.row("print_1gb").error


def _check_scratch_fill(run: HostileRun) -> None:
    written = run.report("scratch_fill")["written"]
    assert written <= 4 * FILE_BYTES, f"the agent wrote {written / 2**20:.0f} MiB into its scratch"


def _check_checkpoint_swap(run: HostileRun) -> None:
    stolen = run.report("checkpoint_swap")["stolen"]
    assert str(SECRET_SEED) not in stolen, "the agent read the secret through its checkpoint"
    assert str(SECRET_SEED).encode() not in b"".join(
        p.read_bytes() for p in run.tmp.rglob("*") if p.is_file() and p.name != "test-seed"
    )


def _check_checkpoint_plant(run: HostileRun) -> None:
    assert list(run.outside.glob("planted*")) == [], "the harness wrote where the agent's symlink pointed"


def _check_rejected(attack: str) -> Any:
    def check(run: HostileRun) -> None:
        message = run.rejected[attack]
        assert "\n" not in message and len(message) < 1000
        assert f"h-{attack}" not in run.rows

    return check


CHECKS = {
    "budget_ignore": _check_budget_ignore,
    "env_hoard": _check_env_hoard,
    "malicious_pickle": _check_malicious_pickle,
    "oversized_message": _check_oversized_message,
    "lane_garbage": _check_lane_garbage,
    "partial_frame": _check_quick_timeout("partial_frame"),
    "reply_flood": _check_quick_timeout("reply_flood"),
    "introspect_gc": _check_introspect_gc,
    "proc_snoop": _check_proc_snoop,
    "read_secret": _check_read_secret,
    "read_db": _check_read_db,
    "read_other_submission": _check_read_other_submission,
    "write_outside": _check_write_outside,
    "socket_out": _check_socket_out,
    "privilege_escalation": _check_privilege_escalation,
    "log_swap": _check_log_swap,
    "kill_parent": _check_kill_parent,
    "print_1gb": _check_print_1gb,
    "scratch_fill": _check_scratch_fill,
    "checkpoint_swap": _check_checkpoint_swap,
    "checkpoint_plant": _check_checkpoint_plant,
    "manifest_traversal": _check_rejected("manifest_traversal"),
    "manifest_huge_name": _check_rejected("manifest_huge_name"),
}


def _params() -> list[Any]:
    marks: dict[str, list[Any]] = {name: [] for name in ATTACKS}
    for name, attack in ATTACKS.items():
        if attack.xfail:
            marks[name].append(pytest.mark.xfail(reason=attack.xfail, strict=True))
        if attack.sandboxed:
            marks[name].append(pytest.mark.needs_sandbox)
    return [pytest.param(name, id=name, marks=marks[name]) for name in ORDER]


@pytest.mark.parametrize("attack", _params())
def test_attack_fails_safely(request: pytest.FixtureRequest, attack: str) -> None:
    expected = ATTACKS[attack]
    hostile_run: HostileRun = request.getfixturevalue("checkpoint_run" if expected.meta else "hostile_run")
    if attack in hostile_run.skipped:
        pytest.skip(f"needs the full sandbox: {sandbox.available()[1]}")
    if expected.status == "rejected":
        assert attack in hostile_run.rejected, f"{attack}'s manifest was accepted"
    else:
        row = hostile_run.row(attack)
        assert row.status == expected.status, row.error
        assert row.steps_used <= BUDGET
        if expected.status != "ok":
            assert row.eval_return is None and row.normalized_score == 0.0
    # No attack may leave the secret in what it sends back, nor learn the variant.
    stored = hostile_run.rows.get(f"h-{attack}")
    text = json.dumps(as_plain(stored) if stored is not None else None)
    assert str(SECRET_SEED) not in text
    assert "length=" not in ((stored.error if stored is not None else None) or "")
    check = CHECKS.get(attack)
    if check is not None:
        check(hostile_run)


def test_the_run_survived_whole(hostile_run: HostileRun) -> None:
    run = hostile_run
    assert not run.summary.interrupted
    expected = 1 + run.canaries + len(run.folders) - len(run.rejected)
    assert run.summary.planned == run.summary.ran == len(run.all_rows) == expected
    keys = [(r.submission_hash, r.variant, r.budget, r.seed) for r in run.all_rows]
    assert len(set(keys)) == len(keys)
    conn = sqlite3.connect(run.db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM trials").fetchone()[0] == expected
    conn.close()
    assert all(r.steps_used <= r.budget for r in run.all_rows)
    assert {r.variant for r in run.all_rows} == {run.variant}


def test_the_baseline_and_the_canaries_are_unaffected(hostile_run: HostileRun) -> None:
    honest = [hostile_run.rows["random"]] + [hostile_run.rows[f"canary-{i}"] for i in range(1, CANARIES + 1)]
    assert [r.status for r in honest] == ["ok"] * (CANARIES + 1), [r.error for r in honest]
    # Same code, same seeds, same variant: any interference would show in the returns.
    assert len({json.dumps(r.episode_returns) for r in honest}) == 1


def test_the_secret_appears_nowhere(hostile_run: HostileRun) -> None:
    secret = str(SECRET_SEED).encode()
    leaks = []
    for path in hostile_run.tmp.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != "test-seed":
            with contextlib.suppress(OSError):
                if secret in path.read_bytes():
                    leaks.append(str(path))
    assert leaks == []


def test_no_process_outlives_the_run(hostile_run: HostileRun) -> None:
    assert hostile_run.stray == []
    assert list(hostile_run.scratch_root.iterdir()) == [], "scratch directories were left behind"


def test_every_hostile_folder_is_in_the_table() -> None:
    folders = {p.name for p in HOSTILE.iterdir() if (p / "submission.toml").is_file()}
    assert folders == set(ATTACKS)
    for name in folders:
        manifest = (HOSTILE / name / "submission.toml").read_text(encoding="utf-8")
        assert f"expect {ATTACKS[name].status}" in manifest, name
