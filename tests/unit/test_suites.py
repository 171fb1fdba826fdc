"""Suites: validation with clear errors, deterministic splits, references."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.suites import Suite, load_suite, parse_suite, suite_names
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
    suite = load_suite("smoke@1")
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


# -- protocol 2 -------------------------------------------------------------------------------


def test_a_suite_whose_constant_action_is_near_optimal_is_refused_in_one_line() -> None:
    from arena.suites import checks

    data = tiny()
    data["suite"]["name"] = "lazy"
    del data["families"]["cartpole"]
    data["families"]["bandit"]["train"] = {"arms": 2, "task": 7, "horizon": 20}  # every variant the same task
    suite = parse_suite(data)
    import numpy as np

    from games import metarl

    best = int(np.argmax(metarl.bandit_means({"task": 7, "arms": 2})))
    with pytest.raises(ArenaError, match=rf"family bandit: the constant action {best} scores >= 0.5") as caught:
        checks.check(suite)
    assert "\n" not in str(caught.value)
    # Published suites that predate the check are warned about, never changed or refused.
    assert [f.family for f in checks.check(load_suite("smoke@1"))] == ["bandit"]
    for name in ("smoke@2", "metarl-v2@1", "rl2-paper@1"):
        assert checks.check(load_suite(name)) == [], name


def test_the_online_score_is_the_regret_normalized_return_of_the_whole_trial() -> None:
    import games
    from games import metarl

    suite = parse_suite(tiny())
    variant = games.parse_variant("bandit(arms=3,horizon=20,task=5)")
    p = metarl.bandit_means(variant.params)
    low, high = 20 * p.mean(), 20 * p.max()
    # 60 adaptation pulls that earned 40, then two evaluation episodes of 20 pulls.
    random_total = 60 * p.mean() + 2 * low
    best_total = 60 * p.max() + 2 * high
    expected = (40 + 15 + 17 - random_total) / (best_total - random_total)
    assert suite.online(variant, 40.0, 60, [15.0, 17.0]) == pytest.approx(expected)
    assert suite.online(variant, 0.0, 0, [15.0, 17.0]) == pytest.approx(suite.normalized(variant, 16.0))  # budget 0
    assert suite.online(variant, None, 60, []) == 0.0  # a failed trial: the floor
    assert suite.online(games.parse_variant("cartpole"), 10.0, 5, [9.0]) is None  # no analytic reference


def test_meta_training_seeds_cross_trials_and_keep_the_legacy_derivation_without_them() -> None:
    from arena.harness.trial import MetaTrainSeeds
    from arena.seeding import derive_seed

    legacy = MetaTrainSeeds.of("smoke@1", "bandit", 0, legacy=True)
    assert legacy.agent == derive_seed("agent", "meta_train") % 2**31  # what recorded results were made with
    assert legacy.env == derive_seed("smoke@1", "bandit", "meta_train") and legacy.sampler == 0
    seeded = [MetaTrainSeeds.of("metarl-v2@1", "bandit", s, legacy=False) for s in range(3)]
    assert len({s.agent for s in seeded}) == len({s.env for s in seeded}) == len({s.sampler for s in seeded}) == 3
    suite = load_suite("metarl-v2@1")
    assert suite.meta_train_seed_list() == (0, 1, 2) and load_suite("metarl-v1").meta_train_seed_list() == (0,)
    groups = {tv.group for tv in suite.variants("dev")}
    assert groups == {"interpolation", "extrapolation", "out_of_support"}
    assert all(
        sum(tv.family == p.family and tv.group == "interpolation" for tv in suite.variants("dev")) >= 10
        for p in suite.families
    )


def test_the_rl2_paper_families_have_the_papers_settings() -> None:
    import numpy as np

    import games
    from games import rl2_paper

    env = games.make("rl2_bandit_k50_n500(task=1)")
    assert env.action_space.n == 50
    env.reset(seed=0)
    steps = 0
    while True:
        _, reward, terminated, truncated, _ = env.step(0)
        steps += 1
        assert reward in (0.0, 1.0)
        if terminated or truncated:
            break
    assert steps == 500
    mdp = games.make("rl2_mdp_n25(task=2)")
    assert (mdp.observation_space.shape, mdp.action_space.n) == ((11,), 5)
    starts = {int(np.argmax(mdp.reset(seed=s)[0][:10])) for s in range(20)}
    assert starts == {0}  # every episode starts in state 0
    transitions, _ = rl2_paper.mdp_tables(2)
    assert transitions.shape == (10, 5, 10) and np.allclose(transitions.sum(axis=2), 1.0)
    all_means = np.concatenate([rl2_paper.mdp_tables(t)[1].ravel() for t in range(200)])
    assert abs(all_means.mean() - 1.0) < 0.05 and abs(all_means.std() - 1.0) < 0.05  # μ ~ N(1, 1)
    suite = load_suite("rl2-paper")
    assert {p.family: suite.eval_episodes_of(p.family) for p in suite.families}["rl2_mdp_n75"] == 75
    assert sum(tv.family == "rl2_bandit_k5_n100" for tv in suite.variants("dev")) == 1000


def test_independent_agent_seeds_give_each_variants_trial_its_own_agent_seed_and_published_suites_keep_theirs() -> None:
    from arena.harness.jobs import TrialJob
    from arena.harness.trial import TrialSeeds
    from arena.seeding import derive_seed
    from arena.submission import load_submission

    submission = load_submission(Path(__file__).resolve().parents[2] / "submissions" / "random")

    def agent_seeds(suite: Suite, seed: int) -> list[int]:
        return [
            TrialSeeds.of(TrialJob(submission=submission, suite=suite, split="dev", variant=tv.variant.id,
                                   group=tv.group, budget=0, adapt_seconds=1.0, seed=seed,
                                   split_seed=suite.dev_seed)).agent
            for tv in suite.variants("dev")
        ]  # fmt: skip

    many = {"families__cartpole__interpolation": 3, "families__bandit__interpolation": 3}
    shared = agent_seeds(parse_suite(tiny(**many)), 0)
    assert set(shared) == {derive_seed("agent", 0) % 2**31}  # every suite before the key: one stream
    independent = parse_suite(tiny(suite__independent_agent_seeds=True, **many))
    seeds = agent_seeds(independent, 0)
    assert len(set(seeds)) == len(seeds) == 6 and seeds == agent_seeds(independent, 0)
    assert set(seeds).isdisjoint(agent_seeds(independent, 1))
    for name in ("smoke@1", "rl2-paper@1", "metarl-v2@1"):  # published: their recorded trials stay as they were
        assert not load_suite(name).independent_agent_seeds, name
    with pytest.raises(ArenaError, match=r"independent_agent_seeds.*must be true or false"):
        parse_suite(tiny(suite__independent_agent_seeds="yes"))
