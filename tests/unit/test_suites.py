"""Suites: validation with clear errors, deterministic splits, references."""

from __future__ import annotations

import tomllib

import pytest

from arena.errors import ArenaError
from arena.suites import load_suite, parse_suite, suite_names
from tests.conftest import TINY_SUITE


def tiny(**patch: object) -> dict:
    data = tomllib.loads(TINY_SUITE)
    for dotted, value in patch.items():
        *path, last = dotted.split("__")
        table = data
        for key in path:
            table = table[key]
        if value is None:
            del table[last]
        else:
            table[last] = value
    return data


def test_every_builtin_suite_loads_and_has_dev_variants() -> None:
    for name in suite_names():
        suite = load_suite(name)
        assert suite.variants("dev"), name
        for tv in suite.variants("dev"):
            ref = suite.reference(tv.variant)
            assert ref.reference != ref.random


def test_splits_are_deterministic_and_distinct() -> None:
    suite = parse_suite(tiny())
    dev = [tv.variant.id for tv in suite.variants("dev")]
    assert dev == [tv.variant.id for tv in parse_suite(tiny()).variants("dev")]
    test_a = [tv.variant.id for tv in suite.variants("test", 12345)]
    assert test_a == [tv.variant.id for tv in suite.variants("test", 12345)]
    assert test_a != [tv.variant.id for tv in suite.variants("test", 54321)]
    assert test_a != dev
    with pytest.raises(ArenaError, match="secret seed"):
        suite.variants("test")


def test_extrapolation_variants_come_from_their_own_ranges() -> None:
    suite = load_suite("smoke")
    for tv in suite.variants("dev"):
        if tv.family == "cartpole":
            length = tv.variant.params["length"]
            if tv.group == "extrapolation":
                assert 2.0 <= length <= 3.0
            else:
                assert 0.5 <= length <= 1.5


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"suite__budgets": [60, 0]}, "strictly increasing"),
        ({"suite__budget": [0]}, "did you mean 'budgets'"),
        ({"suite__seeds": -1}, "must be an integer >= 1"),
        ({"families__cartpole__train__lenght": [0.5, 1.0]}, "did you mean 'length'"),
        ({"families__cartpole__train__length": [5.0, 9.0]}, "outside its range"),
        ({"families__cartpole__train__length": [1.5, 0.5]}, "is empty"),
        ({"families__cartpole__reference": None}, "no analytic reference"),
        ({"families__cartpole__interpolation": 0}, "asks for no test variants"),
        ({"suite__adapt_seconds": [1, 2, 3]}, "one entry per budget"),
    ],
)
def test_broken_suites_get_clear_errors(patch: dict, message: str) -> None:
    with pytest.raises(ArenaError, match=message) as info:
        parse_suite(tiny(**patch), "tiny.toml")
    assert str(info.value).startswith("tiny.toml: [")


def test_unknown_family_in_suite_names_the_closest() -> None:
    data = tiny()
    data["families"]["cartpol"] = data["families"].pop("cartpole")
    with pytest.raises(ArenaError, match="did you mean 'cartpole'"):
        parse_suite(data)


def test_unknown_suite_name_suggests() -> None:
    with pytest.raises(ArenaError, match="did you mean 'smoke'"):
        load_suite("smok")


def test_normalized_score_uses_analytic_reference_for_bandits() -> None:
    suite = parse_suite(tiny())
    bandit = next(tv.variant for tv in suite.variants("dev") if tv.family == "bandit")
    ref = suite.reference(bandit)
    assert ref.method == "analytic"
    assert suite.normalized(bandit, ref.random) == pytest.approx(0.0)
    assert suite.normalized(bandit, ref.reference) == pytest.approx(1.0)
    assert suite.normalized(bandit, None) == 0.0


def test_union_suite_takes_families_from_included_suites() -> None:
    union = tiny()
    union["suite"]["include"] = ["smoke@1"]
    del union["families"]
    suite = parse_suite(union)
    assert [p.family for p in suite.families] == [p.family for p in load_suite("smoke@1").families]
    assert suite.budgets == (0, 60)  # the protocol is the union suite's own
    clash = tiny()
    clash["suite"]["include"] = ["smoke@1"]
    with pytest.raises(ArenaError, match="also comes from an included suite"):
        parse_suite(clash)
    unpinned = tiny()
    unpinned["suite"]["include"] = ["smoke"]
    with pytest.raises(ArenaError, match="must name a version, like 'smoke@1'"):
        parse_suite(unpinned)


def test_suite_versions_are_addressed_as_name_at_version(tmp_path, monkeypatch) -> None:
    from arena.suites import load as suite_files

    files = tmp_path / "files"
    files.mkdir()
    one = (suite_files.SUITES_DIR / "smoke@1.toml").read_text()
    (files / "smoke@1.toml").write_text(one)
    (files / "smoke@2.toml").write_text(one.replace("version = 1", "version = 2").replace("seeds = 2 ", "seeds = 3 "))
    (files / "odd@1.toml").write_text(one)  # declares smoke@1 under another name
    monkeypatch.setattr(suite_files, "SUITES_DIR", files)
    assert suite_files.suite_versions("smoke") == [1, 2]
    assert load_suite("smoke").id == "smoke@2"  # the latest by default
    assert (load_suite("smoke@1").seeds, load_suite("smoke@2").seeds) == (2, 3)
    with pytest.raises(ArenaError, match=r"has no version 3; published: smoke@1, smoke@2"):
        load_suite("smoke@3")
    with pytest.raises(ArenaError, match="did you mean 'smoke'"):
        load_suite("smok@1")
    with pytest.raises(ArenaError, match="declares smoke@1"):
        load_suite("odd")
