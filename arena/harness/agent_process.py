"""The harness's handle on one sandboxed agent process: start it, talk to it, kill it.

An :class:`AgentProcess` runs ``python -m arena.worker`` inside the sandbox
(:mod:`arena.boundary.sandbox`) with a shared-memory lane to it, and is what the trial
procedure (:mod:`arena.harness.trial`) drives through its ``AgentEndpoint`` methods. Everything
it receives is decoded as untrusted; every failure of the agent becomes an
:class:`~arena.harness.jobs.AgentFailure` with the status the job ends with.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arena.api import AgentSpec
from arena.boundary import lane as lanes
from arena.boundary import sandbox, wire
from arena.boundary.protocol import FAILURES, LLM_REQUESTS, Kind
from arena.harness import devices
from arena.harness.checkpoints import check_destination, copy_checkpoint, remove_entry
from arena.harness.envserver import EnvServer
from arena.harness.gateway import Gateway
from arena.harness.jobs import AgentFailure
from arena.harness.limits import Limits, portable_numerics_env
from arena.harness.memory import MemoryCap, cgroup_cap, warn_uncapped
from arena.harness.scratch import scratch_root
from arena.harness.trial import answer
from arena.records import Status
from arena.submission import Submission

LOG_TAIL = 1500
_FAILURE_STATUS = {Kind.FAILED: Status.ERROR, Kind.OUT_OF_MEMORY: Status.OOM}
_ACT, _ACTION, _DONE = Kind.ACT, Kind.ACTION, Kind.DONE


class AgentProcess:
    """One isolated process running one submission's code."""

    def __init__(self, submission: Submission, limits: Limits):
        self.submission = submission
        self.limits = limits
        self.scratch = Path(tempfile.mkdtemp(prefix=f"arena-{submission.name[:20]}-", dir=scratch_root()))
        sandbox.limit_scratch(self.scratch, limits.scratch_bytes)
        self.log_path = self.scratch / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.lane: lanes.Lane | None = None
        self.defines_meta_train = False
        self._deadline, self._limit = 0.0, 0.0  # the deadline being waited for, and how long it allowed
        self.gpu = submission.device == "auto" and devices.gpu_count() > 0
        self.cap = self._memory_cap()
        self.reported_device = ""  # where the agent says it computed, with its last report

    def _memory_cap(self) -> MemoryCap:
        """A cgroup for GPU agent processes (or every one, if asked), else RLIMIT_AS; a GPU process
        that no cgroup can hold runs uncapped rather than fail in CUDA, and says so."""
        wants_cgroup = self.limits.memory_cap == "cgroup" or (self.limits.memory_cap == "auto" and self.gpu)
        if wants_cgroup:
            cap = cgroup_cap(self.limits.memory_bytes)
            if cap is not None:
                return cap
            if self.gpu:
                warn_uncapped("this machine offers no cgroup memory controller the harness may use")
                return MemoryCap("none")
        return MemoryCap("rlimit")

    def start(self) -> None:
        parent, child = socket.socketpair()
        mem_fd, size = lanes.create()
        threads = str(self.limits.threads)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.scratch),
            "TMPDIR": str(self.scratch),
            "LANG": "C.UTF-8",
            "ARENA_SCRATCH": str(self.scratch),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "ARENA_LANE_SPIN": str(self.limits.spin_seconds),
            "PYTHONPATH": sandbox.worker_pythonpath(),  # the code the submission's hash was taken of
        }
        readable = [self.submission.path]
        if self.submission.environment is not None:  # its own requirements, read-only, after the project's packages
            readable.append(self.submission.environment)
            env["PYTHONPATH"] += os.pathsep + str(self.submission.environment)
        if self.limits.portable_numerics:
            env.update(portable_numerics_env())
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine quirks numpy needs kept
            if key in os.environ:
                env[key] = os.environ[key]
        command = self.cap.join(
            sandbox.wrap(
                [
                    sys.executable, "-m", "arena.worker", str(child.fileno()), str(mem_fd), str(size),
                    json.dumps(self.limits.kernel_limits(rlimit_memory=self.cap.kind == "rlimit")),
                ],
                scratch=self.scratch,
                readable=readable,
            )
        )  # fmt: skip
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    command,
                    pass_fds=(child.fileno(), mem_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.scratch,
                    env=env,
                    start_new_session=True,  # its own process group: killed whole, spared the user's Ctrl-C
                )
            self.lane = lanes.Lane(mem_fd, size, parent, "harness", spin=self.limits.spin_seconds)
        finally:
            child.close()
            os.close(mem_fd)
        self.send(Kind.LOAD, str(self.submission.path), self.submission.entry)
        message = self.recv(time.monotonic() + self.limits.load_seconds, phase="import")
        if message[0] != Kind.LOADED:
            raise AgentFailure(Status.ERROR, f"agent process answered {message[0]!r} to load")
        self.defines_meta_train = bool(message[1].get("meta_train"))

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- messages ------------------------------------------------------------------------------

    def send(self, *message: Any) -> None:
        """To the agent process. It reads promptly unless hung, so a send that waits long is a timeout."""
        assert self.lane is not None
        try:
            self.lane.send(wire.encode(message), timeout=self.limits.setup_seconds)
        except TimeoutError:
            raise AgentFailure(Status.TIMEOUT, "the agent stopped reading its messages") from None
        except lanes.LaneClosed:
            raise self._death() from None

    def recv(self, deadline: float, phase: str) -> tuple[Any, ...]:
        """The agent process's next message; agent failures raise AgentFailure with their status."""
        assert self.lane is not None
        if deadline != self._deadline:  # a new phase's deadline: remember the time it allows, to name it
            self._deadline, self._limit = deadline, deadline - time.monotonic()
        try:
            message = wire.decode_untrusted(self.lane.recv(deadline))
        except TimeoutError:
            raise AgentFailure(Status.TIMEOUT, self._timeout_text(phase)) from None
        except lanes.LaneClosed:
            raise self._death() from None
        except (lanes.LaneError, wire.ProtocolError) as exc:
            raise AgentFailure(Status.ERROR, str(exc)) from None
        if message[0] in FAILURES:
            text = str(message[2]) if len(message) > 2 else ""
            raise AgentFailure(_FAILURE_STATUS[message[0]], f"{message[1]}: {text}".strip())
        return message

    def _timeout_text(self, phase: str) -> str:
        """Which limit passed, and how long it was: a phase's own seconds (the suite's adaptation
        or evaluation seconds) plus the start-up grace of ``Limits.setup_seconds``."""
        grace = {"import": "Limits.load_seconds", "evaluation": "the suite's eval_seconds"}.get(
            phase, f"the budget's seconds, plus {self.limits.setup_seconds:g} s and a tenth for start-up"
        )
        return f"no answer from the agent within the {phase} time limit of {self._limit:.0f} s ({grace})"

    # -- the trial procedure's AgentEndpoint ------------------------------------------------------

    def begin_trial(self, spec: AgentSpec, checkpoint: str | None) -> None:
        self.send(Kind.TRIAL, dataclasses.replace(spec, scratch=self.scratch), self.stage_checkpoint(checkpoint))

    def begin_meta_train(self, spec: AgentSpec) -> None:
        self.send(Kind.META_TRAIN, dataclasses.replace(spec, scratch=self.scratch), str(self.checkpoint_out()))

    def serve(self, server: EnvServer, until: Kind, deadline: float, phase: str) -> float:
        """Answer the agent's env requests until it reports ``until``, by ``deadline``.

        Returns when (monotonic) the agent's first message arrived.
        """
        first: float | None = None
        while True:
            message = self.recv(deadline, phase=phase)
            if first is None:
                first = time.monotonic()
            if message[0] == until:
                report = message[1] if len(message) > 1 and isinstance(message[1], dict) else {}
                self.reported_device = str(report.get("device", ""))[:32]  # untrusted: kept short
                return first
            self.send(*answer(server, message))

    def act(
        self,
        new_episode: bool,
        observation: Any,
        info: dict[str, Any],
        reward: float,
        deadline: float,
        gateway: Gateway | None = None,
    ) -> Any:
        """The agent's (unchecked) action for one evaluation step, answering the model calls it
        makes meanwhile (text suites) from ``gateway``."""
        self.send(_ACT, new_episode, observation, info, reward)
        message = self.recv(deadline, phase="evaluation")
        while message[0] in LLM_REQUESTS:
            if gateway is None:
                self.send(Kind.REFUSED, "this trial has no language model (only text suites have one)")
            else:
                self.send(*gateway.handle(message))
            message = self.recv(deadline, phase="evaluation")
        if message[0] != _ACTION or len(message) != 2:
            raise AgentFailure(Status.ERROR, f"expected an action, got message {message[0]!r}")
        return message[1]

    def end_trial(self) -> None:
        self.send(_DONE)

    def finish_meta_train(self, destination: Path) -> None:
        self.collect_checkpoint(destination)

    # -- diagnostics ---------------------------------------------------------------------------

    def _death(self) -> AgentFailure:
        """The failure an agent process's death ends the job with: ``oom`` where its cgroup says
        the kernel killed it for memory (RLIMIT_AS shows as a MemoryError the worker reports)."""
        text = self._death_text()
        if self.cap.oom_killed():
            limit = f"{self.limits.memory_bytes / 1024**3:.3g} GiB"
            return AgentFailure(Status.OOM, f"over its memory limit of {limit} (cgroup); {text}")
        return AgentFailure(Status.ERROR, text)

    def _death_text(self) -> str:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if code is not None and code > 128 and code - 128 in signal.valid_signals():
            code = -(code - 128)  # a wrapper (bwrap) reports its child's signal death as 128 + N
        if code is not None and code < 0:
            how = f"killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        return f"agent process {how}; output tail:\n{self.log_tail()}"

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_TAIL))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- checkpoints (see arena.harness.checkpoints) ---------------------------------------------

    def checkpoint_out(self) -> Path:
        path = self.scratch / "checkpoint-out"
        remove_entry(self.scratch, "checkpoint-out")
        path.mkdir()
        sandbox.give(path)  # the agent's user may write here, and only here besides its scratch root
        return path

    def collect_checkpoint(self, destination: Path) -> None:
        """Copy what the agent saved into the store's checkpoint folder, replacing it whole."""
        check_destination(destination)
        building = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
        try:
            remove_entry(destination.parent, building.name)
            building.mkdir(parents=True)
            copy_checkpoint(self.scratch, "checkpoint-out", building)
            remove_entry(destination.parent, destination.name)
            building.rename(destination)  # readers never see a half-copied checkpoint
        except OSError as exc:
            raise AgentFailure(Status.ERROR, f"cannot store the checkpoint: {exc}") from None
        finally:
            shutil.rmtree(building, ignore_errors=True)
            remove_entry(self.scratch, "checkpoint-out")

    def stage_checkpoint(self, source: str | None) -> str | None:
        """A fresh copy of the checkpoint in scratch, so a trial cannot alter it for the next."""
        if source is None:
            return None
        try:
            remove_entry(self.scratch, "checkpoint")
            (self.scratch / "checkpoint").mkdir()
            copy_checkpoint(Path(source).parent, Path(source).name, self.scratch / "checkpoint")
        except OSError as exc:
            raise AgentFailure(Status.ERROR, f"cannot stage the checkpoint: {exc}") from None
        return str(self.scratch / "checkpoint")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.lane is not None:
            self.lane.close()
        self.proc, self.lane = None, None
        self.cap.remove()
        sandbox.release_scratch(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)
