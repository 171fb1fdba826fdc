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
  on the axis ``x = log10(1 + budget)`` (budget 0, zero-shot, is x = 0; suites list budgets
  roughly geometrically), divided by the axis' span: the curve's average height, on the scale of
  an IQM. With one budget it is that budget's IQM. Its interval is a bootstrap of whole **units**
  (one variant × trial seed × meta-training run, with its runs at every budget kept together).
- **Meta-training runs**: where a suite crosses trials with several meta-training seeds, every
  interval is a two-level bootstrap: within each family, the meta-training runs are resampled,
  then the units of each drawn run, so the interval covers meta-training's own spread (the
  largest source of variance of a meta-learner) as well as the variants'.
- **Views**: the *final* view scores ``normalized_score`` (the evaluation after adapting); the
  *online* view scores ``online_score`` (everything earned over the trial, adapting included,
  regret-normalized), where the family has the analytic references it needs.
- **Groups**: interpolation, extrapolation and train variants are pooled; ``out_of_support``
  variants (outside what meta-training can see, on purpose) are reported apart, never pooled.

Scores are grouped into **boards**: one per (suite, suite version, split). A board ranks its
entries (one per submission hash) by the adaptation area, the headline figure: a meta-learner's
advantage is at small budgets and while it adapts, from-scratch RL's at the largest budget, and
the area weighs every budget of the suite on the scale its designers chose. Entries whose area
interval overlaps the leader's are marked **tied** with it (entries whose trials all failed rank
last, never tied). Reference agents (Thompson sampling, PSRL, …: a manifest's ``kind =
"reference"``) are scored the same way but listed apart, never ranked.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike, NDArray

from arena.records import TRIAL_STATUSES, Provenance, Status, TrialRecord

Record = TrialRecord
Strata = Sequence[NDArray[np.float64]]
# A vectorised statistic of stratified data: one array per stratum, resamples on the leading axes,
# runs on the last; returns one value per resample.
StratifiedStatistic = Callable[[Strata], NDArray[np.float64]]

N_RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 0
DEFAULT_TAUS: tuple[float, ...] = tuple(round(t, 3) for t in np.linspace(0.0, 1.5, 61))
GROUPS = ("interpolation", "extrapolation", "train", "out_of_support")
APART = frozenset({"out_of_support"})  # groups reported on their own, never in the headline
VIEWS = ("final", "online")


# --------------------------------------------------------------------------------------------
# Point statistics
# --------------------------------------------------------------------------------------------


