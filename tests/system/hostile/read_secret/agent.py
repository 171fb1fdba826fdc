"""Hostile submission read_secret: expect error (report): reads the test-seed file and hunts the filesystem for it."""
import json
import os
import time

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


import os

import arena


def _read(path):
    with open(path) as handle:
        return handle.read(200)


class Agent(arena.Agent):
    def adapt(self, env):
        secret = TARGETS.get("secret_file", "/nonexistent")
        found = {"read": attempt(_read, secret), "list_parent": attempt(os.listdir, os.path.dirname(secret))}
        hits = []
        # A walk bounded in time: on a loaded machine a full walk of a busy /tmp outlasts the
        # 2 s adaptation, and the report (what the test checks) would never be sent.
        deadline = time.monotonic() + 0.8
        for top in ("/tmp", "/root", "/home", "/work", "/etc", "/var", "/srv", "/opt", "/run"):
            for root, dirs, files in os.walk(top):
                if time.monotonic() > deadline:
                    break
                for name in files:
                    if "seed" in name or "secret" in name or name.endswith(".db"):
                        hits.append(os.path.join(root, name))
                if len(hits) > 20:
                    break
        found["hits"] = hits[:20]
        found["hit_contents"] = [attempt(_read, h) for h in hits[:5]]
        found["environ"] = {k: v for k, v in os.environ.items() if "SEED" in k.upper() or "SECRET" in k.upper()}
        report(found)

    def act(self, observation, info):
        return 0
