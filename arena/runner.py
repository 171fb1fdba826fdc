"""Harness side of a trial: start an isolated agent worker, serve its envs, drive evaluation.

A :class:`Runner` keeps one worker per submission alive across trials (importing torch once,
not per trial) and replaces it after any trial that did not end ``ok``. Every failure of the
agent becomes a status on the trial's result; nothing the agent does raises out of here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import games
from arena import lane as lanes
from arena import sandbox, wire
from arena.envserver import Budget, EnvServer, InvalidAction, check_action, fixed
from arena.seeding import derive_seed
from arena.submission import Submission
from arena.suites import Suite

LOG_TAIL = 1500


@dataclass(frozen=True)
class Limits:
    """Kernel-enforced limits of each agent worker."""

    memory_bytes: int = 8 * 1024**3
    open_files: int = 1024
    file_bytes: int = 1024**3
    processes: int = 256  # binds only unprivileged users; the sandbox adds the rest
    threads: int = 1  # OMP/MKL threads for the agent's numerical libraries
    load_seconds: float = 120.0  # importing a submission (torch, models) may take a while on a cold disk
    setup_seconds: float = 30.0  # grace beyond a phase's own clock: building the agent, loading a checkpoint
    scratch_bytes: int = 2 * 1024**3  # disk quota of each worker's scratch dir (a tmpfs, where mountable)
    spin_seconds: float = lanes.SPIN_SECONDS  # lane busy-wait before sleeping (0 when cores are oversubscribed)
    portable_numerics: bool = True  # the agent's math libraries take their AVX2 kernels on any x86 CPU with AVX2


def portable_numerics_env() -> dict[str, str]:
    """Environment that makes MKL and PyTorch's own CPU kernels compute alike on every x86-64 CPU
    with AVX2, whatever wider instructions it also has.

    Long meta-training is chaotic: the same seeds on the same machine gave RL^2 a bandit score of
    0.78 with the AVX-512 kernels and 0.48 with the AVX2 ones (0.56 with only MKL's changed). So
    recorded results reproduce elsewhere only if every machine runs the same kernels. MKL's
    conditional numerical reproducibility (``MKL_CBWR``) and ``ATEN_CPU_CAPABILITY`` pin them; with
    both set the two ways of asking for AVX2 gave bit-identical results. Elsewhere (no AVX2, not
    x86) nothing is set.
    """
    if platform.machine().lower() not in ("x86_64", "amd64") or "avx2" not in (cpuinfo("flags") or "").split():
        return {}
    return {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


@functools.cache
def cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (None where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == field:
                return value.strip()
    return None


@dataclass(frozen=True)
class TrialJob:
    """One (submission, suite, split, variant, budget, seed): the unit of work and of storage."""

    submission: Submission
    suite: Suite
    split: str
    variant: str
    group: str
    budget: int
    adapt_seconds: float
    seed: int
    secret: int  # the split's seed: public for dev, secret for test
    checkpoint: str | None = None
    device: str = "cpu"

    @property
    def family(self) -> str:
        return self.variant.split("(")[0]

    @property
    def key(self) -> tuple[str, str, int, str, str, int, int]:
        return (
            self.submission.hash,
            self.suite.name,
            self.suite.version,
            self.split,
            self.variant,
            self.budget,
            self.seed,
        )


@dataclass(frozen=True)
class MetaTrainJob:
    submission: Submission
    suite: Suite
    family: str
    checkpoint: str
    device: str = "cpu"


@dataclass
class Outcome:
    status: str
    error: str | None = None
    eval_return: float | None = None
    episode_returns: list[float] = field(default_factory=list)
    steps_used: int = 0
    wall_seconds: float = 0.0
    adapt_seconds: float = 0.0
    startup_seconds: float = 0.0  # from the trial's start to the agent's first message
    worker_pid: int = 0  # the agent worker that ran it: a new one means a cold start

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class WorkerFailure(Exception):
    def __init__(self, status: str, text: str):
        super().__init__(text)
        self.status = status
        self.text = text


class AgentWorker:
    """One isolated process running one submission's code."""

    def __init__(self, submission: Submission, limits: Limits):
        self.submission = submission
        self.limits = limits
        self.scratch = Path(tempfile.mkdtemp(prefix=f"arena-{submission.name[:20]}-", dir=_scratch_root()))
        sandbox.limit_scratch(self.scratch, limits.scratch_bytes)
        self.log_path = self.scratch / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.lane: lanes.Lane | None = None
        self.defines_meta_train = False

    def start(self) -> None:
        parent, child = socket.socketpair()
        mem_fd, size = lanes.create()
        limits = {
            "memory_bytes": self.limits.memory_bytes,
            "open_files": self.limits.open_files,
            "file_bytes": self.limits.file_bytes,
            "processes": self.limits.processes,
        }
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
        if self.limits.portable_numerics:
            env.update(portable_numerics_env())
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine quirks numpy needs kept
            if key in os.environ:
                env[key] = os.environ[key]
        command = sandbox.wrap(
            [sys.executable, "-m", "arena.worker", str(child.fileno()), str(mem_fd), str(size), json.dumps(limits)],
            scratch=self.scratch,
            readable=[self.submission.path],
        )
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
        self.send("load", str(self.submission.path), self.submission.entry)
        message = self.recv(time.monotonic() + self.limits.load_seconds, phase="import")
        if message[0] != "loaded":
            raise WorkerFailure("error", f"worker answered {message[0]!r} to load")
        self.defines_meta_train = bool(message[1].get("meta_train"))

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, *message: Any) -> None:
        """To the worker. It reads promptly unless hung, so a send that waits long is a timeout."""
        assert self.lane is not None
        try:
            self.lane.send(wire.encode(message), timeout=self.limits.setup_seconds)
        except TimeoutError:
            raise WorkerFailure("timeout", "the agent stopped reading its messages") from None
        except lanes.LaneClosed:
            raise WorkerFailure("error", self._death_text()) from None

    def recv(self, deadline: float, phase: str) -> tuple[Any, ...]:
        """The worker's next message; agent failures raise WorkerFailure with their status."""
        assert self.lane is not None
        try:
            message = wire.decode_untrusted(self.lane.recv(deadline))
        except TimeoutError:
            raise WorkerFailure("timeout", f"no answer from the agent within the time limit ({phase})") from None
        except lanes.LaneClosed:
            raise WorkerFailure("error", self._death_text()) from None
        except (lanes.LaneError, wire.ProtocolError) as exc:
            raise WorkerFailure("error", str(exc)) from None
        if message[0] in ("error", "oom"):
            text = str(message[2]) if len(message) > 2 else ""
            raise WorkerFailure(message[0], f"{message[1]}: {text}".strip())
        return message

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
        return f"agent worker {how}; output tail:\n{self.log_tail()}"

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_TAIL))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # The agent writes only inside its scratch directory: checkpoints are copied in and out by
    # the harness, so a trial can neither corrupt the stored checkpoint nor see another's.
    def checkpoint_out(self) -> Path:
        path = self.scratch / "checkpoint-out"
        _remove_entry(self.scratch, "checkpoint-out")
        path.mkdir()
        sandbox.give(path)  # the worker's user may write here, and only here besides its scratch root
        return path

    def collect_checkpoint(self, destination: Path) -> None:
        """Copy what the agent saved into the store's checkpoint folder, replacing it whole."""
        building = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
        try:
            _remove_entry(destination.parent, building.name)
            building.mkdir(parents=True)
            _copy_checkpoint(self.scratch, "checkpoint-out", building)
            _remove_entry(destination.parent, destination.name)
            building.rename(destination)  # readers never see a half-copied checkpoint
        except OSError as exc:
            raise WorkerFailure("error", f"cannot store the checkpoint: {exc}") from None
        finally:
            shutil.rmtree(building, ignore_errors=True)
            _remove_entry(self.scratch, "checkpoint-out")

    def stage_checkpoint(self, source: str | None) -> str | None:
        """A fresh copy of the checkpoint in scratch, so a trial cannot alter it for the next."""
        if source is None:
            return None
        try:
            _remove_entry(self.scratch, "checkpoint")
            (self.scratch / "checkpoint").mkdir()
            _copy_checkpoint(Path(source).parent, Path(source).name, self.scratch / "checkpoint")
        except OSError as exc:
            raise WorkerFailure("error", f"cannot stage the checkpoint: {exc}") from None
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
        sandbox.release_scratch(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)


