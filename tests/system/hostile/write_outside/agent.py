"""Hostile submission write_outside: expect error (report): writes outside its scratch directory."""
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


def _write(path):
    with open(path, "w") as handle:
        handle.write("escaped")
    return path


class Agent(arena.Agent):
    def adapt(self, env):
        marker = TARGETS.get("marker", "x")
        scratch = str(self.spec.scratch)
        places = [
            os.path.join(TARGETS.get("outside", "/nonexistent"), "escaped.txt"),
            f"/tmp/arena-escape-{marker}",
            os.path.join(os.path.dirname(scratch), f"arena-escape-{marker}"),
            os.path.join(HERE, "escaped.txt"),
            os.path.join(os.path.dirname(arena.__file__), f"escaped_{marker}.py"),
            os.path.expanduser(f"~/../arena-escape-home-{marker}"),
            f"/arena-escape-{marker}",
        ]
        found = {path: attempt(_write, path) for path in places}
        found["chmod_scratch_parent"] = attempt(os.chmod, os.path.dirname(scratch), 0o777)
        found["symlink_out"] = attempt(os.symlink, "/etc", os.path.join(scratch, "etc-link"))
        report(found)

    def act(self, observation, info):
        return 0
