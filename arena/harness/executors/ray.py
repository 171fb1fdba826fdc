"""The Ray executor: the same jobs as the local executor, as Ray actors on a cluster.

Each actor is a trusted harness :class:`~arena.harness.runner.Runner` (real envs, budgets,
isolated agent processes on its node); the driver keeps one job in flight per actor and writes every result
to SQLite itself, exactly as with the local executor. Submissions must be readable at the same
path on every node (a shared filesystem), as the checkpoints are. docs/cluster.md says how to
set a cluster up.

An actor that dies (its node lost, its process killed) costs its job one retry on another actor,
as a dead runner process does in the local executor; a job whose actor dies twice is recorded as
an error. The dead actor's slot gets a new actor, which Ray places wherever a CPU is free (or
later, when a node joins); until then the run goes on with the actors it has.

Needs the optional extra: ``pip install meta-arena[ray]``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from arena.boundary import sandbox
from arena.errors import ArenaError
from arena.harness.executors.dispatch import Job, JobFeed, WarmFirst, as_feed, oversubscribed, run_job
from arena.harness.jobs import Outcome
from arena.harness.limits import Limits
from arena.harness.runner import Runner
from arena.records import Status

CONNECT_SECONDS = 5.0  # for the head's port to accept a connection
GCS_SECONDS = 10.0  # for the GCS behind it to answer, Ray's import included: "not let in" takes at most this
PLACEMENT_SECONDS = 300.0  # with jobs left and no actor placed, how long to wait for a free CPU
STARTS_PER_SLOT = 3  # an actor that keeps dying before it answers is a node's setup, not bad luck
DOCS = "docs/cluster.md"


@dataclass(frozen=True)
class NodeInfo:
    """What an actor reports once it is up: where it runs, and how its agents are fenced there."""

    node_id: str
    sandboxed: bool
    sandbox_detail: str


class _RunnerActor:
    def __init__(self, limits: Limits):
        import ray

        self.runner = Runner(limits)
        self.node_id: str = ray.get_runtime_context().get_node_id()

    def info(self) -> NodeInfo:
        sandboxed, detail = sandbox.available()
        return NodeInfo(node_id=self.node_id, sandboxed=sandboxed, sandbox_detail=detail)

    def run(self, job: Job) -> Outcome:
        try:
            outcome = run_job(self.runner, job)
        except Exception as exc:  # a harness bug on this node: record it on the trial
            outcome = Outcome(status=Status.ERROR, error=f"harness: {type(exc).__name__}: {exc}")
        outcome.node = self.node_id  # the host name says little where nodes share a machine or a pod name
        return outcome

    def close(self) -> None:
        self.runner.close()


@dataclass
class _Slot:
    """One runner's place: its current actor, and what it is doing."""

    actor: Any
    ready: Any  # the ref of the actor's info() until it answers (at its start, or when asked again), then None
    starts: int = 1  # actors started in this slot that died before they answered
    node: NodeInfo | None = None
    job: int | None = None  # the index of the job in flight
    call: Any = None  # the ref of its outcome
    dropped: bool = False  # given up on: gets no more jobs

    @property
    def idle(self) -> bool:
        return self.node is not None and self.ready is None and self.job is None and not self.dropped