MAX_CHECKPOINT_BYTES = 4 * 1024**3
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _remove_entry(parent: Path, name: str) -> None:
    """Remove ``parent/name`` (file, symlink or folder) without following a symlink in it."""
    parent_fd = os.open(parent, _DIRECTORY)
    try:
        try:
            mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            shutil.rmtree(name, dir_fd=parent_fd)  # fd-based: safe against swapped symlinks
        else:
            os.unlink(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def _copy_checkpoint(source_parent: Path, name: str, destination: Path) -> None:
    """Copy folder ``source_parent/name`` into the empty folder ``destination``.

    The source may be written by the agent (its scratch), and the harness may run as root, so
    every path is opened relative to an open folder with O_NOFOLLOW, new files with O_EXCL, and
    only regular files and folders are copied: a symlink, FIFO or device, or one swapped in
    mid-copy, is skipped or fails the copy, and never makes the harness read or write elsewhere.
    """
    parent_fd = os.open(source_parent, _DIRECTORY)
    try:
        source_fd = os.open(name, _DIRECTORY, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)
    destination_fd = os.open(destination, _DIRECTORY)
    try:
        _copy_tree(source_fd, destination_fd, [MAX_CHECKPOINT_BYTES])
    finally:
        os.close(source_fd)
        os.close(destination_fd)


def _copy_tree(source_fd: int, destination_fd: int, allowance: list[int]) -> None:
    for entry in os.scandir(source_fd):
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(entry.name, 0o755, dir_fd=destination_fd)
            inner_source = os.open(entry.name, _DIRECTORY, dir_fd=source_fd)
            try:
                inner_destination = os.open(entry.name, _DIRECTORY, dir_fd=destination_fd)
                try:
                    _copy_tree(inner_source, inner_destination, allowance)
                finally:
                    os.close(inner_destination)
            finally:
                os.close(inner_source)
        elif entry.is_file(follow_symlinks=False):
            reader = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=source_fd)
            try:
                if not stat.S_ISREG(os.fstat(reader).st_mode):
                    continue  # swapped for a FIFO or device since the listing
                writer = os.open(
                    entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=destination_fd
                )
                try:
                    while chunk := os.read(reader, 1 << 20):
                        allowance[0] -= len(chunk)
                        if allowance[0] < 0:
                            raise OSError(f"checkpoint larger than {MAX_CHECKPOINT_BYTES} bytes")
                        os.write(writer, chunk)
                finally:
                    os.close(writer)
            finally:
                os.close(reader)


