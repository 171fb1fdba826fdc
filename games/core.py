"""The family registry and variant specs: MetaArena's tiny core, shaped like Gymnasium's.

A *family* is a parametrised game. It declares its parameters and builds a Gymnasium env for
any point of that space. A *variant* is one such point, written in OpenSpiel's game-string
syntax: ``connect_four(columns=6,opponent=mcts(sims=50),rows=5)``. The canonical string
(sorted keys, defaults dropped, floats in shortest round-trip form) is the variant's id.

    import games
    env = games.make("cartpole(length=0.8,gravity=12.0)")
    games.register(Family(name="my_game", make=..., params={...}))
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

ParamValue = Any  # int | float | bool | str | Spec

__all__ = [
    "BoolParam",
    "ChoiceParam",
    "Family",
    "FloatParam",
    "IntParam",
    "Param",
    "Spec",
    "SpecError",
    "SpecParam",
    "Variant",
    "did_you_mean",
    "families",
    "format_spec",
    "get_family",
    "make",
    "parse_spec",
    "parse_variant",
    "random_action",
    "register",
]


class SpecError(ValueError):
    """A variant string that does not parse or does not fit its family. The message is one line."""


def did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.5) -> str:
    """The tail of a one-line error about an unknown ``word``: the closest option, or the list.

    Every "unknown X" error of MetaArena ends with this (families, parameters, suites, splits,
    manifest keys), so a misspelling always gets the same kind of help.
    """
    options = sorted(options)
    match = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    return f"; did you mean {match[0]!r}?" if match else f"; valid: {', '.join(options)}"


# --------------------------------------------------------------------------------------------
# Syntax: OpenSpiel game strings, no knowledge of families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A parsed game string: a name and its (possibly nested) arguments."""

    name: str
    args: tuple[tuple[str, ParamValue], ...] = ()

    @property
    def kwargs(self) -> dict[str, ParamValue]:
        return dict(self.args)

    def __str__(self) -> str:
        return format_spec(self.name, self.kwargs)