class RayExecutor:
    """``workers`` Ray actors, each a runner; ``require_sandbox`` (the test split) refuses nodes
    without the full agent sandbox."""

    def __init__(
        self,
        workers: int = 1,
        limits: Limits | None = None,
        address: str | None = None,
        *,
        require_sandbox: bool = False,
    ):
        try:
            import ray
        except ImportError:
            raise ArenaError(
                "the ray executor needs Ray, which is not installed here: pip install 'meta-arena[ray]' "
                "(the same Ray version as the cluster's)"
            ) from None
        self.ray = ray
        self.workers = max(1, workers)
        self.limits = limits or Limits()
        self.address = address
        self.require_sandbox = require_sandbox
        if address is None and oversubscribed(self.workers):
            # Shared cores, and Ray places the actors, so pairs cannot be pinned as LocalExecutor pins
            # them: the waiting side sleeps at once rather than spin on a core its peer needs.
            self.limits = replace(self.limits, spin_seconds=0.0)
        self._slots: list[_Slot] = []
        self._dispatch = WarmFirst(self.workers)
        self._warned: set[tuple[str, str]] = set()
        self._lost = ""  # which actor died last, and how
        self._last_start_error = ""  # why the last actor that died before answering died
        self.requeued = 0  # jobs run again because their actor died
        self._started_ray = False
        self._connect()  # now, so that a cluster that is not there ends the run before it starts

    # -- connecting ----------------------------------------------------------------------------

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:
            # "local" starts a Ray of our own. Without it, ray.init attaches to whatever cluster Ray
            # last recorded under its temp folder, stale or not.
            # Its note that a new cluster has token authentication is not the user's business here.
            logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
            ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **quiet)
        else:
            check_cluster(self.address)
            try:
                ray.init(address=self.address, **quiet)
            except Exception as exc:  # version mismatch and the like: Ray says what
                raise ArenaError(f"cannot join the Ray cluster at {self.address}: {_one_line(exc)}") from None
        self._started_ray = True

    # -- actors --------------------------------------------------------------------------------

    def _new_actor(self) -> tuple[Any, Any]:
        actor: Any = self.ray.remote(num_cpus=1, max_restarts=0)(_RunnerActor).remote(self.limits)
        return actor, actor.info.remote()

    def _start(self) -> None:
        self._connect()  # again, after a shutdown(): a bare ray.remote would join any cluster it finds
        self._slots = [_Slot(*self._new_actor()) for _ in range(self.workers)]
        self._dispatch = WarmFirst(self.workers)

    def _replace(self, index: int, died_ready: bool) -> None:
        """A new actor in the slot whose actor died; the slot is dropped once too many of its
        actors died before they answered."""
        slot = self._slots[index]
        with contextlib.suppress(Exception):
            self.ray.kill(slot.actor)  # unavailable is not yet dead: make sure it runs nothing more
        starts = 1 if died_ready else slot.starts + 1
        self._dispatch.forget(index)
        if starts > STARTS_PER_SLOT:
            slot.dropped, slot.job = True, None
            return
        self._slots[index] = _Slot(*self._new_actor(), starts=starts)

    def _on_ready(self, index: int, info: NodeInfo) -> None:
        slot = self._slots[index]
        slot.ready, slot.node = None, info
        if info.sandboxed:
            return
        if self.require_sandbox:
            slot.dropped = True
            self.ray.kill(slot.actor)
            self._warn(info.node_id, "refusing to run the test split on it without the full agent sandbox")
            return
        self._warn(info.node_id, f"agent workers are NOT fully sandboxed: {info.sandbox_detail}")

    def _warn(self, node_id: str, message: str) -> None:
        if (node_id, message) in self._warned:
            return
        self._warned.add((node_id, message))
        warnings.warn(f"Ray node {node_id[:12]}: {message}", RuntimeWarning, stacklevel=3)

    # -- running -------------------------------------------------------------------------------

    def run(self, jobs: Sequence[Job] | JobFeed) -> Iterator[tuple[int, Outcome]]:
        feed = as_feed(jobs)
        if feed.done(0):
            return
        if not self._slots:
            self._start()
        self._dispatch.plan(())
        retried: set[int] = set()
        received = 0
        unplaced_since: float | None = None
        while not feed.done(received):
            # One job in flight per actor, chosen for the agent processes it already has warm.
            self._dispatch.extend(feed.take_new())
            if not any(s.job is not None for s in self._slots) and not self._dispatch.has_pending():
                raise feed.stalled()
            for index, job_index, job in self._dispatch.assign([i for i, s in enumerate(self._slots) if s.idle]):
                slot = self._slots[index]
                slot.job, slot.call = job_index, slot.actor.run.remote(job)
            running = {s.call: i for i, s in enumerate(self._slots) if s.job is not None}
            starting = {s.ready: i for i, s in enumerate(self._slots) if s.ready is not None and not s.dropped}
            unplaced_since = None if running else self._check_placement(unplaced_since, starting)
            if not running and not starting:
                raise feed.stalled()
            done, _ = self.ray.wait([*running, *starting], num_returns=1, timeout=2.0)
            for ref in done:
                if ref in starting:
                    self._answered(starting[ref], ref)
                    continue
                job_index, outcome = self._finished(running[ref], ref, retried, feed)
                if outcome is not None:
                    received += 1
                    yield job_index, outcome

    def _finished(self, index: int, ref: Any, retried: set[int], feed: JobFeed) -> tuple[int, Outcome | None]:
        """The job slot ``index`` ran and its outcome; None where it goes to another actor."""
        job_index = self._slots[index].job
        assert job_index is not None
        outcome = self._outcome(index, ref)
        if outcome is not None:
            return job_index, outcome
        if job_index in retried:  # it died twice: blame the job, not the cluster
            sys.stderr.write(f"{self._lost}, the second time on this job: recorded as an error\n")
            return job_index, Outcome(status=Status.ERROR, error="harness: the Ray actor died twice on this job")
        sys.stderr.write(f"{self._lost}: its job goes to another actor\n")
        retried.add(job_index)
        self.requeued += 1
        self._dispatch.retry(job_index, feed.jobs[job_index])
        return job_index, None

    def _outcome(self, index: int, ref: Any) -> Outcome | None:
        """The job's outcome, or None where its actor died (the slot then has a new one)."""
        ray = self.ray
        slot = self._slots[index]
        try:
            outcome: Outcome = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            node = slot.node.node_id[:12] if slot.node else "?"
            self._lost = f"Ray node {node}: a runner actor died ({type(exc).__name__})"
            self._replace(index, died_ready=True)
            self._ask_idle()
            return None
        except ray.exceptions.RayError as exc:  # the job or its outcome did not survive the trip
            outcome = Outcome(status=Status.ERROR, error=f"harness: Ray: {type(exc).__name__}: {_one_line(exc)}")
        slot.job = None
        return outcome

    def _ask_idle(self) -> None:
        """After a death (a node lost, say), the idle actors answer once more before they get a
        job: one that died with the node costs no job its retry."""
        for slot in self._slots:
            if slot.idle:
                slot.ready = slot.actor.info.remote()

    def _answered(self, index: int, ref: Any) -> None:
        ray = self.ray
        slot = self._slots[index]
        try:
            info: NodeInfo = ray.get(ref)
        except ray.exceptions.RayError as exc:
            if slot.node is None:
                self._last_start_error = _one_line(exc)
            self._replace(index, died_ready=slot.node is not None)
            return
        self._on_ready(index, info)

    def _check_placement(self, since: float | None, starting: dict[Any, int]) -> float | None:
        """With nothing running, fail rather than wait forever for actors that cannot start."""
        if any(s.node is not None and not s.dropped for s in self._slots):
            return None
        if not starting:
            why = self._last_start_error or "every node was refused"
            raise ArenaError(f"no Ray actor could start on the cluster ({why}); each node needs what {DOCS} lists")
        now = time.monotonic()
        if since is None:
            return now
        if now - since > PLACEMENT_SECONDS:
            raise ArenaError(
                f"no Ray actor was placed in {PLACEMENT_SECONDS:.0f} s: the cluster has no free CPU for a runner "
                "(each takes one); free some, add a node, or lower --workers"
            )
        return since

    def shutdown(self) -> None:
        ray = self.ray
        up = [s.actor for s in self._slots if s.node is not None and not s.dropped]
        closing = [actor.close.remote() for actor in up]
        if closing:
            ray.wait(closing, num_returns=len(closing), timeout=30)
        for slot in self._slots:
            with contextlib.suppress(Exception):  # an actor that died already has nothing to kill
                ray.kill(slot.actor)
        self._slots = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