_SCRATCH_PREFIX = "arena-scratch-"


def _scratch_root() -> Path:
    """This process's folder of worker scratch dirs, named by its pid so a later run can tell
    whether the harness that made it is gone (killed by SIGKILL, it cleaned up nothing)."""
    root = Path(tempfile.gettempdir()) / f"{_SCRATCH_PREFIX}{os.getpid()}"
    root.mkdir(mode=0o711, exist_ok=True)
    return root


def _alive(pid: int) -> bool:
    """Whether a process runs; a zombie (dead, not yet reaped by an absent parent) does not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:
        return True  # exists, but not ours to inspect


def sweep_stale_scratch() -> None:
    """Remove scratch folders left by harness processes that no longer exist."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*"):
        pid = folder.name.removeprefix(_SCRATCH_PREFIX)
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        if not _alive(int(pid)):
            for scratch in folder.iterdir():
                sandbox.release_scratch(scratch)
            shutil.rmtree(folder, ignore_errors=True)


def trial_config(job: TrialJob, worker: AgentWorker, env: Any) -> dict[str, Any]:
    """What the worker needs to build the agent of a trial (see worker._spec): never the variant."""
    return {
        "observation_space": env.observation_space,
        "action_space": env.action_space,
        "family": job.family,
        "seed": derive_seed("agent", job.seed) % 2**31,
        "device": job.device,
        "budget_steps": job.budget,
        "budget_seconds": job.adapt_seconds,
        "adapt_budgets": job.suite.budgets,
        "scratch": str(worker.scratch),
        "checkpoint": worker.stage_checkpoint(job.checkpoint),
    }


