"""Scoring statistics against hand-checked values and scipy.stats computed directly."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import scipy.stats

from arena import scoring
from arena.records import TrialRecord
from arena.scoring import Interval
from tests.conftest import make_trial


def test_iqm_hand_checked() -> None:
    assert scoring.iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert scoring.iqm([0, 0, 0, 100]) == pytest.approx(0.0)  # the outlier is cut
    assert scoring.iqm([5, 1, 3, 2, 4]) == pytest.approx(3.0)  # one cut each side: mean of 2, 3, 4
    assert scoring.iqm([0.7]) == pytest.approx(0.7)
    assert math.isnan(scoring.iqm([]))
    x = np.random.default_rng(1).normal(size=37)
    assert scoring.iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25))


def test_optimality_gap_profile_and_area() -> None:
    assert scoring.optimality_gap([0.5, 1.2, -0.5]) == pytest.approx((0.5 + 0.0 + 1.5) / 3)
    profile = scoring.performance_profile([0.0, 0.5, 1.0, 1.5], [0.0, 0.5, 1.0, 2.0])
    assert profile.tolist() == [0.75, 0.5, 0.25, 0.0]  # strictly greater than tau
    # The area is measured on x = log10(1 + budget): budgets 0, 99, 9999 sit at x = 0, 2, 4.
    assert scoring.adaptation_area([0.0, 1.0], [0, 9]) == pytest.approx(0.5)
    assert scoring.adaptation_area([0.2, 0.2, 0.8], [0, 99, 9999]) == pytest.approx((0.2 * 2 + 0.5 * 2) / 4)
    # Unequal spacing weighs the wider interval more: x = 0, 1, 3.
    assert scoring.adaptation_area([0.0, 1.0, 1.0], [0, 9, 999]) == pytest.approx((0.5 * 1 + 1.0 * 2) / 3)
    assert scoring.adaptation_area([0.3], [500]) == pytest.approx(0.3)
    assert math.isnan(scoring.adaptation_area([0.1, math.nan], [0, 9]))
    rows = scoring.adaptation_area([[0.0, 1.0], [1.0, 1.0]], [0, 9])  # vectorised over leading axes
    assert rows.tolist() == pytest.approx([0.5, 1.0])


def test_probability_of_improvement_hand_checked() -> None:
    # family a: pairs (1>0)=1, (1<2)=0, (2>0)=1, (2=2)=½ -> 2.5/4; family b: 0 > 1 never -> 0.
    x = {"a": [1.0, 2.0], "b": [0.0]}
    y = {"a": [0.0, 2.0], "b": [1.0], "only_y": [5.0]}
    found = scoring.probability_of_improvement(x, y, n_resamples=0)
    assert found.estimate == pytest.approx((0.625 + 0.0) / 2)
    direct = np.mean([scipy.stats.mannwhitneyu(x[f], y[f]).statistic / (len(x[f]) * len(y[f])) for f in ("a", "b")])
    assert found.estimate == pytest.approx(direct)
    assert math.isnan(scoring.probability_of_improvement({"a": [1.0]}, {"b": [1.0]}).estimate)


def test_probability_of_improvement_interval() -> None:
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(0.6, 0.2, 12), "b": rng.normal(0.5, 0.2, 9)}
    y = {"a": rng.normal(0.4, 0.2, 10), "b": rng.normal(0.5, 0.2, 8)}
    xy = scoring.probability_of_improvement(x, y, n_resamples=500)
    yx = scoring.probability_of_improvement(y, x, n_resamples=500)
    assert 0.0 <= xy.low <= xy.estimate <= xy.high <= 1.0
    assert xy.high > xy.low
    assert xy.estimate + yx.estimate == pytest.approx(1.0)
    same = scoring.probability_of_improvement(x, x, n_resamples=200)
    assert same.estimate == pytest.approx(0.5)


def test_rank_based_improvement_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(6, 7)).astype(float)  # many ties
    y = rng.integers(0, 4, size=(6, 5)).astype(float)
    brute = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2)) + 0.5 * (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    assert scoring._pairwise_improvement(x, y) == pytest.approx(brute)


def test_stratified_bootstrap_keeps_family_sizes_fixed() -> None:
    # Family membership is visible in the values: a in [0, 1), b in [10, 11), c (one run) at 20.
    rng = np.random.default_rng(5)
    a, b, c = rng.random(7), 10 + rng.random(4), np.array([20.0])
    seen: list[tuple[int, ...]] = []

    def sizes(strata: scoring.Strata) -> np.ndarray:
        seen.append(tuple(s.shape[-1] for s in strata))
        runs = np.concatenate([np.broadcast_to(s, (*strata[0].shape[:-1], s.shape[-1])) for s in strata], axis=-1)
        return ((runs >= 10) & (runs < 11)).sum(axis=-1).astype(float)  # how many runs of family b

    found = scoring.stratified_bootstrap([a, b, c], sizes, n_resamples=300)
    assert seen and all(shape == (7, 4, 1) for shape in seen)
    assert (found.estimate, found.low, found.high) == (4.0, 4.0, 4.0)  # every resample holds 4 of b

    # The same statistic under a pooled (unstratified) bootstrap varies: the test above is not vacuous.
    pooled = np.concatenate([a, b, c])
    plain = scipy.stats.bootstrap(
        (pooled,),
        lambda x, axis: ((x >= 10) & (x < 11)).sum(axis=axis).astype(float),
        n_resamples=300,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    assert plain.confidence_interval.low < 4.0 < plain.confidence_interval.high


def test_iqm_interval_matches_an_independent_stratified_bootstrap() -> None:
    rng = np.random.default_rng(6)
    families = {"a": rng.normal(0.2, 0.3, 10), "b": rng.normal(0.8, 0.1, 6), "c": rng.normal(0.5, 0.5, 8)}
    found = scoring.iqm_interval(families, n_resamples=2000)
    assert found.estimate == pytest.approx(scipy.stats.trim_mean(np.concatenate(list(families.values())), 0.25))

    # Hand-written stratified percentile bootstrap with another random stream (and more resamples).
    own = np.random.default_rng(99)
    resamples = np.concatenate([v[own.integers(0, v.size, (20000, v.size))] for v in families.values()], axis=1)
    low, high = np.percentile(scipy.stats.trim_mean(resamples, 0.25, axis=1), [2.5, 97.5])
    assert found.low == pytest.approx(low, abs=0.02)
    assert found.high == pytest.approx(high, abs=0.02)
    assert found.low < found.estimate < found.high


def test_iqm_interval_is_reproducible_and_handles_single_runs() -> None:
    families = {"a": [0.1, 0.4, 0.3, 0.9], "b": [0.5, 0.6]}
    assert scoring.iqm_interval(families, seed=7) == scoring.iqm_interval(families, seed=7)
    assert scoring.iqm_interval({"a": [0.3]}) == Interval(0.3, 0.3, 0.3)
    assert scoring.iqm_interval({"a": [0.3], "b": [0.5]}) == Interval(0.4, 0.4, 0.4)
    mixed = scoring.iqm_interval({"a": [0.3], "b": [0.1, 0.9, 0.5]}, n_resamples=300)
    assert mixed.low < mixed.high
    assert math.isnan(scoring.iqm_interval({}).estimate)


def test_aggregate_statistics() -> None:
    agg = scoring.aggregate({"a": [0.0, 1.0, 2.0], "b": [3.0]}, n_resamples=100)
    assert agg.n == 4
    assert agg.iqm.estimate == pytest.approx(1.5)  # mean of 1, 2
    assert agg.median == pytest.approx(1.5)
    assert agg.mean == pytest.approx(1.5)
    assert agg.optimality_gap == pytest.approx(1.0 / 4)
    assert scoring.aggregate({}).n == 0


def test_status_counts() -> None:
    records = [make_trial(status=s) for s in ("ok", "ok", "timeout", "skipped", "error")]
    counts = scoring.status_counts(records)
    assert list(counts) == ["ok", "error", "timeout", "invalid_action", "oom", "skipped"]
    assert counts == {"ok": 2, "error": 1, "timeout": 1, "invalid_action": 0, "oom": 0, "skipped": 1}


def _record(
    submission: str, family: str, variant: str, group: str, budget: int, seed: int, score: float | None, **kw: Any
) -> TrialRecord:
    return make_trial(
        submission=submission,
        submission_version="1.0",
        submission_hash=f"hash-{submission}",
        suite=kw.pop("suite", "smoke"),
        variant=variant,
        family=family,
        variant_group=group,
        budget=budget,
        seed=seed,
        normalized_score=score,
        finished_at=kw.pop("finished_at", "2026-01-01T00:00:00+00:00"),
        **kw,
    )


def _board_records(scores: dict[str, dict[int, list[float]]]) -> list[TrialRecord]:
    """Each submission: budget -> 8 scores = 2 families x 2 variants (interp, extrap) x 2 seeds."""
    records = []
    for name, by_budget in scores.items():
        for budget, values in by_budget.items():
            it = iter(values)
            for family in ("bandit", "cartpole"):
                for group in ("interpolation", "extrapolation"):
                    for seed in range(2):
                        records.append(_record(name, family, f"{family}({group[0]})", group, budget, seed, next(it)))
    return records


def test_score_board_ranks_and_aggregates() -> None:
    strong = {0: [0.1, 0.2, 0.0, 0.1, 0.3, 0.2, 0.1, 0.0], 500: [0.9, 0.8, 0.7, 0.6, 1.0, 0.9, 0.8, 0.7]}
    weak = {0: [0.0] * 8, 500: [0.1, 0.0, 0.2, 0.1, 0.0, 0.1, 0.2, 0.0]}
    records = _board_records({"weak": weak, "strong": strong})
    last_weak = 15  # weak's records come first: 2 budgets x 8
    assert records[last_weak].submission == "weak" and records[last_weak].budget == 500
    records[last_weak] = replace(records[last_weak], status="timeout", normalized_score=None, error="too slow")
    # P(improvement) is computed where it is shown: over the baselines, and for pairs asked for.
    (board,) = scoring.score(records, baselines={"weak"}, pairs=[("weak", "strong")], n_resamples=200)
    assert board.id == "smoke@1/dev"
    assert board.budgets == (0, 500) and board.headline_budget == 500
    assert board.families == ("bandit", "cartpole")
    assert board.groups == ("interpolation", "extrapolation")
    assert [(e.rank, e.submission) for e in board.entries] == [(1, "strong"), (2, "weak")]

    top = board.entries[0]
    head = top.headline(500)
    assert head is not None and head.n == 8
    assert head.iqm.estimate == pytest.approx(scipy.stats.trim_mean(strong[500], 0.25))
    assert head.mean == pytest.approx(np.mean(strong[500]))
    assert head.median == pytest.approx(np.median(strong[500]))
    assert head.iqm.low <= head.iqm.estimate <= head.iqm.high
    bandit = top.budgets[500].families["bandit"]
    assert bandit.n == 4 and bandit.mean == pytest.approx(np.mean(strong[500][:4]))
    interp = top.budgets[500].groups["interpolation"]
    assert interp.mean == pytest.approx(np.mean([0.9, 0.8, 1.0, 0.9]))
    expected_area = (scipy.stats.trim_mean(strong[0], 0.25) + scipy.stats.trim_mean(strong[500], 0.25)) / 2
    assert top.area.estimate == pytest.approx(expected_area)  # two budgets: the mean of the two IQMs
    assert top.area.low <= top.area.estimate <= top.area.high
    assert [iv.estimate for iv in top.curve(board.budgets) if iv] == pytest.approx(
        [scipy.stats.trim_mean(strong[b], 0.25) for b in (0, 500)]
    )

    weak_entry = board.entries[1]
    assert weak_entry.statuses["timeout"] == 1 and weak_entry.statuses["ok"] == 15
    assert weak_entry.n_trials == 16
    # The timed-out trial (last of weak, score None) counts as 0, the floor.
    assert weak_entry.budgets[500].overall.mean == pytest.approx(np.mean([*weak[500][:-1], 0.0]))

    cartpole = top.budgets[500].family_groups["cartpole"]
    assert list(cartpole) == ["interpolation", "extrapolation"]
    assert cartpole["extrapolation"].mean == pytest.approx(np.mean([1.0, 0.9, 0.8, 0.7][2:]))
    assert top.budgets[500].variants["bandit(i)"] == pytest.approx(np.mean([0.9, 0.8]))
    assert board.variants["cartpole(e)"] == ("cartpole", "extrapolation")
    assert top.failures == ()
    assert weak_entry.failures == (scoring.Failure("timeout", "too slow", "cartpole(e)", 500, 1),)

    p = board.improvement[("hash-strong", "hash-weak")]
    assert p.estimate == pytest.approx(1.0)
    assert board.improvement[("hash-weak", "hash-strong")].estimate == pytest.approx(0.0)
    assert set(board.improvement) == {("hash-strong", "hash-weak"), ("hash-weak", "hash-strong")}
    json.dumps(scoring.board_as_dict(board), allow_nan=False)
    rows = scoring.standings_rows([board])
    assert [r["submission"] for r in rows] == ["strong", "weak"]
    assert rows[0]["iqm_500"] == pytest.approx(head.iqm.estimate)


def test_ties_share_a_rank_and_baselines_limit_comparisons() -> None:
    same = {0: [0.5] * 8}
    records = _board_records({"a": same, "b": same, "c": {0: [0.1] * 8}})
    (board,) = scoring.score(records, baselines={"c"}, n_resamples=50)
    assert [(e.rank, e.submission) for e in board.entries] == [(1, "a"), (1, "b"), (3, "c")]
    assert set(board.improvement) == {("hash-a", "hash-c"), ("hash-b", "hash-c")}


def test_boards_are_split_by_suite_version_and_split() -> None:
    base = _board_records({"a": {0: [0.5] * 8}})
    records = (
        base
        + [replace(r, split="test") for r in base]
        + [replace(r, suite_version=2) for r in base]
        + [replace(r, suite="another") for r in base]
    )
    boards = scoring.score(records, n_resamples=0)
    assert [b.id for b in boards] == ["another@1/dev", "smoke@2/dev", "smoke@1/test", "smoke@1/dev"]
    with pytest.raises(ValueError, match="several boards"):
        scoring.score_board(records)
    assert scoring.score([]) == []


def test_missing_budget_leaves_area_undefined_and_ranks_last() -> None:
    records = _board_records({"full": {0: [0.2] * 8, 500: [0.3] * 8}, "partial": {0: [0.9] * 8}})
    (board,) = scoring.score(records, n_resamples=0)
    assert [e.submission for e in board.entries] == ["full", "partial"]
    partial = board.entries[1]
    assert partial.headline(500) is None and math.isnan(partial.area.estimate)
    assert partial.curve(board.budgets)[1] is None
    json.dumps(scoring.board_as_dict(board), allow_nan=False)


# -- protocol 2: the area headline, ties, groups, views, references, meta-training runs --------


def _unit_records(name: str, budgets: dict[int, list[float]], **kw: Any) -> list[TrialRecord]:
    """One family, one variant per score (units), at each budget."""
    return [
        _record(name, "bandit", f"bandit(v{i})", kw.get("group", "interpolation"), budget, 0, score)
        for budget, values in budgets.items()
        for i, score in enumerate(values)
    ]


def test_the_area_is_the_headline_and_overlapping_intervals_are_ties() -> None:
    # "late" wins at the largest budget, "early" wins the area: early is ranked first.
    early = _unit_records("early", {0: [0.6] * 8, 99: [0.7] * 8, 9999: [0.8] * 8})
    late = _unit_records("late", {0: [0.0] * 8, 99: [0.1] * 8, 9999: [0.9] * 8})
    near = _unit_records("near", {0: [0.55, 0.65] * 4, 99: [0.6, 0.8] * 4, 9999: [0.7, 0.9] * 4})
    broken = [
        replace(r, status="error", normalized_score=None)
        for r in _unit_records("broken", {0: [0.9] * 8, 99: [0.9] * 8, 9999: [0.9] * 8})
    ]
    (board,) = scoring.score(early + late + near + broken, n_resamples=300)
    assert [e.submission for e in board.entries] == ["early", "near", "late", "broken"]
    by = {e.submission: e for e in board.entries}
    # Hand-computed on x = log10(1 + budget) = 0, 2, 4: ((0.6 + 0.7) + (0.7 + 0.8)) / 2 * 2 / 4.
    assert by["early"].area.estimate == pytest.approx(0.7)
    assert by["late"].area.estimate == pytest.approx(((0.0 + 0.1) + (0.1 + 0.9)) / 4)
    assert by["early"].area.low == by["early"].area.high == pytest.approx(0.7)  # every unit the same
    assert by["near"].tied and by["near"].area.high >= by["early"].area.low
    assert not by["late"].tied and not by["early"].tied
    assert by["broken"].all_failed and not by["broken"].tied and by["broken"].rank == 4


def test_out_of_support_variants_are_reported_apart_never_pooled() -> None:
    inside = _unit_records("a", {0: [0.5] * 4, 9: [0.5] * 4})
    outside = _unit_records("a", {0: [-1.0] * 4, 9: [-1.0] * 4}, group="out_of_support")
    outside = [replace(r, variant=r.variant.replace("bandit(v", "bandit(o")) for r in outside]
    (board,) = scoring.score(inside + outside, n_resamples=0)
    entry = board.entries[0]
    assert entry.area.estimate == pytest.approx(0.5)  # the -1 variants are not in the headline
    assert entry.budgets[9].overall.n == 4
    assert entry.budgets[9].groups["out_of_support"].mean == pytest.approx(-1.0)
    assert "out_of_support" in board.groups


def test_the_online_view_scores_online_scores_and_references_are_listed_apart() -> None:
    agent = [replace(r, online_score=0.2) for r in _unit_records("agent", {0: [0.9] * 4, 9: [0.9] * 4})]
    ref = [replace(r, online_score=0.8) for r in _unit_records("thompson", {0: [0.1] * 4, 9: [0.1] * 4})]
    cartpole = [replace(r, family="cartpole", variant="cartpole(x)") for r in _unit_records("agent", {0: [0.3]})]
    records = agent + ref + cartpole
    (final,) = scoring.score(records, references={"hash-thompson"}, n_resamples=0)
    assert [e.submission for e in final.entries] == ["agent"] and [e.submission for e in final.references] == [
        "thompson"
    ]
    assert final.references[0].rank == 0 and final.entry("hash-thompson") is final.references[0]
    (online,) = scoring.score(records, references={"hash-thompson"}, view="online", n_resamples=0)
    assert online.families == ("bandit",)  # cartpole has no online score
    assert online.entries[0].area.estimate == pytest.approx(0.2)
    assert online.references[0].area.estimate == pytest.approx(0.8)


def _clustered(spread: float) -> list[TrialRecord]:
    """The same 60 scores, 20 units from each of 3 meta-training runs whose means differ by ``spread``."""
    rng = np.random.default_rng(3)
    out = []
    for run in range(3):
        for unit in range(20):
            score = 0.5 + spread * (run - 1) + float(rng.normal(0, 0.05))
            for budget in (0, 9):
                out.append(
                    make_trial(
                        submission="a", submission_hash="hash-a", suite="smoke", family="bandit",
                        variant=f"bandit(v{unit})", budget=budget, meta_train_seed=run, normalized_score=score,
                    )
                )  # fmt: skip
    return out


def test_the_bootstrap_over_meta_training_runs_widens_the_interval_when_they_disagree() -> None:
    disagree = _clustered(spread=0.3)
    as_one_run = [replace(r, meta_train_seed=0, variant=f"{r.variant}-{r.meta_train_seed}") for r in disagree]
    (clustered,) = scoring.score(disagree, n_resamples=1000)
    (flat,) = scoring.score(as_one_run, n_resamples=1000)
    for board in (clustered, flat):
        assert board.entries[0].budgets[9].overall.n == 60
    wide, narrow = clustered.entries[0], flat.entries[0]
    width = lambda iv: iv.high - iv.low  # noqa: E731
    assert wide.area.estimate == pytest.approx(narrow.area.estimate)
    assert width(wide.area) > 2 * width(narrow.area)
    assert width(wide.budgets[9].overall.iqm) > 2 * width(narrow.budgets[9].overall.iqm)
    # Runs that agree: the two-level interval is no wider than a plain one by much.
    (agree,) = scoring.score(_clustered(spread=0.0), n_resamples=1000)
    assert width(agree.entries[0].area) < 0.5 * width(wide.area)
