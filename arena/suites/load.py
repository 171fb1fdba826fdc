"""Reading suite files: ``name@version`` addresses, validation with one-line errors, includes.

Published suites live in ``arena/suites/files/NAME@VERSION.toml``; a published version never
changes meaning, so a change is a new file. ``NAME`` alone means its latest version. The format is
documented in ``arena/suites/README.md``.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import games
from arena.errors import ArenaError, did_you_mean
from arena.suites.model import Dist, FamilyPlan, Reference, Suite
from games import Variant

SUITES_DIR = Path(__file__).parent / "files"
_ADDRESS = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)(?:@(?P<version>[0-9]+))?$")

_SUITE_KEYS = {
    "name", "version", "description", "budgets", "adapt_seconds", "seeds", "eval_episodes",
    "eval_seconds", "meta_train_steps", "meta_train_seconds", "dev_seed", "include", "meta_train_seeds",
    "text", "token_budgets", "eval_tokens", "test_seed_sha256", "batched_envs", "independent_agent_seeds",
}  # fmt: skip
_FAMILY_KEYS = {
    "interpolation", "extrapolation", "out_of_support", "train", "reference", "eval_episodes", "meta_train_steps",
}  # fmt: skip
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Where:
    """Builds one-line errors that say which file and key is wrong."""

    def __init__(self, path: Path | str):
        self.path = path

    def error(self, key: str, what: str) -> ArenaError:
        return ArenaError(f"{self.path}: [{key}] {what}")

    def unknown(self, key: str, given: Mapping[str, Any], allowed: set[str]) -> None:
        for name in given:
            if name not in allowed:
                raise self.error(key, f"unknown key {name!r}{did_you_mean(name, allowed, cutoff=0.6)}")


def _number(where: _Where, key: str, value: Any, *, integer: bool = False, minimum: float = 0) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise where.error(key, f"must be {kind} >= {minimum}, got {value!r}")
    return value


def _dist(where: _Where, key: str, family: games.Family, param_name: str, raw: Any) -> Dist:
    if param_name not in family.params:
        suggestion = did_you_mean(param_name, family.params, cutoff=0.6)
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
        return Dist("choice", tuple(check(param.from_text(v)) for v in raw["choices"]))
    if isinstance(raw, list):
        if all(isinstance(v, str) for v in raw) and raw:
            return Dist("choice", tuple(check(param.from_text(v)) for v in raw))
        if len(raw) != 2 or not param.numeric:
            raise where.error(key, f"{param_name}: a list must be a [low, high] range of a numeric parameter")
        low, high = check(raw[0]), check(raw[1])
        if low > high:
            raise where.error(key, f"{param_name}: range [{low}, {high}] is empty")
        return Dist("range", (low, high))
    return Dist("fixed", (check(param.from_text(raw)),))


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
        raise where.error("suite.include", "must be a list of suite addresses, like ['classic-v1@1']")
    families: dict[str, Any] = {}
    references: dict[str, Any] = {}
    for address in include:
        name, version = _split_address(address)
        if version is None:
            # An include must not change meaning when the included suite gets a new version.
            raise where.error("suite.include", f"{address!r} must name a version, like '{address}@1'")
        if name in seen:
            raise where.error("suite.include", f"suite {name!r} includes itself")
        path = _suite_file(name, version)
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


def _split_address(address: str) -> tuple[str, int | None]:
    match = _ADDRESS.match(address)
    if match is None:
        raise ArenaError(f"bad suite address {address!r}: expected NAME or NAME@VERSION")
    version = match.group("version")
    return match.group("name"), None if version is None else int(version)


def suite_versions(name: str) -> list[int]:
    """The published versions of a built-in suite, oldest first (empty for an unknown name)."""
    versions = []
    for path in SUITES_DIR.glob(f"{name}@*.toml"):
        number = path.stem.rpartition("@")[2]
        if number.isdigit():
            versions.append(int(number))
    return sorted(versions)


def suite_names() -> list[str]:
    """The built-in suites' names (each has one or more versions)."""
    return sorted({p.stem.rpartition("@")[0] for p in SUITES_DIR.glob("*@*.toml")})


def _suite_file(name: str, version: int | None) -> Path:
    """The file of a built-in suite version (the latest when ``version`` is None)."""
    versions = suite_versions(name)
    if not versions:
        raise ArenaError(f"unknown suite {name!r}{did_you_mean(name, suite_names())}")
    if version is None:
        version = versions[-1]
    elif version not in versions:
        shown = ", ".join(f"{name}@{v}" for v in versions)
        raise ArenaError(f"suite {name!r} has no version {version}; published: {shown}")
    return SUITES_DIR / f"{name}@{version}.toml"