# -- the cluster is there, and lets us in --------------------------------------------------------


def check_cluster(address: str) -> None:
    """Fail within seconds, in one line, where ``ray.init`` would hang or print a traceback: a
    cluster that does not answer, or one that refuses this driver's token."""
    if "://" in address or address == "auto":
        return  # Ray Client and "the cluster on this machine": Ray's own errors
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ArenaError(f"--address {address!r} is not HOST:PORT (the head node's GCS port, 6379 by default)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise ArenaError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}): start one with "
            f"`ray start --head --port={port}` there, or fix --address"
        ) from None
    _check_token(address)


# Asks the GCS for the cluster's id, as every client does first, and says how that went. In a
# process of its own: Ray's C++ client logs every failed attempt to stderr, and its timeout is
# not the whole story (a port that is not a GCS keeps it ~10 s longer), so it is killed at
# GCS_SECONDS.
_PROBE = """
import sys
try:
    from ray._raylet import InnerGcsClient
    from ray.exceptions import AuthenticationError
except ImportError:
    print("unknown")
    sys.exit()
try:
    InnerGcsClient.standalone(sys.argv[1], None, int(sys.argv[2]))
    print("ok")
except AuthenticationError:
    print("auth")
except Exception as exc:
    print("error", (str(exc).strip().splitlines() or [type(exc).__name__])[0])
"""


def _check_token(address: str) -> None:
    try:
        answer = subprocess.run(
            [sys.executable, "-c", _PROBE, address, str(int(CONNECT_SECONDS * 1000))],
            capture_output=True,
            text=True,
            timeout=GCS_SECONDS,
        ).stdout.strip()
    except subprocess.TimeoutExpired:
        raise ArenaError(f"{address} does not answer as a Ray cluster's GCS; fix --address") from None
    if answer == "auth":
        sent = "no token" if os.environ.get("RAY_AUTH_MODE", "").lower() != "token" else "a token it does not accept"
        raise ArenaError(
            f"the Ray cluster at {address} uses token authentication and this driver sends {sent}: "
            "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to a file holding the cluster's token "
            f"(or RAY_AUTH_TOKEN), as on its nodes ({DOCS})"
        )
    if answer.startswith("error"):
        raise ArenaError(f"{address} does not answer as a Ray cluster's GCS: {answer[6:]}")
    # "ok", or "unknown" (a Ray without this client call): ray.init goes on and has the last word


def _one_line(exc: BaseException) -> str:
    """The error on one line: Ray's messages run over several (a version mismatch puts the
    versions on the lines after the first)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    return (text[:400] + "…" if len(text) > 400 else text) or type(exc).__name__