def _format_value(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(f"non-finite number {value!r} cannot be a parameter value")
        return repr(value)
    return str(value)


def format_spec(name: str, kwargs: Mapping[str, ParamValue]) -> str:
    """Write a game string with sorted keys; a spec without arguments is its bare name."""
    if not kwargs:
        return name
    inner = ",".join(f"{key}={_format_value(kwargs[key])}" for key in sorted(kwargs))
    return f"{name}({inner})"


def _scalar(text: str) -> ParamValue:
    """Type a scalar the way OpenSpiel does: bool, int, float, else a bare string."""
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text  # "nan"/"inf" stay strings; the typed check rejects them with a clear message
    return value


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> SpecError:
        return SpecError(f"bad variant string {self.text!r}: {what} at position {self.pos}")

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_-."):
            self.pos += 1
        if self.pos == start:
            raise self.fail("expected a name")
        return self.text[start : self.pos]

    def spec(self) -> Spec:
        name = self.name()
        args: dict[str, ParamValue] = {}
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            if self.text[self.pos : self.pos + 1] == ")":
                self.pos += 1
                return Spec(name)
            while True:
                key = self.name()
                if self.text[self.pos : self.pos + 1] != "=":
                    raise self.fail(f"expected '=' after {key!r}")
                self.pos += 1
                if key in args:
                    raise self.fail(f"parameter {key!r} given twice")
                args[key] = self.value()
                sep = self.text[self.pos : self.pos + 1]
                self.pos += 1
                if sep == ")":
                    break
                if sep != ",":
                    self.pos -= 1
                    raise self.fail("expected ',' or ')'")
        return Spec(name, tuple(sorted(args.items())))

    def value(self) -> ParamValue:
        start = self.pos
        # A nested game string (e.g. an opponent) is a value too.
        while self.pos < len(self.text) and self.text[self.pos] not in ",()":
            self.pos += 1
        if self.text[self.pos : self.pos + 1] == "(":
            self.pos = start
            nested = self.spec()
            return nested
        token = self.text[start : self.pos].strip()
        if not token:
            raise self.fail("expected a value")
        return _scalar(token)


def parse_spec(text: str) -> Spec:
    """Parse a game string into a :class:`Spec` (syntax only; see :func:`parse_variant`)."""
    text = text.strip()
    parser = _Parser(text)
    spec = parser.spec()
    if parser.pos != len(text):
        raise parser.fail("unexpected trailing text")
    return spec


# --------------------------------------------------------------------------------------------
# Families and their declared parameters
# --------------------------------------------------------------------------------------------

# Each kind of parameter owns its behaviour: checking a value, describing its space, and
# drawing values (for suites' ranges and the conformance checks). Nothing else looks at kinds.

Draw = Literal["low", "high", "random"]


def _label(where: str, key: str) -> str:
    return f"{where}: parameter {key!r}"


class _Kind:
    """What most kinds share: no numeric range, values written in TOML as themselves."""

    kind: ClassVar[str]
    numeric: ClassVar[bool] = False

    def between(self, rng: np.random.Generator, low: Any, high: Any) -> Any:
        raise TypeError(f"a {self.kind} parameter has no range")

    def from_text(self, raw: Any) -> Any:
        return raw


@dataclass(frozen=True)
class IntParam(_Kind):
    """An integer in ``[low, high]``."""

    default: int
    low: int
    high: int
    doc: str = ""
    kind: ClassVar[str] = "int"
    numeric: ClassVar[bool] = True

    def check(self, where: str, key: str, value: ParamValue) -> int:
        label = _label(where, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{label} must be an integer, got {_format_value(value)!r}")
        if not (self.low <= value <= self.high):
            raise SpecError(f"{label}={value} is outside its range {self.describe()}")
        return value

    def describe(self) -> str:
        return f"int in [{_format_value(self.low)}, {_format_value(self.high)}]"

    def between(self, rng: np.random.Generator, low: Any, high: Any) -> int:
        """A uniform draw from a suite's range ``[low, high]`` (both inclusive)."""
        return int(rng.integers(int(low), int(high) + 1))

    def draw(self, how: Draw, rng: np.random.Generator) -> int:
        if how == "random":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return int(self.low if how == "low" else self.high)


@dataclass(frozen=True)
class FloatParam(_Kind):
    """A real number in ``[low, high]``."""

    default: float
    low: float
    high: float
    doc: str = ""
    kind: ClassVar[str] = "float"
    numeric: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for name in ("default", "low", "high"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def check(self, where: str, key: str, value: ParamValue) -> float:
        label = _label(where, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{label} must be a number, got {_format_value(value)!r}")
        value = float(value)
        if not (self.low <= value <= self.high):
            raise SpecError(f"{label}={value!r} is outside its range {self.describe()}")
        return value

    def describe(self) -> str:
        return f"float in [{_format_value(self.low)}, {_format_value(self.high)}]"

    def between(self, rng: np.random.Generator, low: Any, high: Any) -> float:
        # Three decimals keep variant ids readable; clipping keeps rounding inside the range.
        return float(np.clip(round(float(rng.uniform(low, high)), 3), low, high))

    def draw(self, how: Draw, rng: np.random.Generator) -> float:
        if how == "random":
            return float(round(rng.uniform(self.low, self.high), 4))
        return float(self.low if how == "low" else self.high)


@dataclass(frozen=True)
class BoolParam(_Kind):
    default: bool
    doc: str = ""
    kind: ClassVar[str] = "bool"

    def check(self, where: str, key: str, value: ParamValue) -> bool:
        label = _label(where, key)
        if not isinstance(value, bool):
            raise SpecError(f"{label} must be true or false, got {_format_value(value)!r}")
        return value

    def describe(self) -> str:
        return "bool"

    def draw(self, how: Draw, rng: np.random.Generator) -> bool:
        return {"low": False, "high": True}.get(how, bool(rng.integers(2)))


@dataclass(frozen=True)
class ChoiceParam(_Kind):
    """One of a few named values."""

    default: Any
    choices: tuple[Any, ...]
    doc: str = ""
    kind: ClassVar[str] = "choice"

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))

    def check(self, where: str, key: str, value: ParamValue) -> Any:
        label = _label(where, key)
        if value not in self.choices:
            raise SpecError(f"{label}={_format_value(value)} is not {self.describe()}")
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(_format_value(c) for c in self.choices)

    def draw(self, how: Draw, rng: np.random.Generator) -> Any:
        choices = self.choices
        return {"low": choices[0], "high": choices[-1]}.get(how, choices[int(rng.integers(len(choices)))])


@dataclass(frozen=True)
class SpecParam(_Kind):
    """A nested game string (an opponent like ``mcts(sims=50)``): ``options`` maps each allowed
    name to the parameters it takes. ``default`` may be written as a string; it is stored parsed."""

    default: Spec
    options: Mapping[str, Mapping[str, Param]]
    doc: str = ""
    kind: ClassVar[str] = "spec"

    def __post_init__(self) -> None:
        if isinstance(self.default, str):
            object.__setattr__(self, "default", parse_spec(self.default))

    def check(self, where: str, key: str, value: ParamValue) -> Spec:
        label = _label(where, key)
        nested = value if isinstance(value, Spec) else Spec(str(value)) if isinstance(value, str) else None
        if nested is None:
            raise SpecError(f"{label} must be {self.describe()}, got {_format_value(value)!r}")
        if nested.name not in self.options:
            raise SpecError(f"{label}: unknown {key} {nested.name!r}{did_you_mean(nested.name, list(self.options))}")
        args = _check_args(f"{where}: {key} {nested.name}", self.options[nested.name], nested.kwargs)
        return Spec(nested.name, tuple(sorted(args.items())))

    def describe(self) -> str:
        return "one of " + ", ".join(
            format_spec(name, {k: p.default for k, p in sub.items()}) for name, sub in self.options.items()
        )

    def draw(self, how: Draw, rng: np.random.Generator) -> Spec:
        names = list(self.options)
        name = {"low": names[0], "high": names[-1]}.get(how, names[int(rng.integers(len(names)))])
        sub = {key: p.draw("low", rng) for key, p in self.options[name].items()}
        return Spec(name, tuple(sorted(sub.items())))

    def from_text(self, raw: Any) -> Any:
        """A suite's TOML writes game strings as strings."""
        return parse_spec(raw) if isinstance(raw, str) else raw

    def full(self, value: Spec) -> Spec:
        """``value`` with its nested parameters' defaults filled in."""
        return Spec(value.name, tuple(sorted(_full_args(self.options[value.name], value.kwargs).items())))


Param = IntParam | FloatParam | BoolParam | ChoiceParam | SpecParam


@dataclass(frozen=True)
class Family:
    """A parametrised game.

    ``make(params)`` receives every declared parameter (defaults filled in) and returns a
    Gymnasium env. Every variant of a family has the same observation and action spaces.
    """

    name: str
    make: Callable[..., gym.Env]  # make(params: dict, render_mode=None) -> Env
    params: Mapping[str, Param]
    description: str
    group: str = "misc"
    players: int = 1
    max_episode_steps: int = 1000
    # Analytic (random-policy return, optimal return) of a variant, where one exists.
    reference: Callable[[dict[str, ParamValue]], tuple[float, float]] | None = None
    # Expected episode lengths (random policy, optimal policy) beside ``reference``: with them a
    # return per step (renewal reward: E[return] / E[length]) scores reward earned while adapting.
    episode_lengths: Callable[[dict[str, ParamValue]], tuple[float, float]] | None = None
    # An episode that terminates (rather than being truncated) reached the goal: the board
    # shows the success rate beside the return (mazes, navigation).
    success_on_termination: bool = False
    # All copies of a vector env in one numpy step (games/batched.py), for suites that ask for it:
    # make_batch(params of each copy, seed) -> a Batch.
    make_batch: Callable[[Any, int], Any] | None = None
    # The canonical example variant shown by `arena games NAME`.
    example: str | None = None


_REGISTRY: dict[str, Family] = {}
# Families registered on first use: name -> the module whose import registers it. Listing a
# suite, the results or the site then never imports OpenSpiel or PettingZoo unless a family
# of theirs is asked for.
_PROVIDERS: dict[str, str] = {}


def provide(module: str, names: Iterable[str]) -> None:
    """Declare that importing ``module`` registers the families ``names``."""
    for name in names:
        _PROVIDERS[name] = module


def _load_all() -> None:
    for module in sorted(set(_PROVIDERS.values())):
        importlib.import_module(module)


def register(family: Family) -> Family:
    if family.name in _REGISTRY and _REGISTRY[family.name] is not family:
        raise ValueError(f"family {family.name!r} is already registered")
    for key, param in family.params.items():
        _check_value(family.name, key, param, param.default)
    _REGISTRY[family.name] = family
    return family


def families() -> dict[str, Family]:
    """Every family, by name (importing every provider module)."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def family_names() -> list[str]:
    """Every family's name, without importing any family module."""
    return sorted({*_REGISTRY, *_PROVIDERS})


def get_family(name: str) -> Family:
    family = _REGISTRY.get(name)
    if family is None and name in _PROVIDERS:
        importlib.import_module(_PROVIDERS[name])
        family = _REGISTRY.get(name)
    if family is None:
        raise SpecError(f"unknown family {name!r}{did_you_mean(name, family_names())}")
    return family


def _check_value(where: str, key: str, param: Param, value: ParamValue) -> ParamValue:
    """Type and range-check one value; return it in canonical type."""
    return param.check(where, key, value)


def _check_args(where: str, params: Mapping[str, Param], given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Check given arguments against declared params; return non-default ones, canonical."""
    out: dict[str, ParamValue] = {}
    for key, value in given.items():
        if key not in params:
            raise SpecError(f"{where}: unknown parameter {key!r}{did_you_mean(key, list(params))}")
        value = _check_value(where, key, params[key], value)
        if value != params[key].default:
            out[key] = value
    return out


def _full_args(params: Mapping[str, Param], given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Every parameter, defaults filled in, nested specs filled recursively."""
    out: dict[str, ParamValue] = {}
    for key, param in params.items():
        value = given.get(key, param.default)
        if isinstance(param, SpecParam):
            value = param.full(value)
        out[key] = value
    return out


@dataclass(frozen=True)
class Variant:
    """One point of a family. ``str(variant)`` is its canonical id."""

    family: str
    args: tuple[tuple[str, ParamValue], ...] = ()  # non-default arguments only, sorted

    @property
    def id(self) -> str:
        return format_spec(self.family, dict(self.args))

    def __str__(self) -> str:
        return self.id

    @property
    def params(self) -> dict[str, ParamValue]:
        """Every parameter of the family, defaults filled in."""
        return _full_args(get_family(self.family).params, dict(self.args))

    @classmethod
    def of(cls, family: str, **kwargs: ParamValue) -> Variant:
        fam = get_family(family)
        args = _check_args(family, fam.params, kwargs)
        return cls(family, tuple(sorted(args.items())))


def parse_variant(text: str | Variant) -> Variant:
    """Parse and validate a variant string against its family's declared parameters."""
    if isinstance(text, Variant):
        return text
    spec = parse_spec(text)
    return Variant.of(spec.name, **spec.kwargs)


def make(variant: str | Variant, **env_kwargs: Any) -> gym.Env:
    """Build the Gymnasium env of a variant, with the family's time limit applied."""
    v = parse_variant(variant)
    family = get_family(v.family)
    env = family.make(v.params, **env_kwargs)
    if not _has_time_limit(env):
        env = gym.wrappers.TimeLimit(env, max_episode_steps=family.max_episode_steps)
    return env


def make_vector(variant: str | Variant, num_envs: int) -> gym.vector.SyncVectorEnv:
    """``num_envs`` copies of a variant in this process, with the autoreset mode of the vector
    envs an agent gets from the harness (the last observation of an ended episode in
    ``info["final_obs"]``, the next episode's first in the returned batch)."""
    v = parse_variant(variant)
    return gym.vector.SyncVectorEnv(
        [lambda: make(v) for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )


def random_action(env: gym.Env, info: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """A uniformly random action, legal where the env masks its actions: the random policy that
    defines score 0, as calibration and the conformance checks play it."""
    mask = info.get("action_mask")
    if mask is not None:
        return int(rng.choice(np.flatnonzero(mask)))
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        return int(space.start + rng.integers(int(space.n)))
    if isinstance(space, gym.spaces.Box):
        return rng.uniform(space.low, space.high).astype(space.dtype)
    return space.sample()


def _has_time_limit(env: gym.Env) -> bool:
    while True:
        if isinstance(env, gym.wrappers.TimeLimit):
            return True
        if not isinstance(env, gym.Wrapper):
            return False
        env = env.env