def parse_suite(data: Mapping[str, Any], path: Path | str = "<suite>") -> Suite:
    where = _Where(path)
    name = data.get("suite", {}).get("name", "") if isinstance(data.get("suite"), dict) else ""
    data = _with_includes(data, where, (str(name),))
    where.unknown("top level", data, {"suite", "families", "references", "reproduce"})
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
        n_extra, extrapolation = _group(where, f"{key}.extrapolation", family, raw.get("extrapolation", {}))
        n_out, out_of_support = _group(where, f"{key}.out_of_support", family, raw.get("out_of_support", {}))
        n_interp = _number(where, f"{key}.interpolation", raw.get("interpolation", 0), integer=True)
        if n_interp + n_extra + n_out == 0:
            raise where.error(key, "asks for no test variants: set 'interpolation' and/or extrapolation.count")
        reference = _reference(where, f"{key}.reference", raw["reference"]) if "reference" in raw else None
        if reference is None and family.reference is None:
            raise where.error(key, f"family {name} has no analytic reference: add [{key}.reference]")
        own_episodes = raw.get("eval_episodes")
        own_steps = raw.get("meta_train_steps")
        plans.append(
            FamilyPlan(
                name,
                train,
                extrapolation,
                n_interp,
                n_extra,
                reference,
                out_of_support=out_of_support,
                n_out_of_support=n_out,
                eval_episodes=None
                if own_episodes is None
                else _number(where, f"{key}.eval_episodes", own_episodes, integer=True, minimum=1),
                meta_train_steps=None
                if own_steps is None
                else _number(where, f"{key}.meta_train_steps", own_steps, integer=True),
            )
        )

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
        meta_train_seeds=_number(where, "suite.meta_train_seeds", meta.get("meta_train_seeds", 0), integer=True),
        batched_envs=_flag(where, "suite.batched_envs", meta.get("batched_envs", False)),
        independent_agent_seeds=_flag(
            where, "suite.independent_agent_seeds", meta.get("independent_agent_seeds", False)
        ),
        **_text_track(where, meta, len(budgets), [plan.family for plan in plans]),
        test_seed_sha256=_test_seed_hash(where, meta.get("test_seed_sha256", "")),
        published=_published(where, data.get("reproduce", {})),
    )


def _group(where: _Where, key: str, family: games.Family, raw: Any) -> tuple[int, dict[str, Dist]]:
    """A variant group beside interpolation: ``{count = N, param = range, ...}`` (or just N)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        count, ranges = raw, {}
    elif isinstance(raw, dict):
        count = _number(where, f"{key}.count", raw.get("count", 0), integer=True)
        ranges = {k: v for k, v in raw.items() if k != "count"}
    else:
        raise where.error(key, "must be a table of ranges with a 'count'")
    dists = {p: _dist(where, key, family, p, v) for p, v in ranges.items()}
    if count and not dists:
        raise where.error(key, "these variants need ranges that differ from the train ones")
    return count, dists


def _text_track(where: _Where, meta: Mapping[str, Any], n_budgets: int, families: list[str]) -> dict[str, Any]:
    text = meta.get("text", False)
    if not isinstance(text, bool):
        raise where.error("suite.text", "must be true or false")
    if text:
        from games.text import NoTextRulesError, text_rules

        for family in families:
            try:
                text_rules(family)
            except NoTextRulesError as exc:
                raise where.error(f"families.{family}", f"a text suite's families need text rules: {exc}") from None
        if meta.get("batched_envs", False):
            raise where.error("suite.batched_envs", "a text suite renders every copy as text: batched envs cannot")
    tokens = meta.get("token_budgets", [])
    if not isinstance(tokens, list):
        raise where.error("suite.token_budgets", "must be a list of token counts, one per budget")
    tokens = [_number(where, "suite.token_budgets", t, integer=True) for t in tokens]
    if tokens and len(tokens) != n_budgets:
        raise where.error("suite.token_budgets", f"needs one entry per budget ({n_budgets}), got {len(tokens)}")
    if (tokens or "eval_tokens" in meta) and not text:
        raise where.error("suite.token_budgets", "token budgets belong to a text suite: set text = true")
    eval_tokens = _number(where, "suite.eval_tokens", meta.get("eval_tokens", 0), integer=True)
    return {"text": text, "token_budgets": tuple(tokens), "eval_tokens": eval_tokens}


def _flag(where: _Where, key: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise where.error(key, "must be true or false")
    return raw


def _test_seed_hash(where: _Where, raw: Any) -> str:
    if raw and (not isinstance(raw, str) or not _SHA256.match(raw)):
        raise where.error(
            "suite.test_seed_sha256", "must be 64 lowercase hex digits (sha256 of the seed file's integer)"
        )
    return str(raw)


def _published(where: _Where, raw: Any) -> dict[str, Any]:
    """``[reproduce]``: a published table the suite reproduces, kept as data for ``arena reproduce``."""
    if not isinstance(raw, dict):
        raise where.error("reproduce", "must be a table")
    return dict(raw)


def load_suite_file(path: Path) -> Suite:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ArenaError(f"no suite file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ArenaError(f"{path}: not valid TOML: {exc}") from None
    return parse_suite(data, path)


def load_suite(address: str) -> Suite:
    """A built-in suite by ``name`` (its latest version) or ``name@version``, or any suite TOML
    file by path."""
    path = Path(address)
    if path.suffix == ".toml" or path.exists():
        return load_suite_file(path)
    name, version = _split_address(address)
    file = _suite_file(name, version)
    suite = load_suite_file(file)
    if (suite.name, suite.version) != (name, int(file.stem.rpartition("@")[2])):
        raise ArenaError(f"{file}: declares {suite.id}; a published suite file is named NAME@VERSION.toml")
    return suite


@functools.cache
def installed_suite(name: str, version: int) -> Suite | None:
    """The built-in suite ``name@version`` when this install has it, else None."""
    if version not in suite_versions(name):
        return None
    return load_suite(f"{name}@{version}")


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
