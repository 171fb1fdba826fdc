"""Scoring: from stored trial records to aggregate statistics with honest uncertainty.

Stage 5 of the pipeline (suite → variants → trials → store → scoring → site). It knows only the
trial records the store keeps (:class:`arena.records.TrialRecord`) and does no I/O.

The statistics follow Agarwal et al., "Deep RL at the Edge of the Statistical Precipice" (2021),
the method of the ``rliable`` library:

- A **run** is one trial (variant × seed) at one budget; its score is the trial's
  ``normalized_score``. Failed trials are stored at 0.0, the random floor, and are counted.
- **IQM** is the interquartile mean, ``scipy.stats.trim_mean(x, 0.25)``: the mean of the middle
  half of the runs, robust to outliers yet using more runs than the median.
- **Confidence intervals** are 95% percentile intervals of a **stratified bootstrap**: the runs of
  each family are resampled with replacement independently (``scipy.stats.bootstrap`` given one
  sample per family), so each resample keeps every family's number of runs and the statistic is
  computed over the families combined. A family with a single run always resamples to itself.
- **Optimality gap** is the mean of ``max(0, 1 - score)``: how far runs fall short of the
  reference, with no credit for exceeding it.
- **Probability of improvement** ``P(X > Y)`` is, per family, the Mann–Whitney ``U`` statistic of
  X's runs against Y's divided by ``n·m`` (ties count one half), averaged over the families both
  have run; its interval resamples both submissions' runs within each family.
- **Performance profile**: the fraction of runs whose score exceeds ``τ``, over a grid of ``τ``.
- **Adaptation curve**: the IQM at each budget of the suite. Its **area** is the trapezoid rule
  over the *budget index* (budgets are equally spaced on the x axis, as suites list them roughly
  geometrically; ``log(budget)`` would be undefined at the zero-shot budget 0), divided by the
  number of intervals: the curve's average height, on the same scale as an IQM. With one budget
  it is that budget's IQM.

Scores are grouped into **boards**: one per (suite, suite version, split). A board ranks its
entries (one per submission hash) by IQM at the board's largest budget, the headline figure.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike, NDArray

from arena.records import TRIAL_STATUSES, Status, TrialRecord

Record = TrialRecord
Strata = Sequence[NDArray[np.float64]]
# A vectorised statistic of stratified data: one array per stratum, resamples on the leading axes,
# runs on the last; returns one value per resample.
StratifiedStatistic = Callable[[Strata], NDArray[np.float64]]

N_RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
DEFAULT_TAUS: tuple[float, ...] = tuple(round(t, 3) for t in np.linspace(0.0, 1.5, 61))
GROUPS = ("interpolation", "extrapolation", "train")


# --------------------------------------------------------------------------------------------
# Point statistics
# --------------------------------------------------------------------------------------------


def _array(scores: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(scores, dtype=np.float64)


def iqm(scores: ArrayLike, axis: int = -1) -> Any:
    """Interquartile mean: the mean of the middle 50% of the runs (NaN for no runs)."""
    x = _array(scores)
    if x.shape[axis] == 0:
        return math.nan
    return scipy.stats.trim_mean(x, 0.25, axis=axis)


def optimality_gap(scores: ArrayLike, axis: int = -1) -> Any:
    """Mean of ``max(0, 1 - score)``: the shortfall from the reference score of 1."""
    x = _array(scores)
    if x.shape[axis] == 0:
        return math.nan
    return np.mean(np.maximum(0.0, 1.0 - x), axis=axis)


def performance_profile(scores: ArrayLike, taus: Sequence[float] = DEFAULT_TAUS) -> NDArray[np.float64]:
    """The fraction of runs with score strictly greater than each ``τ``."""
    x = _array(scores).ravel()
    if x.size == 0:
        return np.full(len(taus), math.nan)
    return np.mean(x[None, :] > _array(taus)[:, None], axis=1)


def adaptation_area(values: Sequence[float]) -> float:
    """Average height of the curve through ``values`` at equally spaced budget indices.

    The trapezoid rule over the budget index, divided by ``len(values) - 1``; a single value is
    its own area. NaN when any value is missing.
    """
    y = _array(values)
    if y.size == 0 or np.isnan(y).any():
        return math.nan
    if y.size == 1:
        return float(y[0])
    return float(np.trapezoid(y) / (y.size - 1))


def _pairwise_improvement(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(X > Y) + ½·P(X = Y) along the last axis, from ranks (the U statistic), vectorised."""
    n, m = x.shape[-1], y.shape[-1]
    shape = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    both = np.concatenate([np.broadcast_to(x, (*shape, n)), np.broadcast_to(y, (*shape, m))], axis=-1)
    ranks = scipy.stats.rankdata(both, axis=-1)  # ties get their average rank
    u = ranks[..., :n].sum(axis=-1) - n * (n + 1) / 2
    return np.asarray(u / (n * m), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Stratified bootstrap
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (``low == high == estimate`` when exact)."""

    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | None]:
        return {"estimate": _finite(self.estimate), "low": _finite(self.low), "high": _finite(self.high)}


def stratified_bootstrap(
    strata: Sequence[ArrayLike],
    statistic: StratifiedStatistic,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    batch: int | None = None,
) -> Interval:
    """Percentile bootstrap interval of ``statistic``, resampling each stratum independently.

    ``statistic`` receives one array per stratum with the resamples on the leading axes and that
    stratum's runs on the last axis, always the same length as the stratum. Strata of one run are
    passed through unchanged (their only resample is themselves); ``scipy.stats.bootstrap`` does
    the resampling of the others, one sample per stratum, with a fixed seed.
    """
    arrays = [_array(s).ravel() for s in strata]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("every stratum needs at least one run")
    estimate = float(statistic(arrays))
    free = [i for i, a in enumerate(arrays) if a.size >= 2]
    if not free or n_resamples <= 0:
        return Interval(estimate, estimate, estimate)

    def combined(*samples: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        lead = samples[0].shape[:-1]
        full: list[NDArray[np.float64]] = [np.broadcast_to(a, (*lead, a.size)) for a in arrays]
        for index, sample in zip(free, samples, strict=True):
            full[index] = sample
        return statistic(full)

    result = scipy.stats.bootstrap(
        tuple(arrays[i] for i in free),
        combined,
        n_resamples=n_resamples,
        batch=batch,
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Interval(estimate, min(low, high), max(low, high))  # float noise can swap equal ends


def _iqm_of_strata(strata: Strata) -> NDArray[np.float64]:
    lead = np.broadcast_shapes(*(s.shape[:-1] for s in strata))
    runs = np.concatenate([np.broadcast_to(s, (*lead, s.shape[-1])) for s in strata], axis=-1)
    return np.asarray(iqm(runs), dtype=np.float64)


def iqm_interval(
    scores_by_family: Mapping[str, ArrayLike],
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """IQM of all runs with its stratified-bootstrap interval (families are the strata)."""
    strata = [_array(v).ravel() for _, v in sorted(scores_by_family.items())]
    strata = [s for s in strata if s.size]
    if not strata:
        return Interval(math.nan, math.nan, math.nan)
    return stratified_bootstrap(strata, _iqm_of_strata, n_resamples=n_resamples, confidence=confidence, seed=seed)


def probability_of_improvement(
    x_by_family: Mapping[str, ArrayLike],
    y_by_family: Mapping[str, ArrayLike],
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """``P(X > Y)``: per family ``U / (n·m)`` from ``scipy.stats.mannwhitneyu``, averaged over families.

    Only families where both X and Y have runs count; NaN when there are none. The interval is a
    stratified bootstrap whose strata are X's and Y's runs of each family (``n_resamples=0``: none).
    """
    families = sorted(f for f in x_by_family if f in y_by_family)
    pairs = [(_array(x_by_family[f]).ravel(), _array(y_by_family[f]).ravel()) for f in families]
    pairs = [(x, y) for x, y in pairs if x.size and y.size]
    if not pairs:
        return Interval(math.nan, math.nan, math.nan)
    estimate = float(np.mean([scipy.stats.mannwhitneyu(x, y).statistic / (x.size * y.size) for x, y in pairs]))

    def statistic(strata: Strata) -> NDArray[np.float64]:
        per_family = [_pairwise_improvement(strata[2 * i], strata[2 * i + 1]) for i in range(len(pairs))]
        return np.asarray(np.mean(per_family, axis=0), dtype=np.float64)

    strata = [a for pair in pairs for a in pair]
    # Bounded memory: rankdata works on (batch, n + m) arrays per family.
    found = stratified_bootstrap(
        strata, statistic, n_resamples=n_resamples, confidence=confidence, seed=seed, batch=500
    )
    return Interval(estimate, found.low, found.high)


# --------------------------------------------------------------------------------------------
# Aggregates of records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    """The statistics of one set of runs (one budget; all families, one family or one group)."""

    n: int
    iqm: Interval
    median: float
    mean: float
    optimality_gap: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "iqm": _finite(self.iqm.estimate),
            "iqm_low": _finite(self.iqm.low),
            "iqm_high": _finite(self.iqm.high),
            "median": _finite(self.median),
            "mean": _finite(self.mean),
            "optimality_gap": _finite(self.optimality_gap),
        }


def aggregate(
    scores_by_family: Mapping[str, ArrayLike],
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Aggregate:
    """IQM with its stratified interval, median, mean and optimality gap of the runs given."""
    runs = np.concatenate([_array(v).ravel() for v in scores_by_family.values()] or [np.zeros(0)])
    if runs.size == 0:
        return Aggregate(0, Interval(math.nan, math.nan, math.nan), math.nan, math.nan, math.nan)
    return Aggregate(
        n=int(runs.size),
        iqm=iqm_interval(scores_by_family, n_resamples=n_resamples, confidence=confidence, seed=seed),
        median=float(np.median(runs)),
        mean=float(np.mean(runs)),
        optimality_gap=float(optimality_gap(runs)),
    )


def score_of(record: Record) -> float:
    """A trial's normalized score; a failed trial without one is at the random floor, 0."""
    value = record.normalized_score
    if record.status != Status.OK or value is None or not math.isfinite(float(value)):
        return 0.0
    return float(value)


def status_counts(records: Iterable[Record]) -> dict[str, int]:
    """Trials per status, every known status listed (in harness order), unknown ones after."""
    counts = Counter(str(r.status) for r in records)
    out = {str(status): counts.pop(status, 0) for status in TRIAL_STATUSES}
    out.update(sorted(counts.items()))
    return out


def _by_family(records: Iterable[Record]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for record in records:
        out[record.family].append(score_of(record))
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class BudgetScore:
    """One submission at one budget: overall, per family and per variant group."""

    budget: int
    overall: Aggregate
    families: dict[str, Aggregate]
    groups: dict[str, Aggregate]
    family_groups: dict[str, dict[str, Aggregate]]  # family -> variant group -> aggregate
    variants: dict[str, float]  # mean score of each variant over its seeds
    statuses: dict[str, int]
    profile: tuple[float, ...]  # performance profile over the board's taus


@dataclass(frozen=True)
class Failure:
    """A trial that did not end ``ok``: scored at the floor, listed with its error text."""

    status: str
    error: str
    variant: str
    budget: int
    seed: int


@dataclass(frozen=True)
class Entry:
    """One submission (by content hash) on one board."""

    submission: str
    version: str
    hash: str
    rank: int
    budgets: dict[int, BudgetScore]  # budgets with at least one stored run
    area: float  # adaptation area over the board's budgets; NaN while a budget has no runs
    family_areas: dict[str, float]
    statuses: dict[str, int]
    n_trials: int
    failures: tuple[Failure, ...] = ()
    arena_versions: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.submission}@{self.version}"

    def headline(self, budget: int) -> Aggregate | None:
        score = self.budgets.get(budget)
        return score.overall if score is not None else None

    def curve(self, budgets: Sequence[int], family: str | None = None) -> list[Interval | None]:
        """The IQM interval at each budget (of all runs, or of one family); None where not run."""
        return _curve(self.budgets, budgets, family)


def _curve(scores: Mapping[int, BudgetScore], budgets: Sequence[int], family: str | None) -> list[Interval | None]:
    out: list[Interval | None] = []
    for budget in budgets:
        score = scores.get(budget)
        agg = None if score is None else (score.overall if family is None else score.families.get(family))
        out.append(agg.iqm if agg is not None and agg.n else None)
    return out


def _area(curve: Sequence[Interval | None]) -> float:
    return adaptation_area([iv.estimate if iv is not None else math.nan for iv in curve])


@dataclass(frozen=True)
class Board:
    """The standings of one (suite, suite version, split)."""

    suite: str
    suite_version: int
    split: str
    budgets: tuple[int, ...]  # every budget that has runs, ascending
    families: tuple[str, ...]
    groups: tuple[str, ...]
    entries: tuple[Entry, ...]  # ranked
    taus: tuple[float, ...]
    # P(row > column) at the headline budget, keyed by (hash of X, hash of Y).
    improvement: dict[tuple[str, str], Interval] = field(default_factory=dict)
    variants: dict[str, tuple[str, str]] = field(default_factory=dict)  # variant id -> (family, group)
    finished_at: str = ""  # the newest trial's time: when these standings were last changed

    @property
    def id(self) -> str:
        return f"{self.suite}@{self.suite_version}/{self.split}"

    @property
    def headline_budget(self) -> int:
        return self.budgets[-1]

    def entry(self, submission_hash: str) -> Entry | None:
        for entry in self.entries:
            if entry.hash == submission_hash:
                return entry
        return None


def _rank_key(entry: Entry, headline: int) -> tuple[float, float, str, str]:
    agg = entry.headline(headline)
    value = agg.iqm.estimate if agg is not None and agg.n else -math.inf
    area = entry.area if math.isfinite(entry.area) else -math.inf
    return (-value, -area, entry.label, entry.hash)


def _score_entry(
    records: Sequence[Record], budgets: Sequence[int], taus: Sequence[float], **boot: Any
) -> tuple[Entry, dict[int, dict[str, list[float]]]]:
    first = records[0]
    per_budget: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        per_budget[record.budget].append(record)
    scores: dict[int, BudgetScore] = {}
    runs: dict[int, dict[str, list[float]]] = {}
    for budget in budgets:
        rows = per_budget.get(budget)
        if not rows:
            continue
        runs[budget] = _by_family(rows)
        groups: dict[str, list[Record]] = defaultdict(list)
        variants: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            groups[_group(row)].append(row)
            variants[row.variant].append(score_of(row))
        scores[budget] = BudgetScore(
            budget=budget,
            overall=aggregate(runs[budget], **boot),
            families={f: aggregate({f: v}, **boot) for f, v in runs[budget].items()},
            groups={g: aggregate(_by_family(groups[g]), **boot) for g in _ordered_groups(groups)},
            family_groups={
                f: {
                    g: aggregate({f: v}, **boot)
                    for g in _ordered_groups(groups)
                    if (v := [score_of(r) for r in groups[g] if r.family == f])
                }
                for f in runs[budget]
            },
            variants={v: float(np.mean(x)) for v, x in sorted(variants.items())},
            statuses=status_counts(rows),
            profile=tuple(float(p) for p in performance_profile([score_of(r) for r in rows], taus)),
        )
    families = sorted({r.family for r in records})
    entry = Entry(
        submission=first.submission,
        version=first.submission_version or "",
        hash=first.submission_hash,
        rank=0,
        budgets=scores,
        area=_area(_curve(scores, budgets, None)),
        family_areas={f: _area(_curve(scores, budgets, f)) for f in families},
        statuses=status_counts(records),
        n_trials=len(records),
        failures=tuple(
            Failure(str(r.status), r.error or "", r.variant, r.budget, r.seed) for r in records if r.status != Status.OK
        ),
        arena_versions=tuple(sorted({r.arena_version for r in records if r.arena_version})),
    )
    return entry, runs


def _group(record: Record) -> str:
    return record.variant_group or ""


def _ordered_groups(groups: Iterable[str]) -> list[str]:
    present = set(groups)
    return [g for g in GROUPS if g in present] + sorted(present - set(GROUPS))


def score_board(
    records: Sequence[Record],
    *,
    baselines: Collection[str] | None = None,
    taus: Sequence[float] = DEFAULT_TAUS,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Board:
    """The standings of records that all share one (suite, suite version, split).

    ``baselines`` (submission names) limits the probability of improvement to comparisons
    against those; by default every submission is compared with every other.
    """
    if not records:
        raise ValueError("a board needs at least one trial record")
    keys = {(r.suite, r.suite_version, r.split) for r in records}
    if len(keys) != 1:
        raise ValueError(f"records of several boards given: {sorted(keys)}")
    suite, version, split = keys.pop()
    boot: dict[str, Any] = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    budgets = tuple(sorted({r.budget for r in records}))
    by_hash: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_hash[record.submission_hash].append(record)
    scored = {h: _score_entry(rows, budgets, taus, **boot) for h, rows in by_hash.items()}
    ranked = sorted((entry for entry, _ in scored.values()), key=lambda e: _rank_key(e, budgets[-1]))
    entries: list[Entry] = []
    for position, entry in enumerate(ranked, start=1):
        tied = entries and _rank_key(entries[-1], budgets[-1])[:2] == _rank_key(entry, budgets[-1])[:2]
        rank = entries[-1].rank if tied else position
        entries.append(replace(entry, rank=rank))
    headline = budgets[-1]
    improvement: dict[tuple[str, str], Interval] = {}
    for x in entries:
        for y in entries:
            if x.hash == y.hash or (baselines is not None and y.submission not in baselines):
                continue
            x_runs, y_runs = scored[x.hash][1].get(headline), scored[y.hash][1].get(headline)
            if x_runs and y_runs:
                improvement[(x.hash, y.hash)] = probability_of_improvement(x_runs, y_runs, **boot)
    return Board(
        suite=str(suite),
        suite_version=version,
        split=str(split),
        budgets=budgets,
        families=tuple(sorted({r.family for r in records})),
        groups=tuple(_ordered_groups(_group(r) for r in records)),
        entries=tuple(entries),
        taus=tuple(float(t) for t in taus),
        improvement=improvement,
        finished_at=max((r.finished_at or "" for r in records), default=""),
        variants={r.variant: (r.family, _group(r)) for r in sorted(records, key=lambda r: r.variant)},
    )


SPLIT_ORDER = {"test": 0, "dev": 1, "train": 2}


def score(
    records: Iterable[Record],
    *,
    baselines: Collection[str] | None = None,
    taus: Sequence[float] = DEFAULT_TAUS,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> list[Board]:
    """One board per (suite, suite version, split) in the records: suites by name, newest
    version first, then the test, dev and train splits."""
    groups: dict[tuple[str, int, str], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.suite, record.suite_version, record.split)].append(record)
    order = sorted(groups, key=lambda k: (k[0], -k[1], SPLIT_ORDER.get(k[2], 9), k[2]))
    return [
        score_board(
            groups[key], baselines=baselines, taus=taus, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
        for key in order
    ]


# --------------------------------------------------------------------------------------------
# Plain data for CSV and JSON
# --------------------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def board_as_dict(board: Board) -> dict[str, Any]:
    """A JSON-ready view of a board (NaN becomes None)."""
    labels = {e.hash: e.label for e in board.entries}
    return {
        "suite": board.suite,
        "suite_version": board.suite_version,
        "split": board.split,
        "budgets": list(board.budgets),
        "headline_budget": board.headline_budget,
        "families": list(board.families),
        "groups": list(board.groups),
        "finished_at": board.finished_at,
        "taus": list(board.taus),
        "entries": [
            {
                "rank": e.rank,
                "submission": e.submission,
                "version": e.version,
                "submission_hash": e.hash,
                "n_trials": e.n_trials,
                "statuses": e.statuses,
                "adaptation_area": _finite(e.area),
                "family_areas": {f: _finite(a) for f, a in e.family_areas.items()},
                "budgets": {
                    str(b): {
                        **s.overall.as_dict(),
                        "statuses": s.statuses,
                        "families": {f: a.as_dict() for f, a in s.families.items()},
                        "groups": {g: a.as_dict() for g, a in s.groups.items()},
                        "family_groups": {
                            f: {g: a.as_dict() for g, a in by_group.items()} for f, by_group in s.family_groups.items()
                        },
                        "variants": {v: _finite(x) for v, x in s.variants.items()},
                        "profile": [_finite(p) for p in s.profile],
                    }
                    for b, s in e.budgets.items()
                },
            }
            for e in board.entries
        ],
        "variants": {v: {"family": f, "group": g} for v, (f, g) in board.variants.items()},
        "probability_of_improvement": [
            {"x": labels[x], "y": labels[y], "x_hash": x, "y_hash": y, **iv.as_dict()}
            for (x, y), iv in board.improvement.items()
        ],
    }


def standings_rows(boards: Iterable[Board]) -> list[dict[str, Any]]:
    """One flat row per (board, entry): what a CSV of the standings holds."""
    rows = []
    for board in boards:
        for e in board.entries:
            head = e.headline(board.headline_budget)
            row: dict[str, Any] = {
                "suite": board.suite,
                "suite_version": board.suite_version,
                "split": board.split,
                "rank": e.rank,
                "submission": e.submission,
                "version": e.version,
                "submission_hash": e.hash,
                "headline_budget": board.headline_budget,
            }
            row.update(head.as_dict() if head is not None else {})
            row["adaptation_area"] = _finite(e.area)
            for budget in board.budgets:
                agg = e.headline(budget)
                row[f"iqm_{budget}"] = _finite(agg.iqm.estimate) if agg is not None else None
            row["n_trials"] = e.n_trials
            row.update(e.statuses)
            rows.append(row)
    return rows
