"""The limits every agent process runs under, and the math kernels it is pinned to."""

from __future__ import annotations

import contextlib
import functools
import platform
from dataclasses import dataclass
from pathlib import Path

from arena.boundary import lane as lanes


@dataclass(frozen=True)
class Limits:
    """Kernel-enforced limits of each agent process."""

    memory_bytes: int = 8 * 1024**3
    open_files: int = 1024
    file_bytes: int = 1024**3
    processes: int = 256  # binds only unprivileged users; the sandbox adds the rest
    threads: int = 1  # OMP/MKL threads for the agent's numerical libraries
    load_seconds: float = 120.0  # importing a submission (torch, models) may take a while on a cold disk
    setup_seconds: float = 30.0  # grace beyond a phase's own clock: building the agent, loading a checkpoint
    scratch_bytes: int = 2 * 1024**3  # disk quota of each agent process's scratch dir (a tmpfs, where mountable)
    spin_seconds: float = lanes.SPIN_SECONDS  # lane busy-wait before sleeping (0 when cores are oversubscribed)
    portable_numerics: bool = True  # the agent's math libraries take their AVX2 kernels on any x86 CPU with AVX2
    # How ``memory_bytes`` is enforced (see arena.harness.memory): "auto" is a cgroup for GPU agent
    # processes (RLIMIT_AS breaks CUDA) and RLIMIT_AS for the others; "cgroup" asks for a cgroup
    # for every agent process; "rlimit" for RLIMIT_AS always.
    memory_cap: str = "auto"

    def kernel_limits(self, rlimit_memory: bool = True) -> dict[str, int]:
        """What the agent process sets with setrlimit (see ``arena.worker.main.apply_limits``);
        ``memory_bytes`` 0 (none) where a cgroup caps the memory instead."""
        return {
            "memory_bytes": self.memory_bytes if rlimit_memory else 0,
            "open_files": self.open_files,
            "file_bytes": self.file_bytes,
            "processes": self.processes,
        }


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
