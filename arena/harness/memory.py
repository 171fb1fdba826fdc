"""How an agent process's memory is capped: a cgroup where the machine offers one, else the
address-space rlimit, else (a GPU process without a cgroup) nothing, said out loud.

``RLIMIT_AS`` counts address space, not memory: CUDA reserves tens of GiB of it at start, so a
GPU process under an 8 GiB ``RLIMIT_AS`` fails in ``cudaGetDeviceCount()`` (measured on an H200
through the harness). A cgroup's memory limit counts memory actually used and leaves CUDA alone:
cgroup v2's ``memory.max`` (the GPU machine has it) or v1's ``memory.limit_in_bytes``. The agent
process joins its cgroup before it execs anything, so everything it starts is inside too; when
the kernel kills it for going over, the cgroup's OOM count says so and the trial ends ``oom``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
_COUNTER = itertools.count()


@dataclass(frozen=True)
class MemoryCap:
    """What caps one agent process: ``cgroup`` (``path``), ``rlimit`` or ``none``."""

    kind: str
    path: Path | None = None

    def join(self, command: list[str]) -> list[str]:
        """``command`` run inside the cgroup (joined before it execs, so its children are too)."""
        if self.path is None:
            return command
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path), *command]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for going over its limit."""
        if self.path is None:
            return False
        for name in ("memory.events", "memory.oom_control"):  # v2, v1
            with contextlib.suppress(OSError):
                for line in (self.path / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                        return True
        return False

    def remove(self, wait_seconds: float = 5.0) -> None:
        """Kill what is left in the cgroup and remove it. Processes in the sandbox's PID namespace
        die a moment after the process the harness started, and the kernel refuses (EBUSY) to
        remove a cgroup until they have, so this retries for a short while."""
        if self.path is None:
            return
        deadline = time.monotonic() + wait_seconds
        while True:
            with contextlib.suppress(OSError, ValueError):
                for pid in (self.path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return  # left for the machine's owner; its memory limit still holds
                time.sleep(0.02)


def _v2_parent() -> Path | None:
    """A cgroup v2 folder whose children may have a memory controller."""
    if not (ROOT / "cgroup.controllers").is_file():
        return None
    with contextlib.suppress(OSError):
        if "memory" not in (ROOT / "cgroup.subtree_control").read_text().split():
            (ROOT / "cgroup.subtree_control").write_text("+memory")
        if "memory" in (ROOT / "cgroup.subtree_control").read_text().split():
            return ROOT
    return None


def cgroup_cap(limit_bytes: int) -> MemoryCap | None:
    """A new cgroup limited to ``limit_bytes`` of memory (no swap), or None where none can be
    made here (no memory controller, not root, a read-only /sys)."""
    name = f"arena-agent-{os.getpid()}-{next(_COUNTER)}"
    parent = _v2_parent()
    if parent is not None:
        path, limit, swap = parent / name, "memory.max", "memory.swap.max"
    elif (ROOT / "memory" / "memory.limit_in_bytes").is_file():
        path, limit, swap = ROOT / "memory" / name, "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
    else:
        return None
    try:
        path.mkdir()
    except OSError:
        return None
    try:
        (path / limit).write_text(str(limit_bytes))
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    with contextlib.suppress(OSError):  # v1 without swap accounting has no memsw file
        (path / swap).write_text("0" if swap == "memory.swap.max" else str(limit_bytes))
    return MemoryCap("cgroup", path)


@functools.cache
def warn_uncapped(reason: str) -> None:
    """Once per process: a GPU agent process runs without a memory cap."""
    warnings.warn(f"GPU agent processes run with no memory cap: {reason}", RuntimeWarning, stacklevel=3)
