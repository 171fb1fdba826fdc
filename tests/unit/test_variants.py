"""Variant specs: OpenSpiel game-string syntax, typed and range-checked, canonical round trip."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import games
from games.core import Spec, format_spec, parse_spec


def test_canonical_form_sorts_keys_and_drops_defaults() -> None:
    variant = games.parse_variant("cartpole(masspole=0.1,gravity=12,length=0.8)")
    assert variant.id == "cartpole(gravity=12.0,length=0.8)"
    assert games.parse_variant(variant.id) == variant
    assert games.parse_variant("cartpole()").id == "cartpole"
    assert games.parse_variant("cartpole").params["gravity"] == 9.8


def test_nested_specs_parse_and_format() -> None:
    spec = parse_spec("connect_four(opponent=mcts(sims=50,c=1.5),rows=5)")
    assert spec.kwargs["opponent"] == Spec("mcts", (("c", 1.5), ("sims", 50)))
    assert str(spec) == "connect_four(opponent=mcts(c=1.5,sims=50),rows=5)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cartpol", "did you mean 'cartpole'"),
        ("cartpole(lenght=1.0)", "did you mean 'length'"),
        ("cartpole(length=9.0)", "outside its range"),
        ("cartpole(length=abc)", "must be a number"),
        ("bandit(arms=2.5)", "must be an integer"),
        ("cartpole(length=1.0", "expected ',' or ')'"),
        ("cartpole(length=1.0,length=2.0)", "given twice"),
        ("cartpole(length=nan)", "must be a number"),
    ],
)
def test_bad_variants_get_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(games.SpecError, match=re.escape(message)) as info:
        games.parse_variant(text)
    assert "\n" not in str(info.value)


def _values() -> st.SearchStrategy[object]:
    # A nested spec without arguments is written as its bare name, which the syntax layer reads
    # back as a string (the typed layer turns it into a spec); so nested specs here have arguments.
    names = st.from_regex(r"[a-z][a-z_]{0,6}", fullmatch=True).filter(
        lambda s: s not in ("true", "false", "nan", "inf")
    )
    scalars = st.one_of(
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.booleans(),
        names,
    )
    return st.recursive(
        scalars,
        lambda inner: st.builds(
            lambda n, kv: parse_spec(format_spec(n, kv)), names, st.dictionaries(names, inner, min_size=1, max_size=3)
        ),
        max_leaves=6,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), _values(), max_size=5),
)
def test_syntax_round_trips(name: str, kwargs: dict[str, object]) -> None:
    text = format_spec(name, kwargs)
    spec = parse_spec(text)
    assert spec.name == name
    assert spec.kwargs == kwargs
    assert format_spec(spec.name, spec.kwargs) == text


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.2, 3.0),
    st.floats(2.0, 20.0),
    st.floats(2.0, 30.0),
)
def test_typed_variants_round_trip(length: float, gravity: float, force: float) -> None:
    variant = games.Variant.of("cartpole", length=length, gravity=gravity, force=force)
    again = games.parse_variant(variant.id)
    assert again == variant
    assert again.params["length"] == length


def test_make_vector_gives_copies_of_the_variant_that_autoreset_in_the_same_step() -> None:
    """The in-process twin of the harness's vector env: a copy whose episode ends reports its
    last observation in ``final_obs`` and already holds the next episode's first."""
    import numpy as np

    env = games.make_vector("cartpole(length=2.0)", 3)
    assert env.num_envs == 3
    assert {copy.unwrapped.length for copy in env.envs} == {games.make("cartpole(length=2.0)").unwrapped.length}
    assert games.make("cartpole(length=2.0)").unwrapped.length != games.make("cartpole").unwrapped.length
    env.reset(seed=0)
    for _ in range(500):  # always pushing left ends every episode within a few dozen steps
        obs, _, terminated, truncated, info = env.step(np.zeros(3, dtype=np.int64))
        ended = terminated | truncated
        if ended.any():
            break
    assert ended.any() and info["_final_obs"].tolist() == ended.tolist()
    i = int(np.flatnonzero(ended)[0])
    assert abs(info["final_obs"][i][2]) > 0.2  # the pole had fallen (angle past the limit)
    assert abs(obs[i][2]) < 0.05  # the new episode starts upright
    env.close()


def test_families_are_registered_lazily_and_the_provider_list_is_complete() -> None:
    """Every family a provider module registers is declared, so asking for it imports the module
    (and code that never asks never imports OpenSpiel or PettingZoo)."""
    import subprocess
    import sys

    import games

    assert sorted(games.families()) == games.family_names()
    probe = (
        "import sys, games\n"
        "games.parse_variant('bandit(arms=3)')\n"
        "assert 'pyspiel' not in sys.modules and 'pettingzoo' not in sys.modules, 'loaded too early'\n"
        "games.get_family('kuhn_poker')\n"
        "assert 'pyspiel' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
