"""How agent workers are fenced off from the machine.

Today: a fresh network namespace (``unshare -n``: no route out, loopback down) on top of the
resource limits the worker sets on itself. The hardening issue adds an unprivileged user and a
filesystem view; this module is the one place that decides the wrapper.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path


@functools.cache
def network_isolation() -> bool:
    """Whether ``unshare -n`` works here (it needs root or user namespaces)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        probe = subprocess.run([unshare, "-n", sys.executable, "-c", "pass"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.cache
def prefix() -> tuple[str, ...]:
    """The command prefix that isolates a worker; warns once where isolation is missing."""
    if network_isolation():
        return ("unshare", "-n")
    warnings.warn(
        "agent workers run WITH network access: 'unshare -n' is unavailable on this machine",
        RuntimeWarning,
        stacklevel=2,
    )
    return ()


def wrap(command: list[str], *, scratch: Path, readable: Sequence[Path]) -> list[str]:
    """The worker's command line, fenced: ``scratch`` is its only writable place, ``readable``
    (the submission's folder) what it may read beyond the Python installation."""
    return [*prefix(), *command]
