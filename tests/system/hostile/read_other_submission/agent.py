"""Hostile submission read_other_submission: expect error (report): reads another submission's code and the baselines' folder."""
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


import os

import arena


def _read(path):
    with open(path) as handle:
        return handle.read(200)


class Agent(arena.Agent):
    def adapt(self, env):
        other = TARGETS.get("other_submission", "/nonexistent")
        found = {
            "other_agent": attempt(_read, os.path.join(other, "agent.py")),
            "other_list": attempt(os.listdir, other),
            "parent_list": attempt(os.listdir, os.path.dirname(HERE)),
            "random_baseline": attempt(os.listdir, TARGETS.get("random_submission", "/nonexistent")),
        }
        report(found)

    def act(self, observation, info):
        return 0