def _array(scores: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(scores, dtype=np.float64)


def iqm(scores: ArrayLike, axis: int = -1) -> Any:
    """Interquartile mean: the mean of the middle 50% of the runs (NaN for no runs).

    ``scipy.stats.trim_mean(x, 0.25)``'s definition (``int(0.25 n)`` runs cut from each end),
    computed with a sort: on the bootstrap's many short rows (2,000 resamples of tens of runs
    per entry) ``np.sort`` is 5-10x faster than the partition ``trim_mean`` uses, and the board
    at 200 submissions spent most of its time there. The values agree to the last bits (the
    middle runs are summed in sorted order)."""
    x = np.moveaxis(_array(scores), axis, -1)
    n = x.shape[-1]
    if n == 0:
        return math.nan
    cut = int(0.25 * n)
    return np.sort(x, axis=-1)[..., cut : n - cut].mean(axis=-1)


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


def budget_axis(budgets: Sequence[int]) -> NDArray[np.float64]:
    """Where each budget sits on an adaptation curve's x axis: ``log10(1 + budget)``."""
    return np.log10(1.0 + _array(budgets))


def adaptation_area(values: ArrayLike, budgets: Sequence[int]) -> Any:
    """Average height of the curve through ``values`` (last axis: one per budget) on the axis
    ``log10(1 + budget)``: the trapezoid rule divided by the axis' span. A single budget is its
    own area; NaN where a value is missing. Vectorised over leading axes."""
    y = _array(values)
    if y.shape[-1] == 0:
        return math.nan
    if y.shape[-1] == 1:
        return y[..., 0] if y.ndim > 1 else float(y[0])
    x = budget_axis(budgets)
    area = np.trapezoid(y, x, axis=-1) / (x[-1] - x[0])
    return area if y.ndim > 1 else float(area)


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


# Each unit's runs at k budgets, one row per unit: a family's units from one meta-training run.
Cluster = NDArray[np.float64]
# A statistic of units: (resamples, units, k) -> (resamples,).
UnitStatistic = Callable[[NDArray[np.float64]], NDArray[np.float64]]
_RESAMPLE_CELLS = 4_000_000  # floats per chunk of resamples: bounded memory on large boards


def clustered_bootstrap(
    strata: Sequence[Sequence[Cluster]],
    statistic: UnitStatistic,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Interval:
    """Percentile interval of ``statistic`` over every unit of every stratum (family), drawing
    within each stratum first its clusters (meta-training runs) with replacement, then, for each
    drawn cluster, as many of its units with replacement as it has. With one cluster per stratum
    this is the stratified bootstrap of units.

    ``scipy.stats.bootstrap`` resamples one level only; the two levels are drawn here with
    numpy, in chunks of resamples so that memory stays bounded.
    """
    strata = [[np.asarray(c, dtype=np.float64) for c in stratum if len(c)] for stratum in strata]
    strata = [stratum for stratum in strata if stratum]
    if not strata:
        return Interval(math.nan, math.nan, math.nan)
    everything = np.concatenate([c for stratum in strata for c in stratum], axis=0)
    estimate = float(statistic(everything[None])[0])
    if n_resamples <= 0 or all(len(stratum) == 1 and len(stratum[0]) == 1 for stratum in strata):
        return Interval(estimate, estimate, estimate)
    rng = np.random.default_rng(seed)
    equal = all(len({len(c) for c in stratum}) == 1 for stratum in strata)
    values: list[NDArray[np.float64]] = []
    if equal:
        stacked = [np.stack(stratum) for stratum in strata]  # (clusters, units, k) per stratum
        chunk = max(1, _RESAMPLE_CELLS // max(1, everything.size))
        for start in range(0, n_resamples, chunk):
            size = min(chunk, n_resamples - start)
            parts = []
            for block in stacked:
                clusters, units = block.shape[:2]
                picked = rng.integers(clusters, size=(size, clusters, 1))
                inner = rng.integers(units, size=(size, clusters, units))
                parts.append(block[picked, inner].reshape(size, clusters * units, block.shape[2]))
            values.append(statistic(np.concatenate(parts, axis=1)))
    else:  # clusters of unequal size (an incomplete run): one resample at a time
        for _ in range(n_resamples):
            drawn = [
                stratum[c][rng.integers(len(stratum[c]), size=len(stratum[c]))]
                for stratum in strata
                for c in rng.integers(len(stratum), size=len(stratum))
            ]
            values.append(statistic(np.concatenate(drawn, axis=0)[None]))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.concatenate(values), [alpha, 1.0 - alpha])
    return Interval(estimate, float(min(low, high)), float(max(low, high)))


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


def score_of(record: Record, view: str = "final") -> float:
    """A trial's score in a view (``final``: ``normalized_score``; ``online``: ``online_score``);
    a failed trial, or one without that score, is at the random floor, 0."""
    value = record.online_score if view == "online" else record.normalized_score
    if record.status != Status.OK or value is None or not math.isfinite(float(value)):
        return 0.0
    return float(value)


def in_view(record: Record, view: str) -> bool:
    """Whether a trial has a score in the view (every trial has a final one; the online view
    needs the family's analytic references)."""
    return view != "online" or record.online_score is not None


def status_counts(records: Iterable[Record]) -> dict[str, int]:
    """Trials per status, every known status listed (in harness order), unknown ones after."""
    counts = Counter(str(r.status) for r in records)
    out = {str(status): counts.pop(status, 0) for status in TRIAL_STATUSES}
    out.update(sorted(counts.items()))
    return out


def _by_family(records: Iterable[Record], view: str = "final") -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for record in records:
        out[record.family].append(score_of(record, view))
    return dict(sorted(out.items()))


def _clusters(records: Iterable[Record], view: str) -> dict[str, list[list[float]]]:
    """Scores by family, then by meta-training run."""
    out: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        out[record.family][record.meta_train_seed].append(score_of(record, view))
    return {f: [runs[k] for k in sorted(runs)] for f, runs in sorted(out.items())}


def _iqm_of_units(units: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(iqm(units[..., 0], axis=-1), dtype=np.float64)


def aggregate_runs(records: Sequence[Record], view: str = "final", **boot: Any) -> Aggregate:
    """:func:`aggregate` of trial records: where they come from several meta-training runs, the
    IQM's interval is the two-level bootstrap (runs, then units); otherwise the stratified one."""
    clusters = _clusters(records, view)
    if all(len(runs) <= 1 for runs in clusters.values()):
        return aggregate({f: [x for run in runs for x in run] for f, runs in clusters.items()}, **boot)
    plain = aggregate({f: [x for run in runs for x in run] for f, runs in clusters.items()}, n_resamples=0)
    strata = [[np.asarray(run, dtype=np.float64)[:, None] for run in runs] for runs in clusters.values()]
    interval = clustered_bootstrap(strata, _iqm_of_units, **boot)
    return replace(plain, iqm=interval)


@dataclass(frozen=True)
class BudgetScore:
    """One submission at one budget: overall (the pooled groups), per family and per group."""

    budget: int
    overall: Aggregate
    families: dict[str, Aggregate]
    groups: dict[str, Aggregate]  # every group, out_of_support included
    family_groups: dict[str, dict[str, Aggregate]]  # family -> variant group -> aggregate
    variants: dict[str, float]  # mean score of each variant over its seeds
    statuses: dict[str, int]
    profile: tuple[float, ...]  # performance profile over the board's taus
    success_rate: float | None = None  # mean of the trials' success rates, where the family has one
    family_success: dict[str, float] = field(default_factory=dict)  # the same per family that has a goal


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
    rank: int  # 0 for a reference agent (never ranked)
    budgets: dict[int, BudgetScore]  # budgets with at least one stored run
    area: Interval  # adaptation area over the board's budgets, with its interval; NaN while a budget has no runs
    family_areas: dict[str, float]
    statuses: dict[str, int]
    n_trials: int
    failures: tuple[Failure, ...] = ()
    arena_versions: tuple[str, ...] = ()
    kind: str = "agent"  # "reference": listed apart, never ranked
    tied: bool = False  # its area's interval overlaps the leader's
    provenance: str = "harness"  # official, harness or self-reported: who ran its trials

    @property
    def label(self) -> str:
        return f"{self.submission}@{self.version}"

    @property
    def id(self) -> str:
        """Unique on a board: the hash, with the provenance where it is not the harness's (one
        submission can have an official and a self-reported entry)."""
        return self.hash if self.provenance == Provenance.HARNESS else f"{self.hash}+{self.provenance}"

    @property
    def all_failed(self) -> bool:
        return self.n_trials > 0 and not self.statuses.get(str(Status.OK))

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


def _area(curve: Sequence[Interval | None], budgets: Sequence[int]) -> float:
    return float(adaptation_area([iv.estimate if iv is not None else math.nan for iv in curve], budgets))


def board_id(suite: str, version: int, split: str, model: str = "") -> str:
    """A board's name: ``suite@version/split``, and ``/model`` on a text suite."""
    base = f"{suite}@{version}/{split}"
    return f"{base}/{model}" if model else base


@dataclass(frozen=True)
class Board:
    """The standings of one (suite, suite version, split) in one view; on a text suite, of one
    language model too (the model is the operator's choice, so each has its own board)."""

    suite: str
    suite_version: int
    split: str
    budgets: tuple[int, ...]  # every budget that has runs, ascending
    families: tuple[str, ...]
    groups: tuple[str, ...]
    entries: tuple[Entry, ...]  # ranked
    taus: tuple[float, ...]
    # P(row > column) at the headline budget, keyed by (id of X, id of Y) (Entry.id: the hash
    # for harness-run entries); computed against baselines and references, and pairs asked for.
    improvement: dict[tuple[str, str], Interval] = field(default_factory=dict)
    variants: dict[str, tuple[str, str]] = field(default_factory=dict)  # variant id -> (family, group)
    finished_at: str = ""  # the newest trial's time: when these standings were last changed
    references: tuple[Entry, ...] = ()  # reference agents: scored alike, never ranked
    view: str = "final"
    self_reported: tuple[Entry, ...] = ()  # imported results: ranked among themselves only
    model: str = ""  # the text track's language model ("" for other suites)

    @property
    def id(self) -> str:
        return board_id(self.suite, self.suite_version, self.split, self.model)

    @property
    def headline_budget(self) -> int:
        return self.budgets[-1]

    @property
    def everyone(self) -> tuple[Entry, ...]:
        """Ranked entries, then self-reported ones, then reference agents."""
        return (*self.entries, *self.self_reported, *self.references)

    def entry(self, submission_hash: str) -> Entry | None:
        """A submission's entry (its ranked one first), or its entry of that id."""
        for entry in self.everyone:
            if submission_hash in (entry.hash, entry.id):
                return entry
        return None

    def entries_of(self, submission_hash: str) -> list[Entry]:
        """Every entry of a submission (one per provenance)."""
        return [e for e in self.everyone if e.hash == submission_hash]


# --------------------------------------------------------------------------------------------
# Many intervals at once
# --------------------------------------------------------------------------------------------
#
# A board of n submissions asks for ~50 bootstrap intervals per submission, and one call of
# scipy.stats.bootstrap costs milliseconds before it computes anything. Every interval draws
# from a fresh generator seeded with ``seed``, so its resampling indices depend on nothing but
# the sizes of its strata, and the submissions of one board almost always have the same sizes
# (the suite fixes them). :class:`_Intervals` collects the intervals of many entries, draws the
# indices once per shape and computes each shape's statistic over all its requests stacked.
#
# The results are the one-at-a-time functions' (iqm_interval, clustered_bootstrap,
# probability_of_improvement) bit for bit; tests/unit/test_scoring.py checks it. That fixes how
# the stacked arrays may be laid out: numpy's sums depend on the memory order of what they add
# (a reduction over a non-contiguous axis adds in another order), so every statistic runs on
# C-contiguous arrays of the same rank as the one-at-a-time path, with requests only on the
# leading axis.

_STACK_CELLS = 4_000_000  # floats of resampled data per stacked block: bounded memory


def _percentile_interval(theta: NDArray[np.float64], confidence: float) -> NDArray[np.float64]:
    """The percentile interval of bootstrap distributions (last axis), as scipy.stats.bootstrap
    computes it: the same alpha arithmetic and the same quantile function."""
    alpha = np.asarray((1 - confidence) / 2, dtype=theta.dtype)
    return np.asarray(scipy.stats.quantile(theta, np.stack((alpha, 1 - alpha), axis=-1), axis=-1))


def _as_interval(estimate: float, low: float, high: float) -> Interval:
    return Interval(estimate, float(min(low, high)), float(max(low, high)))  # float noise can swap equal ends


def _counts(indices: NDArray[np.int64], n: int) -> NDArray[np.float64]:
    """How often each of ``n`` runs is drawn in each resample (rows of ``indices``)."""
    out = np.zeros((indices.shape[0], n))
    np.add.at(out, (np.arange(indices.shape[0])[:, None], indices), 1.0)
    return out


def _improvement_matrix(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """1 where x_i > y_j, ½ where equal, 0 below: a resample's U statistic is ``cx · C · cy`` for
    the draw counts cx and cy. Every term is a multiple of ½, so the sum is exact and equals the
    rank sum's U (scipy.stats.rankdata's average ranks are exact halves too)."""
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


@dataclass(frozen=True)
class _Ticket:
    """One requested interval, there once :meth:`_Intervals.compute` has run."""

    owner: _Intervals
    number: int

    def __call__(self) -> Interval:
        return self.owner._results[self.number]


_Requests = list[tuple[list[NDArray[np.float64]], int]]  # (a request's arrays, its number)


class _Intervals:
    """Bootstrap intervals asked for by many entries, computed together when :meth:`compute`
    runs; each request returns a ticket that gives its interval after that. Point estimates
    are computed then too, stacked alike (the statistics' per-call overhead is most of their
    cost one at a time)."""

    def __init__(self, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED):
        self.n_resamples, self.confidence, self.seed = n_resamples, confidence, seed
        self._stratified: dict[tuple[int, ...], _Requests] = defaultdict(list)  # by strata sizes
        self._clustered: dict[tuple[Any, ...], _Requests] = defaultdict(list)  # by statistic and shapes
        self._improvement: dict[tuple[tuple[int, int], ...], _Requests] = defaultdict(list)  # by (n, m) per family
        self._statistics: dict[Any, UnitStatistic] = {}
        self._estimates: dict[int, float] = {}
        self._exact: set[int] = set()  # requests whose interval is their estimate (nothing to resample)
        self._results: dict[int, Interval] = {}
        self._count = 0

    def _ticket(self, result: Interval | None = None) -> tuple[int, _Ticket]:
        number = self._count
        self._count += 1
        if result is not None:
            self._results[number] = result
        return number, _Ticket(self, number)

    # -- requests --------------------------------------------------------------------------

    def iqm(self, scores_by_family: Mapping[str, ArrayLike]) -> _Ticket:
        """:func:`iqm_interval`."""
        strata = [_array(v).ravel() for _, v in sorted(scores_by_family.items())]
        strata = [s for s in strata if s.size]
        if not strata:
            return self._ticket(Interval(math.nan, math.nan, math.nan))[1]
        number, ticket = self._ticket()
        self._stratified[tuple(s.size for s in strata)].append((strata, number))
        if self.n_resamples <= 0 or all(s.size < 2 for s in strata):
            self._exact.add(number)
        return ticket

    def clustered(self, strata: Sequence[Sequence[Cluster]], statistic: UnitStatistic, key: Any) -> _Ticket:
        """:func:`clustered_bootstrap`; ``key`` names ``statistic`` (requests of one key and shape
        are computed together)."""
        strata = [[np.asarray(c, dtype=np.float64) for c in stratum if len(c)] for stratum in strata]
        strata = [stratum for stratum in strata if stratum]
        if not strata:
            return self._ticket(Interval(math.nan, math.nan, math.nan))[1]
        shapes = tuple(tuple(c.shape for c in stratum) for stratum in strata)
        if not all(len(set(s)) == 1 for s in shapes):  # clusters of unequal size (rare): one at a time
            found = clustered_bootstrap(
                strata, statistic, n_resamples=self.n_resamples, confidence=self.confidence, seed=self.seed
            )
            return self._ticket(found)[1]
        number, ticket = self._ticket()
        self._statistics[key] = statistic
        blocks = [np.stack(stratum) for stratum in strata]  # (clusters, units, k) per stratum
        self._clustered[(key, tuple(b.shape for b in blocks))].append((blocks, number))
        if self.n_resamples <= 0 or all(len(stratum) == 1 and len(stratum[0]) == 1 for stratum in strata):
            self._exact.add(number)
        return ticket

    def improvement(self, x_by_family: Mapping[str, ArrayLike], y_by_family: Mapping[str, ArrayLike]) -> _Ticket:
        """:func:`probability_of_improvement`."""
        families = sorted(f for f in x_by_family if f in y_by_family)
        pairs = [(_array(x_by_family[f]).ravel(), _array(y_by_family[f]).ravel()) for f in families]
        pairs = [(x, y) for x, y in pairs if x.size and y.size]
        if not pairs:
            return self._ticket(Interval(math.nan, math.nan, math.nan))[1]
        matrices = [_improvement_matrix(x, y) for x, y in pairs]
        estimate = float(np.mean([c.sum() / c.size for c in matrices]))
        if self.n_resamples <= 0 or all(x.size < 2 and y.size < 2 for x, y in pairs):
            return self._ticket(Interval(estimate, estimate, estimate))[1]
        number, ticket = self._ticket()
        self._estimates[number] = estimate
        self._improvement[tuple(c.shape for c in matrices)].append((matrices, number))
        return ticket

    # -- computing ---------------------------------------------------------------------------

    def compute(self) -> None:
        """Every interval asked for so far."""
        for sizes, requests in self._stratified.items():
            self._stratified_estimates(requests)
            self._compute_stratified(sizes, [r for r in requests if r[1] not in self._exact])
        for (key, shapes), requests in self._clustered.items():
            self._clustered_estimates(self._statistics[key], requests)
            self._compute_clustered(self._statistics[key], shapes, [r for r in requests if r[1] not in self._exact])
        for shapes, requests in self._improvement.items():
            self._compute_improvement(shapes, requests)
        for number in self._exact:
            estimate = self._estimates[number]
            self._results[number] = Interval(estimate, estimate, estimate)
        self._stratified.clear()
        self._clustered.clear()
        self._improvement.clear()
        self._exact.clear()

    def _stratified_estimates(self, requests: _Requests) -> None:
        # The IQM of all runs, strata concatenated in order: one row per request.
        for start in range(0, len(requests), 4096):
            chunk = requests[start : start + 4096]
            rows = np.stack([np.concatenate(strata) for strata, _ in chunk])
            for (_, number), value in zip(chunk, np.asarray(iqm(rows), dtype=np.float64), strict=True):
                self._estimates[number] = float(value)

    def _clustered_estimates(self, statistic: UnitStatistic, requests: _Requests) -> None:
        # The statistic of every unit: the clusters of every stratum concatenated in order.
        for start in range(0, len(requests), 256):
            chunk = requests[start : start + 256]
            units = np.stack([np.concatenate([b.reshape(-1, b.shape[-1]) for b in blocks]) for blocks, _ in chunk])
            for (_, number), value in zip(chunk, np.asarray(statistic(units), dtype=np.float64), strict=True):
                self._estimates[number] = float(value)

    def _compute_stratified(self, sizes: tuple[int, ...], requests: _Requests) -> None:
        if not requests:
            return
        # scipy.stats.bootstrap draws (resamples, n) indices per stratum of two or more runs, in
        # stratum order, from one generator; a stratum of one run is its own only resample.
        rng = np.random.default_rng(self.seed)
        draws = {i: rng.integers(0, n, (self.n_resamples, n)) for i, n in enumerate(sizes) if n >= 2}
        total = sum(sizes)
        step = max(1, _STACK_CELLS // (self.n_resamples * total))
        for start in range(0, len(requests), step):
            chunk = requests[start : start + step]
            runs = np.empty((len(chunk), self.n_resamples, total))
            offset = 0
            for i, n in enumerate(sizes):
                stacked = np.stack([strata[i] for strata, _ in chunk])  # (requests, n)
                runs[:, :, offset : offset + n] = stacked[:, draws[i]] if i in draws else stacked[:, None, :]
                offset += n
            theta = np.asarray(iqm(runs.reshape(-1, total)), dtype=np.float64).reshape(len(chunk), -1)
            bounds = _percentile_interval(theta, self.confidence)
            for (_, number), (low, high) in zip(chunk, bounds, strict=True):
                self._results[number] = _as_interval(self._estimates[number], low, high)

    def _compute_clustered(
        self,
        statistic: UnitStatistic,
        shapes: tuple[tuple[int, ...], ...],
        requests: _Requests,
    ) -> None:
        # clustered_bootstrap's draws: per chunk of resamples, per stratum, the clusters, then the
        # units of each drawn cluster.
        if not requests:
            return
        rng = np.random.default_rng(self.seed)
        size_all = sum(c * u * k for c, u, k in shapes)
        chunk_size = max(1, _RESAMPLE_CELLS // max(1, size_all))
        chunks = []
        for start in range(0, self.n_resamples, chunk_size):
            size = min(chunk_size, self.n_resamples - start)
            chunks.append(
                [
                    (
                        rng.integers(clusters, size=(size, clusters, 1)),
                        rng.integers(units, size=(size, clusters, units)),
                    )
                    for clusters, units, _ in shapes
                ]
            )
        units_all = sum(c * u for c, u, _ in shapes)
        k = shapes[0][2]
        step = max(1, _STACK_CELLS // (self.n_resamples * size_all))
        alpha = (1.0 - self.confidence) / 2.0
        for start in range(0, len(requests), step):
            group = requests[start : start + step]
            stacked = [np.stack([blocks[i] for blocks, _ in group]) for i in range(len(shapes))]
            values = []
            for draws in chunks:
                size = draws[0][0].shape[0]
                parts = [
                    block[:, picked, inner].reshape(len(group), size, clusters * units, k)
                    for block, (picked, inner), (clusters, units, _) in zip(stacked, draws, shapes, strict=True)
                ]
                resampled = np.ascontiguousarray(np.concatenate(parts, axis=2)).reshape(-1, units_all, k)
                values.append(np.asarray(statistic(resampled)).reshape(len(group), size))
            theta = np.concatenate(values, axis=1)
            for (_, number), row in zip(group, theta, strict=True):
                low, high = np.quantile(row, [alpha, 1.0 - alpha])
                self._results[number] = Interval(self._estimates[number], float(min(low, high)), float(max(low, high)))

    def _compute_improvement(self, shapes: tuple[tuple[int, int], ...], requests: _Requests) -> None:
        # probability_of_improvement's bootstrap: strata x1, y1, x2, y2, ... (those of two or more
        # runs drawn), in batches of 500 resamples; per family U / (n·m), averaged over families.
        rng = np.random.default_rng(self.seed)
        batches = []
        for start in range(0, self.n_resamples, 500):
            size = min(500, self.n_resamples - start)
            counts = []
            for n, m in shapes:
                cx = _counts(rng.integers(0, n, (size, n)), n) if n >= 2 else np.ones((size, 1))
                cy = _counts(rng.integers(0, m, (size, m)), m) if m >= 2 else np.ones((size, 1))
                counts.append((cx, cy))
            batches.append(counts)
        matrices = [np.stack([found[f] for found, _ in requests]) for f in range(len(shapes))]  # (requests, n, m)
        theta = []
        for counts in batches:
            per_family = [
                np.einsum("rn,enm,rm->er", cx, c, cy) / (n * m)
                for (cx, cy), c, (n, m) in zip(counts, matrices, shapes, strict=True)
            ]
            theta.append(np.mean(per_family, axis=0))
        bounds = _percentile_interval(np.concatenate(theta, axis=1), self.confidence)
        for (_, number), (low, high) in zip(requests, bounds, strict=True):
            self._results[number] = _as_interval(self._estimates[number], low, high)


def _rank_key(entry: Entry) -> tuple[bool, float, float, str, str]:
    """All-failed entries last; then by area (headline), then IQM at the largest budget."""
    area = entry.area.estimate if math.isfinite(entry.area.estimate) else -math.inf
    largest = entry.headline(max(entry.budgets)) if entry.budgets else None
    value = largest.iqm.estimate if largest is not None and largest.n else -math.inf
    return (entry.all_failed, -area, -value, entry.label, entry.hash)


def _area_units(records: Sequence[Record], budgets: Sequence[int], view: str) -> list[list[Cluster]]:
    """The units that have a run at every budget, as clusters (meta-training runs) per family:
    rows of one score per budget."""
    column = {b: i for i, b in enumerate(budgets)}
    units: dict[tuple[str, int, str, int], NDArray[np.float64]] = {}
    for record in records:
        key = (record.family, record.meta_train_seed, record.variant, record.seed)
        row = units.setdefault(key, np.full(len(budgets), np.nan))
        row[column[record.budget]] = score_of(record, view)
    grouped: dict[str, dict[int, list[NDArray[np.float64]]]] = defaultdict(lambda: defaultdict(list))
    for (family, meta_seed, _, _), row in sorted(units.items()):
        if not np.isnan(row).any():
            grouped[family][meta_seed].append(row)
    return [[np.stack(rows) for _, rows in sorted(runs.items())] for _, runs in sorted(grouped.items())]


def _area_statistic(budgets: Sequence[int]) -> UnitStatistic:
    def statistic(units: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(adaptation_area(iqm(units, axis=1), budgets), dtype=np.float64).reshape(-1)

    return statistic


def area_interval(records: Sequence[Record], budgets: Sequence[int], view: str = "final", **boot: Any) -> Interval:
    """The adaptation area of a submission's pooled runs, with a bootstrap interval of whole
    units (all budgets of a unit kept together; meta-training runs resampled first)."""
    return clustered_bootstrap(_area_units(records, budgets, view), _area_statistic(budgets), **boot)


def _pooled(records: Iterable[Record]) -> list[Record]:
    return [r for r in records if _group(r) not in APART]


@dataclass(frozen=True)
class _PendingAggregate:
    """An :class:`Aggregate` whose interval is being computed with others."""

    n: int
    iqm: _Ticket | None  # None: no runs
    median: float
    mean: float
    optimality_gap: float

    def resolve(self) -> Aggregate:
        interval = self.iqm() if self.iqm is not None else Interval(math.nan, math.nan, math.nan)
        return Aggregate(self.n, interval, self.median, self.mean, self.optimality_gap)


def _aggregate_request(records: Sequence[Record], view: str, intervals: _Intervals) -> _PendingAggregate:
    """:func:`aggregate_runs`, its interval asked of ``intervals``."""
    clusters = _clusters(records, view)
    by_family = {f: [x for run in runs for x in run] for f, runs in clusters.items()}
    runs = np.concatenate([_array(v).ravel() for v in by_family.values()] or [np.zeros(0)])
    if runs.size == 0:
        return _PendingAggregate(0, None, math.nan, math.nan, math.nan)
    if all(len(r) <= 1 for r in clusters.values()):
        interval = intervals.iqm(by_family)
    else:  # several meta-training runs: the two-level bootstrap
        strata = [[np.asarray(run, dtype=np.float64)[:, None] for run in runs] for runs in clusters.values()]
        interval = intervals.clustered(strata, _iqm_of_units, "iqm")
    return _PendingAggregate(
        int(runs.size), interval, float(np.median(runs)), float(np.mean(runs)), float(optimality_gap(runs))
    )


@dataclass(frozen=True)
class _PendingBudget:
    """A :class:`BudgetScore` whose intervals are being computed with others."""

    budget: int
    overall: _PendingAggregate
    families: dict[str, _PendingAggregate]
    groups: dict[str, _PendingAggregate]
    family_groups: dict[str, dict[str, _PendingAggregate]]
    rest: dict[str, Any]  # the fields without intervals

    def resolve(self) -> BudgetScore:
        return BudgetScore(
            budget=self.budget,
            overall=self.overall.resolve(),
            families={f: a.resolve() for f, a in self.families.items()},
            groups={g: a.resolve() for g, a in self.groups.items()},
            family_groups={f: {g: a.resolve() for g, a in by.items()} for f, by in self.family_groups.items()},
            **self.rest,
        )


def _budget_request(
    budget: int, rows: Sequence[Record], taus: Sequence[float], view: str, intervals: _Intervals
) -> _PendingBudget:
    pooled = _pooled(rows)
    runs = _by_family(pooled, view)
    groups: dict[str, list[Record]] = defaultdict(list)
    variants: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        groups[_group(row)].append(row)
        variants[row.variant].append(score_of(row, view))
    order = _ordered_groups(groups)
    successes = [r.success_rate for r in pooled if r.success_rate is not None]
    return _PendingBudget(
        budget=budget,
        overall=_aggregate_request(pooled, view, intervals),
        families={f: _aggregate_request([r for r in pooled if r.family == f], view, intervals) for f in runs},
        groups={g: _aggregate_request(groups[g], view, intervals) for g in order},
        family_groups={
            f: {
                g: _aggregate_request(members, view, intervals)
                for g in order
                if (members := [r for r in groups[g] if r.family == f])
            }
            for f in sorted({r.family for r in rows})
        },
        rest={
            "variants": {v: float(np.mean(x)) for v, x in sorted(variants.items())},
            "statuses": status_counts(rows),
            "profile": tuple(float(p) for p in performance_profile([score_of(r, view) for r in pooled], taus)),
            "success_rate": float(np.mean(successes)) if successes else None,
            "family_success": {
                f: float(np.mean(rates))
                for f in runs
                if (rates := [r.success_rate for r in pooled if r.family == f and r.success_rate is not None])
            },
        },
    )


def _entry_request(
    records: Sequence[Record],
    budgets: Sequence[int],
    taus: Sequence[float],
    view: str,
    kind: str,
    provenance: str,
    intervals: _Intervals,
) -> Callable[[], Entry]:
    """A submission's entry on a board, its intervals asked of ``intervals``: the entry, once
    they are computed (rank 0, not tied: ranking is the board's)."""
    first = records[0]
    per_budget: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        per_budget[record.budget].append(record)
    scores = {b: _budget_request(b, rows, taus, view, intervals) for b in budgets if (rows := per_budget.get(b))}

    # The area needs an IQM at every budget; with one, it is finite (the scores are).
    full = all(b in scores and scores[b].overall.n for b in budgets)
    ticket = (
        intervals.clustered(_area_units(_pooled(records), budgets, view), _area_statistic(budgets), ("area", *budgets))
        if full
        else None
    )
    families = sorted({r.family for r in records})
    failures = tuple(
        Failure(str(r.status), r.error or "", r.variant, r.budget, r.seed) for r in records if r.status != Status.OK
    )

    def resolve() -> Entry:
        resolved = {b: request.resolve() for b, request in scores.items()}
        area = _area(_curve(resolved, budgets, None), budgets)
        interval = ticket() if ticket is not None else Interval(area, area, area)
        return Entry(
            submission=first.submission,
            version=first.submission_version or "",
            hash=first.submission_hash,
            rank=0,
            budgets=resolved,
            area=Interval(area, interval.low, interval.high),
            family_areas={f: _area(_curve(resolved, budgets, f), budgets) for f in families},
            statuses=status_counts(records),
            n_trials=len(records),
            failures=failures,
            arena_versions=tuple(sorted({r.arena_version for r in records if r.arena_version})),
            kind=kind,
            provenance=provenance,
        )

    return resolve


def _group(record: Record) -> str:
    return record.variant_group or ""


def _ordered_groups(groups: Iterable[str]) -> list[str]:
    present = set(groups)
    return [g for g in GROUPS if g in present] + sorted(present - set(GROUPS))


def _ranked(entries: Iterable[Entry]) -> list[Entry]:
    """Ranks (equal keys share one) and the ties with the leader (overlapping area intervals)."""
    ordered = sorted(entries, key=_rank_key)
    out: list[Entry] = []
    for position, entry in enumerate(ordered, start=1):
        same = out and _rank_key(out[-1])[:3] == _rank_key(entry)[:3]
        out.append(replace(entry, rank=out[-1].rank if same else position))
    if out and not out[0].all_failed and math.isfinite(out[0].area.estimate):
        leader = out[0].area
        out = [
            replace(
                e,
                tied=e is not out[0] and not e.all_failed and math.isfinite(e.area.high) and e.area.high >= leader.low,
            )
            for e in out
        ]
    return out


# Bump when what an entry's statistics mean changes: cached entries are then computed again.
SCORING_VERSION = 2  # 2: the IQM by a sort (the last bits of some values changed)
_DIGEST_FIELDS = (
    "submission_hash", "submission", "submission_version", "family", "variant", "variant_group", "budget", "seed",
    "meta_train_seed", "model", "status", "normalized_score", "online_score", "success_rate", "error", "arena_version",
)  # fmt: skip


def trials_digest(records: Iterable[Record], *context: Any) -> str:
    """A digest of the trials an entry is computed from, in their order (the bootstrap draws
    indices into that order), and of how it is computed (``context``): the key of a cached entry."""
    digest = hashlib.sha256(repr((SCORING_VERSION, np.__version__, scipy.__version__, *context)).encode())
    for record in records:
        digest.update(repr(tuple(getattr(record, name) for name in _DIGEST_FIELDS)).encode())
    return digest.hexdigest()


@dataclass
class _Planned:
    """One board while it is scored: its entries' records, digests and (cached or pending) entries."""

    key: tuple[str, int, str, str]  # suite, version, split, model
    records: list[Record]
    budgets: tuple[int, ...]
    members: dict[tuple[str, str], list[Record]]  # (hash, provenance) -> records
    digests: dict[tuple[str, str], str]
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    pending: dict[tuple[str, str], Callable[[], Entry]] = field(default_factory=dict)


def _provenance(record: Record) -> str:
    return str(record.provenance or Provenance.HARNESS)


def _matches(entry: Entry, name: str) -> bool:
    return name in (entry.id, entry.hash, entry.submission, entry.label)


def score(
    records: Iterable[Record],
    *,
    baselines: Collection[str] = (),
    references: Collection[str] = (),
    pairs: Collection[tuple[str, str]] = (),
    view: str = "final",
    taus: Sequence[float] = DEFAULT_TAUS,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    cache: MutableMapping[str, Any] | None = None,
) -> list[Board]:
    """One board per (suite, suite version, split) in the records, in ``view``: suites by name,
    newest version first, then the test, dev and train splits. In the online view, boards of
    families without online scores are left out.

    Each board has one entry per (submission hash, provenance): ``references`` (submission
    hashes) are scored alike and listed apart, never ranked; self-reported entries (imported
    results) are ranked among themselves, apart from the official and harness-run ones.

    The probability of improvement is computed where it is shown: of every entry over the
    ``baselines`` (submission names) and the reference agents, and for the ``pairs`` asked for
    (each side a submission name, label, hash or entry id): its cost grows with the entries,
    not with their square.

    ``cache`` (a mapping the caller keeps, e.g. :class:`arena.scorecache.ScoreCache`) holds
    computed entries and probabilities under the digest of the trials they come from and of how
    they were computed: what is found there is not computed again. The numbers are the same
    with or without it.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: {', '.join(VIEWS)}")
    groups: dict[tuple[str, int, str, str], list[Record]] = defaultdict(list)
    for record in records:
        if in_view(record, view):
            groups[(record.suite, record.suite_version, record.split, record.model)].append(record)
    order = sorted(groups, key=lambda k: (k[0], -k[1], SPLIT_ORDER.get(k[2], 9), k[2], k[3]))
    boot = (n_resamples, confidence, seed)
    intervals = _Intervals(n_resamples, confidence, seed)
    planned = []
    for key in order:
        rows = groups[key]
        budgets = tuple(sorted({r.budget for r in rows}))
        members: dict[tuple[str, str], list[Record]] = defaultdict(list)
        for record in rows:
            members[(record.submission_hash, _provenance(record))].append(record)
        context = (view, budgets, tuple(taus), boot)
        digests = {
            m: trials_digest(found, "entry", "reference" if m[0] in references else "agent", m[1], *context)
            for m, found in members.items()
        }
        plan = _Planned(key, rows, budgets, dict(members), digests)
        for member, found in members.items():
            cached = cache.get(f"entry:{digests[member]}") if cache is not None else None
            if isinstance(cached, Entry):
                plan.entries[member] = cached
            else:
                kind = "reference" if member[0] in references else "agent"
                plan.pending[member] = _entry_request(found, budgets, taus, view, kind, member[1], intervals)
        planned.append(plan)
    intervals.compute()
    for plan in planned:
        for member, resolve in plan.pending.items():
            plan.entries[member] = resolve()
            if cache is not None:
                cache[f"entry:{plan.digests[member]}"] = plan.entries[member]
    staged = [_board_request(plan, view, taus, baselines, pairs, intervals, cache) for plan in planned]
    intervals.compute()  # the probabilities of improvement of every board together
    boards = [resolve() for resolve in staged]
    if view == "online":  # a board whose every trial failed has nothing online to show
        boards = [b for b, p in zip(boards, planned, strict=True) if any(r.online_score is not None for r in p.records)]
    return boards


def _board_request(
    plan: _Planned,
    view: str,
    taus: Sequence[float],
    baselines: Collection[str],
    pairs: Collection[tuple[str, str]],
    intervals: _Intervals,
    cache: MutableMapping[str, Any] | None,
) -> Callable[[], Board]:
    """Rank a board's entries and ask for its probabilities of improvement: the board, once
    they are computed."""
    everyone = list(plan.entries.values())
    entries = _ranked(e for e in everyone if e.kind != "reference" and e.provenance != Provenance.SELF_REPORTED)
    self_reported = _ranked(e for e in everyone if e.kind != "reference" and e.provenance == Provenance.SELF_REPORTED)
    references = sorted((e for e in everyone if e.kind == "reference"), key=lambda e: (e.label, e.hash, e.provenance))
    headline = plan.budgets[-1]
    wanted: dict[tuple[str, str], tuple[Entry, Entry]] = {}
    targets = [e for e in entries if e.submission in baselines] + references
    for x in (*entries, *self_reported):
        for y in targets:
            if x.hash != y.hash:
                wanted[(x.id, y.id)] = (x, y)
    for a, b in pairs:
        for x in everyone:
            for y in everyone:
                if x.id != y.id and _matches(x, a) and _matches(y, b):
                    wanted[(x.id, y.id)] = (x, y)
    member = {e.id: (e.hash, e.provenance) for e in everyone}
    runs: dict[str, dict[str, list[float]]] = {}

    def runs_of(entry: Entry) -> dict[str, list[float]]:
        if entry.id not in runs:
            at = [r for r in plan.members[member[entry.id]] if r.budget == headline]
            runs[entry.id] = _by_family(_pooled(at), view)
        return runs[entry.id]

    improvement: dict[tuple[str, str], Interval] = {}
    tickets: dict[tuple[str, str], tuple[_Ticket, str]] = {}
    for ids, (x, y) in wanted.items():
        key = f"improvement:{plan.digests[member[x.id]]}:{plan.digests[member[y.id]]}"
        cached = cache.get(key) if cache is not None else None
        if isinstance(cached, Interval):
            improvement[ids] = cached
            continue
        x_runs, y_runs = runs_of(x), runs_of(y)
        if x_runs and y_runs:
            tickets[ids] = (intervals.improvement(x_runs, y_runs), key)

    def resolve() -> Board:
        for ids, (ticket, key) in tickets.items():
            improvement[ids] = ticket()
            if cache is not None:
                cache[key] = improvement[ids]
        return _assemble(plan, view, taus, entries, self_reported, references, improvement, wanted)

    return resolve


def _assemble(
    plan: _Planned,
    view: str,
    taus: Sequence[float],
    entries: Sequence[Entry],
    self_reported: Sequence[Entry],
    references: Sequence[Entry],
    found: Mapping[tuple[str, str], Interval],
    wanted: Iterable[tuple[str, str]],
) -> Board:
    suite, version, split, model = plan.key
    return Board(
        suite=str(suite),
        suite_version=version,
        split=str(split),
        model=str(model),
        budgets=plan.budgets,
        families=tuple(sorted({r.family for r in plan.records})),
        groups=tuple(_ordered_groups(_group(r) for r in plan.records)),
        entries=tuple(entries),
        taus=tuple(float(t) for t in taus),
        improvement={ids: found[ids] for ids in wanted if ids in found},  # in the order asked
        finished_at=max((r.finished_at or "" for r in plan.records), default=""),
        variants={r.variant: (r.family, _group(r)) for r in sorted(plan.records, key=lambda r: r.variant)},
        references=tuple(references),
        view=view,
        self_reported=tuple(self_reported),
    )


def score_board(
    records: Sequence[Record],
    *,
    baselines: Collection[str] = (),
    references: Collection[str] = (),
    pairs: Collection[tuple[str, str]] = (),
    view: str = "final",
    taus: Sequence[float] = DEFAULT_TAUS,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
    cache: MutableMapping[str, Any] | None = None,
) -> Board:
    """The board of records that all share one (suite, suite version, split): :func:`score`."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: {', '.join(VIEWS)}")
    records = [r for r in records if in_view(r, view)]
    if not records:
        raise ValueError("a board needs at least one trial record")
    keys = {(r.suite, r.suite_version, r.split, r.model) for r in records}
    if len(keys) != 1:
        raise ValueError(f"records of several boards given: {sorted(keys)}")
    (board,) = score(
        records,
        baselines=baselines,
        references=references,
        pairs=pairs,
        view=view,
        taus=taus,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        cache=cache,
    )
    return board


SPLIT_ORDER = {"test": 0, "dev": 1, "train": 2}


# --------------------------------------------------------------------------------------------
# Plain data for CSV and JSON
# --------------------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _entry_as_dict(e: Entry) -> dict[str, Any]:
    return {
        "rank": e.rank,
        "kind": e.kind,
        "provenance": e.provenance,
        "tied": e.tied,
        "submission": e.submission,
        "version": e.version,
        "submission_hash": e.hash,
        "n_trials": e.n_trials,
        "statuses": e.statuses,
        "adaptation_area": _finite(e.area.estimate),
        "adaptation_area_low": _finite(e.area.low),
        "adaptation_area_high": _finite(e.area.high),
        "family_areas": {f: _finite(a) for f, a in e.family_areas.items()},
        "budgets": {
            str(b): {
                **s.overall.as_dict(),
                "statuses": s.statuses,
                "success_rate": s.success_rate,
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


def board_as_dict(board: Board) -> dict[str, Any]:
    """A JSON-ready view of a board (NaN becomes None)."""
    by_id = {e.id: e for e in board.everyone}
    return {
        "suite": board.suite,
        "suite_version": board.suite_version,
        "split": board.split,
        "view": board.view,
        "headline": "adaptation_area",
        "budgets": list(board.budgets),
        "headline_budget": board.headline_budget,
        "families": list(board.families),
        "groups": list(board.groups),
        "finished_at": board.finished_at,
        "taus": list(board.taus),
        "entries": [_entry_as_dict(e) for e in board.entries],
        "references": [_entry_as_dict(e) for e in board.references],
        "self_reported": [_entry_as_dict(e) for e in board.self_reported],
        "variants": {v: {"family": f, "group": g} for v, (f, g) in board.variants.items()},
        "probability_of_improvement": [
            {
                "x": by_id[x].label,
                "y": by_id[y].label,
                "x_hash": by_id[x].hash,
                "y_hash": by_id[y].hash,
                "x_provenance": by_id[x].provenance,
                "y_provenance": by_id[y].provenance,
                **iv.as_dict(),
            }
            for (x, y), iv in board.improvement.items()
        ],
    }


def standings_rows(boards: Iterable[Board]) -> list[dict[str, Any]]:
    """One flat row per (board, entry), references after the ranked entries: what a CSV of the
    standings holds."""
    rows = []
    for board in boards:
        for e in board.everyone:
            head = e.headline(board.headline_budget)
            row: dict[str, Any] = {
                "suite": board.suite,
                "suite_version": board.suite_version,
                "split": board.split,
                "view": board.view,
                "rank": e.rank,
                "kind": e.kind,
                "provenance": e.provenance,
                "tied": e.tied,
                "submission": e.submission,
                "version": e.version,
                "submission_hash": e.hash,
                "adaptation_area": _finite(e.area.estimate),
                "adaptation_area_low": _finite(e.area.low),
                "adaptation_area_high": _finite(e.area.high),
                "headline_budget": board.headline_budget,
            }
            row.update(head.as_dict() if head is not None else {})
            for budget in board.budgets:
                agg = e.headline(budget)
                row[f"iqm_{budget}"] = _finite(agg.iqm.estimate) if agg is not None else None
            score = e.budgets.get(board.headline_budget)
            for group in board.groups:
                agg = score.groups.get(group) if score is not None else None
                row[f"iqm_{group}"] = _finite(agg.iqm.estimate) if agg is not None else None
            row["n_trials"] = e.n_trials
            row.update(e.statuses)
            rows.append(row)
    return rows