class Runner:
    """Runs trials and meta-training jobs, reusing one worker per submission."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.workers: dict[str, AgentWorker] = {}
        sweep_stale_scratch()

    def worker(self, submission: Submission) -> AgentWorker:
        worker = self.workers.get(submission.hash)
        if worker is not None and worker.alive:
            return worker
        if worker is not None:
            worker.kill()
        worker = AgentWorker(submission, self.limits)
        self.workers[submission.hash] = worker
        worker.start()
        return worker

    def _discard(self, submission: Submission) -> None:
        worker = self.workers.pop(submission.hash, None)
        if worker is not None:
            worker.kill()

    def close(self) -> None:
        for worker in self.workers.values():
            worker.kill()
        self.workers.clear()
        with contextlib.suppress(OSError):
            _scratch_root().rmdir()  # empty unless another Runner in this process is still working

    def defines_meta_train(self, submission: Submission) -> bool:
        return self.worker(submission).defines_meta_train

    # -- trials --------------------------------------------------------------------------------

    def run_trial(self, job: TrialJob) -> Outcome:
        started = time.monotonic()
        outcome = Outcome(status="ok")
        try:
            self._trial(job, outcome, started)
        except WorkerFailure as failure:
            outcome.status, outcome.error = failure.status, failure.text
            outcome.eval_return, outcome.episode_returns = None, []
            self._discard(job.submission)
        outcome.wall_seconds = round(time.monotonic() - started, 4)
        return outcome

    def _trial(self, job: TrialJob, outcome: Outcome, started: float) -> None:
        worker = self.worker(job.submission)
        outcome.worker_pid = worker.pid
        variant = games.parse_variant(job.variant)
        eval_env = games.make(variant)
        secret = derive_seed(job.secret, job.variant, job.seed)
        worker.send("trial", trial_config(job, worker, eval_env))
        server = EnvServer(
            Budget(job.budget, job.adapt_seconds), fixed(variant), derive_seed(secret, job.budget, "adapt")
        )
        try:
            first_message = self._serve(
                worker,
                server,
                grace=self.limits.setup_seconds + 0.1 * job.adapt_seconds,
                done="adapted",
                phase="adaptation",
            )
            outcome.startup_seconds = round(first_message - started, 4)
            outcome.adapt_seconds = round(time.monotonic() - first_message, 4)
        finally:
            outcome.steps_used = server.steps_used
            server.close()
        outcome.episode_returns = self._evaluate(worker, job, eval_env, secret)
        outcome.eval_return = float(sum(outcome.episode_returns) / len(outcome.episode_returns))
        worker.send("done")

    def _serve(self, worker: AgentWorker, server: EnvServer, grace: float, done: str, phase: str) -> float:
        """Answer the agent's env requests until it reports ``done``, within budget + grace.

        Returns when (monotonic) the agent's first message arrived.
        """
        deadline = server.budget.deadline + grace
        first: float | None = None
        while True:
            message = worker.recv(deadline, phase=phase)
            if first is None:
                first = time.monotonic()
            if message[0] == done:
                return first
            try:
                reply = server.handle(message)
            except InvalidAction as exc:
                raise WorkerFailure("invalid_action", str(exc)) from None
            except Exception as exc:  # a family bug must not crash the run; record it
                raise WorkerFailure(
                    "error", f"harness: env failed on {message[0]}: {type(exc).__name__}: {exc}"
                ) from None
            worker.send(*reply)

    def _evaluate(self, worker: AgentWorker, job: TrialJob, env: Any, secret: int) -> list[float]:
        """Harness-driven evaluation episodes with seeds the agent never sees."""
        deadline = time.monotonic() + job.suite.eval_seconds
        returns = []
        reward: Any = 0.0  # paid for the agent's previous action, across episode ends too
        for episode in range(job.suite.eval_episodes):
            obs, info = env.reset(seed=derive_seed(secret, "eval", episode))
            total, new_episode = 0.0, True
            while True:
                worker.send("act", new_episode, obs, info, float(reward))
                message = worker.recv(deadline, phase="evaluation")
                if message[0] != "action" or len(message) != 2:
                    raise WorkerFailure("error", f"expected an action, got message {message[0]!r}")
                try:
                    action = check_action(env.action_space, message[1])
                except InvalidAction as exc:
                    raise WorkerFailure("invalid_action", str(exc)) from None
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                new_episode = False
                if terminated or truncated:
                    break
            returns.append(total)
        return returns

    # -- meta-training -------------------------------------------------------------------------

    def run_meta_train(self, job: MetaTrainJob) -> Outcome:
        started = time.monotonic()
        outcome = Outcome(status="ok")
        server = None
        try:
            worker = self.worker(job.submission)
            outcome.worker_pid = worker.pid
            if not worker.defines_meta_train:
                outcome.status = "skipped"
                outcome.wall_seconds = round(time.monotonic() - started, 4)  # starting the worker, often
                return outcome
            spaces_env = games.make(games.Variant.of(job.family))
            worker.send(
                "meta_train",
                {
                    "observation_space": spaces_env.observation_space,
                    "action_space": spaces_env.action_space,
                    "family": job.family,
                    "seed": derive_seed("agent", "meta_train") % 2**31,
                    "device": job.device,
                    "budget_steps": job.suite.meta_train_steps,
                    "budget_seconds": job.suite.meta_train_seconds,
                    "adapt_budgets": job.suite.budgets,
                    "scratch": str(worker.scratch),
                    "checkpoint": str(worker.checkpoint_out()),
                },
            )
            variants = job.suite.train_sampler(job.family, seed=0)
            secret = derive_seed(job.suite.id, job.family, "meta_train")
            server = EnvServer(Budget(job.suite.meta_train_steps, job.suite.meta_train_seconds), variants, secret)
            self._serve(
                worker,
                server,
                grace=self.limits.setup_seconds + 0.1 * job.suite.meta_train_seconds,
                done="meta_trained",
                phase="meta-training",
            )
            worker.collect_checkpoint(Path(job.checkpoint))
        except WorkerFailure as failure:
            outcome.status, outcome.error = failure.status, failure.text
            self._discard(job.submission)
        finally:
            if server is not None:
                outcome.steps_used = server.steps_used
                server.close()
        outcome.wall_seconds = round(time.monotonic() - started, 4)
        return outcome
