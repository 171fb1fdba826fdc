"""A child process that dies with its parent, used on both sides of the boundary."""

from __future__ import annotations


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies, even by SIGKILL."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except OSError:
        pass
