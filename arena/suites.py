"""Suites: named, versioned TOML files that say which variants an agent meets and on what budget.

Stage 1 of the pipeline (suite → variants → trials → store → scoring → site). A suite knows the
family registry and nothing downstream. The format is documented in ``arena/suites/README.md``.
"""

from __future__ import annotations

import difflib
import functools
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

import games
from arena.errors import ArenaError
from arena.seeding import derive_seed
from games import Variant

SUITES_DIR = Path(__file__).parent / "suites"
Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


@dataclass(frozen=True)
class Dist:
    """How one parameter is drawn: a fixed value, a uniform range, or a choice."""

    kind: Literal["fixed", "range", "choice"]
    values: tuple[Any, ...]

    def sample(self, rng: np.random.Generator, param: games.Param) -> Any:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        low, high = self.values
        if param.kind == "int":
            return int(rng.integers(int(low), int(high) + 1))
        # Three decimals keep variant ids readable; clipping keeps rounding inside the range.
        return float(np.clip(round(float(rng.uniform(low, high)), 3), low, high))

    def describe(self) -> str:
        if self.kind == "fixed":
            return str(self.values[0])
        if self.kind == "choice":
            return "{" + ", ".join(str(v) for v in self.values) + "}"
        return f"[{self.values[0]}, {self.values[1]}]"


@dataclass(frozen=True)
class Reference:
    """Normalisation anchors: score 0 is ``random``, score 1 is ``reference``."""

    random: float
    reference: float
    method: str = ""


@dataclass(frozen=True)
class FamilyPlan:
    family: str
    train: Mapping[str, Dist]
    extrapolation: Mapping[str, Dist]  # overrides of ``train`` for the extrapolation group
    n_interpolation: int
    n_extrapolation: int
    reference: Reference | None = None

    def distribution(self, group: str) -> dict[str, Dist]:
        if group == "extrapolation":
            return {**self.train, **self.extrapolation}
        return dict(self.train)


@dataclass(frozen=True)
class TestVariant:
    variant: Variant
    group: str  # "interpolation", "extrapolation" or "train"

    @property
    def family(self) -> str:
        return self.variant.family


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    description: str
    budgets: tuple[int, ...]
    adapt_seconds: tuple[float, ...]  # one per budget
    seeds: int
    eval_episodes: int
    eval_seconds: float
    meta_train_steps: int
    meta_train_seconds: float
    dev_seed: int
    families: tuple[FamilyPlan, ...]
    references: Mapping[str, Reference] = field(default_factory=dict)  # by variant id
    path: Path | None = None

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def plan(self, family: str) -> FamilyPlan:
        for plan in self.families:
            if plan.family == family:
                return plan
        raise ArenaError(f"suite {self.name} has no family {family!r}")

    def variants(self, split: Split, seed: int | None = None) -> list[TestVariant]:
        """The variants of a split, deterministic given suite version, split and seed.

        ``dev`` uses the suite's public seed; ``test`` needs the secret seed; ``train`` draws
        evaluation variants from the meta-train distribution.
        """
        if split == "dev":
            seed = self.dev_seed if seed is None else seed
        elif split == "test" and seed is None:
            raise ArenaError("the test split needs the secret seed: pass --test-seed-file")
        elif split == "train" and seed is None:
            seed = 0
        out: list[TestVariant] = []
        for plan in self.families:
            groups = (
                [("train", plan.n_interpolation + plan.n_extrapolation)]
                if split == "train"
                else [("interpolation", plan.n_interpolation), ("extrapolation", plan.n_extrapolation)]
            )
            seen: set[str] = set()
            for group, count in groups:
                rng = np.random.default_rng(derive_seed(self.name, self.version, split, seed, plan.family, group))
                dist = plan.distribution(group)
                for _ in range(count):
                    # Small discrete spaces can repeat; redraw a few times, then accept fewer.
                    for _attempt in range(20):
                        variant = sample_variant(plan.family, dist, rng)
                        if variant.id not in seen:
                            seen.add(variant.id)
                            out.append(TestVariant(variant, group))
                            break
        return out

    def train_sampler(self, family: str, seed: int) -> Iterator[Variant]:
        """An endless stream of meta-train variants of one family."""
        plan = self.plan(family)
        rng = np.random.default_rng(derive_seed(self.name, self.version, "meta-train", family, seed))
        while True:
            yield sample_variant(family, plan.train, rng)

    def reference(self, variant: Variant) -> Reference:
        """Normalisation anchors of a variant: measured per variant, else analytic, else per family."""
        if variant.id in self.references:
            return self.references[variant.id]
        family = games.get_family(variant.family)
        if family.reference is not None:
            low, high = family.reference(variant.params)
            return Reference(low, high, "analytic")
        plan = self.plan(variant.family)
        if plan.reference is None:
            raise ArenaError(f"suite {self.name} has no normalization reference for {variant.id}")
        return plan.reference

    def normalized(self, variant: Variant, eval_return: float | None) -> float:
        """(R - R_random) / (R_reference - R_random); a failed trial (None) scores at the floor."""
        if eval_return is None:
            return 0.0
        ref = self.reference(variant)
        span = ref.reference - ref.random
        if span == 0:
            return 0.0
        return (eval_return - ref.random) / span


