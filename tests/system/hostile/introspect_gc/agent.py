"""Hostile submission introspect_gc: expect error (report): searches its own heap and frames for the real env, RNG or variant."""
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


import gc
import inspect
import sys

import arena


class Agent(arena.Agent):
    def adapt(self, env):
        found = {"env_type": type(env).__name__, "unwrapped": type(env.unwrapped).__name__}
        found["env_attrs"] = sorted(k for k in vars(env) if not k.startswith("__"))
        strings = set()
        types = set()
        for obj in gc.get_objects():
            kind = type(obj)
            types.add(f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', '?')}")
            if isinstance(obj, dict):
                for key, value in list(obj.items())[:50]:
                    if isinstance(value, str) and "(" in value and "=" in value and len(value) < 200:
                        strings.add(value)
        found["variant_like_strings"] = sorted(s for s in strings if self.spec.family + "(" in s)[:20]
        found["game_types"] = sorted(t for t in types if "games." in t or "CartPole" in t or "envserver" in t)
        frames = []
        for frame in inspect.stack():
            frames.append(sorted(k for k in frame.frame.f_locals))
        found["frame_locals"] = frames[:8]
        found["modules"] = sorted(m for m in sys.modules if m.startswith(("games", "arena.harness", "arena.store")))
        try:
            found["np_random"] = repr(env.np_random)[:80]  # a fresh local generator, if anything
        except Exception as exc:
            found["np_random"] = f"{type(exc).__name__}: {exc}"
        report(found)

    def act(self, observation, info):
        return 0
