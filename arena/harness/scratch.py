"""Agent processes' scratch folders: made under one folder per harness process, swept when
the harness that made them is gone."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from arena.boundary import sandbox

_SCRATCH_PREFIX = "arena-scratch-"


def scratch_root() -> Path:
    """This process's folder of scratch dirs, named by its pid so a later run can tell whether
    the harness that made it is gone (killed by SIGKILL, it cleaned up nothing)."""
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