def sample_variant(family: str, dist: Mapping[str, Dist], rng: np.random.Generator) -> Variant:
    fam = games.get_family(family)
    # Sorted so that adding a parameter to the TOML never reorders the draws of the others.
    args = {key: dist[key].sample(rng, fam.params[key]) for key in sorted(dist)}
    return Variant.of(family, **args)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------

_SUITE_KEYS = {
    "name", "version", "description", "budgets", "adapt_seconds", "seeds", "eval_episodes",
    "eval_seconds", "meta_train_steps", "meta_train_seconds", "dev_seed", "include",
}  # fmt: skip
_FAMILY_KEYS = {"interpolation", "extrapolation", "train", "reference"}


class _Where:
    """Builds one-line errors that say which file and key is wrong."""

    def __init__(self, path: Path | str):
        self.path = path

    def error(self, key: str, what: str) -> ArenaError:
        return ArenaError(f"{self.path}: [{key}] {what}")

    def unknown(self, key: str, given: Mapping[str, Any], allowed: set[str]) -> None:
        for name in given:
            if name not in allowed:
                hint = difflib.get_close_matches(name, sorted(allowed), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; valid: {', '.join(sorted(allowed))}"
                raise self.error(key, f"unknown key {name!r}{suggestion}")


def _number(where: _Where, key: str, value: Any, *, integer: bool = False, minimum: float = 0) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise where.error(key, f"must be {kind} >= {minimum}, got {value!r}")
    return value


def _dist(where: _Where, key: str, family: games.Family, param_name: str, raw: Any) -> Dist:
    if param_name not in family.params:
        hint = difflib.get_close_matches(param_name, list(family.params), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise where.error(key, f"family {family.name} has no parameter {param_name!r}{suggestion}")
    param = family.params[param_name]

    def check(value: Any) -> Any:
        try:
            return Variant.of(family.name, **{param_name: value}).params[param_name]
        except games.SpecError as exc:
            raise where.error(key, str(exc)) from None

    if isinstance(raw, dict):
        if set(raw) != {"choices"} or not isinstance(raw["choices"], list) or not raw["choices"]:
            raise where.error(key, f"{param_name}: a table must be {{choices = [...]}}")
        return Dist("choice", tuple(check(games.parse_spec(v) if param.kind == "spec" else v) for v in raw["choices"]))
    if isinstance(raw, list):
        if all(isinstance(v, str) for v in raw) and raw:
            return Dist("choice", tuple(check(games.parse_spec(v) if param.kind == "spec" else v) for v in raw))
        if len(raw) != 2 or param.kind not in ("int", "float"):
            raise where.error(key, f"{param_name}: a list must be a [low, high] range of a numeric parameter")
        low, high = check(raw[0]), check(raw[1])
        if low > high:
            raise where.error(key, f"{param_name}: range [{low}, {high}] is empty")
        return Dist("range", (low, high))
    return Dist("fixed", (check(games.parse_spec(raw) if param.kind == "spec" and isinstance(raw, str) else raw),))


def _reference(where: _Where, key: str, raw: Any) -> Reference:
    if not isinstance(raw, dict):
        raise where.error(key, "must be a table {random = R0, reference = R1, method = '...'}")
    where.unknown(key, raw, {"random", "reference", "method"})
    if "random" not in raw or "reference" not in raw:
        raise where.error(key, "needs both 'random' and 'reference'")
    low = _number(where, f"{key}.random", raw["random"], minimum=-math.inf)
    high = _number(where, f"{key}.reference", raw["reference"], minimum=-math.inf)
    if high == low:
        raise where.error(key, "'reference' must differ from 'random'")
    return Reference(float(low), float(high), str(raw.get("method", "")))


def _with_includes(data: Mapping[str, Any], where: _Where, seen: tuple[str, ...]) -> dict[str, Any]:
    """Merge the [families] and [references] of the suites named in ``include``.

    A union suite (``all-v1``) takes its protocol (budgets, seeds, limits) from its own [suite]
    table and its content from the included ones; a family may come from one place only.
    """
    meta = data.get("suite", {})
    include = meta.get("include", []) if isinstance(meta, dict) else []
    if not include:
        return dict(data)
    if not isinstance(include, list) or not all(isinstance(n, str) for n in include):
        raise where.error("suite.include", "must be a list of suite names")
    families: dict[str, Any] = {}
    references: dict[str, Any] = {}
    for name in include:
        if name in seen:
            raise where.error("suite.include", f"suite {name!r} includes itself")
        path = SUITES_DIR / f"{name}.toml"
        if not path.is_file():
            raise where.error("suite.include", f"unknown suite {name!r}")
        included = _with_includes(tomllib.loads(path.read_text()), _Where(path), (*seen, name))
        for family, plan in included.get("families", {}).items():
            if family in families:
                raise where.error("suite.include", f"family {family!r} comes from more than one included suite")
            families[family] = plan
        references.update(included.get("references", {}))
    for family, plan in data.get("families", {}).items():
        if family in families:
            raise where.error(f"families.{family}", "also comes from an included suite")
        families[family] = plan
    references.update(data.get("references", {}))
    return {**data, "families": families, "references": references}


def parse_suite(data: Mapping[str, Any], path: Path | str = "<suite>") -> Suite:
    where = _Where(path)
    name = data.get("suite", {}).get("name", "") if isinstance(data.get("suite"), dict) else ""
    data = _with_includes(data, where, (str(name),))
    where.unknown("top level", data, {"suite", "families", "references"})
    meta = data.get("suite")
    if not isinstance(meta, dict):
        raise where.error("suite", "missing [suite] table")
    where.unknown("suite", meta, _SUITE_KEYS)
    for required in ("name", "version", "budgets"):
        if required not in meta:
            raise where.error("suite", f"missing key {required!r}")
    budgets = meta["budgets"]
    if not isinstance(budgets, list) or not budgets:
        raise where.error("suite.budgets", "must be a non-empty list of step counts")
    budgets = [_number(where, "suite.budgets", b, integer=True) for b in budgets]
    if sorted(set(budgets)) != budgets:
        raise where.error("suite.budgets", "must be strictly increasing")
    adapt_seconds = meta.get("adapt_seconds", 60.0)
    if not isinstance(adapt_seconds, list):
        adapt_seconds = [adapt_seconds] * len(budgets)
    if len(adapt_seconds) != len(budgets):
        raise where.error("suite.adapt_seconds", "needs one entry per budget")
    adapt_seconds = [float(_number(where, "suite.adapt_seconds", s)) for s in adapt_seconds]

    raw_families = data.get("families")
    if not isinstance(raw_families, dict) or not raw_families:
        raise where.error("families", "a suite needs at least one [families.NAME] table")
    plans = []
    for name, raw in raw_families.items():
        key = f"families.{name}"
        try:
            family = games.get_family(name)
        except games.SpecError as exc:
            raise where.error(key, str(exc)) from None
        if not isinstance(raw, dict):
            raise where.error(key, "must be a table")
        where.unknown(key, raw, _FAMILY_KEYS)
        train = {p: _dist(where, f"{key}.train", family, p, v) for p, v in raw.get("train", {}).items()}
        extra = raw.get("extrapolation", {})
        n_extra = 0
        if isinstance(extra, int) and not isinstance(extra, bool):
            n_extra, extra = extra, {}
        elif isinstance(extra, dict):
            n_extra = _number(where, f"{key}.extrapolation.count", extra.get("count", 0), integer=True)
            extra = {k: v for k, v in extra.items() if k != "count"}
        else:
            raise where.error(f"{key}.extrapolation", "must be a table of ranges with a 'count'")
        extrapolation = {p: _dist(where, f"{key}.extrapolation", family, p, v) for p, v in extra.items()}
        if n_extra and not extrapolation:
            raise where.error(f"{key}.extrapolation", "extrapolation variants need ranges outside the train ones")
        n_interp = _number(where, f"{key}.interpolation", raw.get("interpolation", 0), integer=True)
        if n_interp + n_extra == 0:
            raise where.error(key, "asks for no test variants: set 'interpolation' and/or extrapolation.count")
        reference = _reference(where, f"{key}.reference", raw["reference"]) if "reference" in raw else None
        if reference is None and family.reference is None:
            raise where.error(key, f"family {name} has no analytic reference: add [{key}.reference]")
        plans.append(FamilyPlan(name, train, extrapolation, n_interp, n_extra, reference))

    references = {}
    for variant_id, raw in data.get("references", {}).items():
        try:
            canonical = games.parse_variant(variant_id).id
        except games.SpecError as exc:
            raise where.error(f"references.{variant_id}", str(exc)) from None
        references[canonical] = _reference(where, f"references.{variant_id}", raw)

    return Suite(
        name=str(meta["name"]),
        version=_number(where, "suite.version", meta["version"], integer=True, minimum=1),
        description=str(meta.get("description", "")),
        budgets=tuple(budgets),
        adapt_seconds=tuple(adapt_seconds),
        seeds=_number(where, "suite.seeds", meta.get("seeds", 1), integer=True, minimum=1),
        eval_episodes=_number(where, "suite.eval_episodes", meta.get("eval_episodes", 10), integer=True, minimum=1),
        eval_seconds=float(_number(where, "suite.eval_seconds", meta.get("eval_seconds", 120.0))),
        meta_train_steps=_number(where, "suite.meta_train_steps", meta.get("meta_train_steps", 0), integer=True),
        meta_train_seconds=float(_number(where, "suite.meta_train_seconds", meta.get("meta_train_seconds", 600.0))),
        dev_seed=_number(where, "suite.dev_seed", meta.get("dev_seed", 0), integer=True),
        families=tuple(plans),
        references=references,
        path=Path(path) if not isinstance(path, Path) else path,
    )


def load_suite_file(path: Path) -> Suite:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ArenaError(f"no suite file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ArenaError(f"{path}: not valid TOML: {exc}") from None
    return parse_suite(data, path)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or any suite TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_suite_file(path)
    names = suite_names()
    if name_or_path not in names:
        hint = difflib.get_close_matches(name_or_path, names, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; available: {', '.join(names)}"
        raise ArenaError(f"unknown suite {name_or_path!r}{suggestion}")
    return load_suite_file(SUITES_DIR / f"{name_or_path}.toml")


@functools.cache
def installed_suite(name: str, version: int) -> Suite | None:
    """The built-in suite ``name`` when this install has that very version, else None (results
    stored under another version must not be described with this one's metadata)."""
    try:
        suite = load_suite(name)
    except ArenaError:
        return None
    return suite if suite.version == version else None


def read_test_seed(path: Path) -> int:
    """The secret seed of the test split, from a file only official runs have."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ArenaError(f"cannot read test seed file {path}: {exc.strerror}") from None
    try:
        return int(text)
    except ValueError:
        raise ArenaError(f"test seed file {path} must hold one integer") from None
