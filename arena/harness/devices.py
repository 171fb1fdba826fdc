"""Which accelerator a trial gets: GPUs round-robin to agents that ask for one, else the CPU.

The harness never imports torch (it stays light and CUDA-free); it asks ``nvidia-smi``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


@functools.cache
def gpu_count() -> int:
    """Visible NVIDIA GPUs (honouring CUDA_VISIBLE_DEVICES); 0 where there are none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    count = sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))
    if visible is not None:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


def assign(wants_gpu: bool, index: int, gpus: int) -> str:
    """The device of the ``index``-th trial: ``cuda:N`` round-robin when wanted and present."""
    if not wants_gpu or gpus <= 0:
        return "cpu"
    return f"cuda:{index % gpus}"
