"""The agent process: the only process that imports a submission's code.

Started by the harness (inside the sandbox) as ``python -m arena.worker SOCKET_FD MEMFD SIZE
LIMITS_JSON``. It applies its resource limits, then serves commands over the shared-memory lane
(:mod:`arena.boundary.lane`): ``LOAD`` once, then any number of ``TRIAL`` and ``META_TRAIN``
commands, so that one agent process (and its ``import torch``) serves many trials of one
submission. The messages are listed in :mod:`arena.boundary.protocol`.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import traceback
from typing import Any

from arena.boundary import lane as lanes
from arena.boundary.lifeline import die_with_parent
from arena.boundary.protocol import Kind
from arena.worker.host import AgentHost, defines_meta_train, load_entry
from arena.worker.proxy import Channel

ERROR_TEXT_LIMIT = 4000


def apply_limits(limits: dict[str, int]) -> None:
    """Resource limits the kernel enforces on this process and its children."""
    table = {
        "memory_bytes": resource.RLIMIT_AS,
        "open_files": resource.RLIMIT_NOFILE,
        "file_bytes": resource.RLIMIT_FSIZE,
        "processes": resource.RLIMIT_NPROC,
        "cpu_seconds": resource.RLIMIT_CPU,
    }
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, value in limits.items():
        if key in table and value > 0:
            resource.setrlimit(table[key], (value, value))


def _error_text() -> str:
    text = traceback.format_exc()
    return text if len(text) <= ERROR_TEXT_LIMIT else "...\n" + text[-ERROR_TEXT_LIMIT:]


def _report_failure(channel: Channel, phase: str) -> None:
    kind = Kind.OUT_OF_MEMORY if isinstance(sys.exc_info()[1], MemoryError) else Kind.FAILED
    channel.send(kind, phase, _error_text())


def used_device() -> str:
    """Where the agent computed: CUDA if it initialised it in this process, else the CPU. The
    harness records this, not the device it offered (an agent may fall back, or never ask)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            return f"cuda:{torch.cuda.current_device()}"
    except Exception:  # a broken CUDA: it did not compute there
        pass
    return "cpu"


def serve_trial(channel: Channel, host: AgentHost, spec: Any, checkpoint: str | None) -> None:
    """One ``TRIAL`` command: adaptation, then ``ACT`` answers until ``DONE``."""
    try:
        host.trial(spec, checkpoint, channel)
    except BaseException:
        _report_failure(channel, "adapt")
        return
    channel.send(Kind.ADAPTED, {"device": used_device()})
    while True:
        message = channel.recv()
        if message[0] != Kind.ACT:
            return  # DONE
        _, new_episode, observation, info, reward = message
        try:
            action = host.act(new_episode, observation, info, reward)
        except BaseException:
            _report_failure(channel, "act")
            return
        channel.send(Kind.ACTION, action)


def serve_meta_train(channel: Channel, host: AgentHost, spec: Any, checkpoint_out: str) -> None:
    try:
        host.meta_train(spec, checkpoint_out, channel)
    except BaseException:
        _report_failure(channel, "meta_train")
        return
    channel.send(Kind.META_TRAINED, {"device": used_device()})


def main() -> None:
    sock_fd, mem_fd, size, limits = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    die_with_parent()
    apply_limits(limits)
    spin = float(os.environ.get("ARENA_LANE_SPIN", lanes.SPIN_SECONDS))
    channel = Channel(lanes.Lane(mem_fd, size, socket.socket(fileno=sock_fd), "worker", spin=spin))
    os.close(mem_fd)
    _, submission_dir, entry = channel.recv()
    os.chdir(os.environ.get("ARENA_SCRATCH", "."))
    try:
        host = AgentHost(load_entry(submission_dir, entry))
    except BaseException:
        _report_failure(channel, "import")
        return
    channel.send(Kind.LOADED, {"meta_train": defines_meta_train(host.agent_class)})
    while True:
        try:
            message = channel.recv()
        except EOFError:
            return
        if message[0] == Kind.TRIAL:
            serve_trial(channel, host, message[1], message[2])
        elif message[0] == Kind.META_TRAIN:
            serve_meta_train(channel, host, message[1], message[2])
        else:
            return
