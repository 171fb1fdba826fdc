"""Ladder ratings: the empirical payoff table, OpenSkill ratings with uncertainty, and α-Rank.

* **Payoff table.** ``payoff[i, j]`` is the mean match score of ``i`` against ``j`` over every
  counted match between them, both seatings, every variant and seed (a match's score is its
  mean game score: win 1, draw 0.5, loss 0). ``payoff[i, j] + payoff[j, i] = 1``; the diagonal is
  0.5 (nobody plays itself). Counted matches: those that ended ``ok``, and failed ones charged to
  a side (the offender forfeited every game); harness failures are left out.
* **Ratings** by the maintained ``openskill`` library (Weng–Lin Bayesian ratings, the
  Plackett–Luce model with its default μ = 25, σ = 25/3): one two-player update per counted
  match (higher match score wins; equal scores tie), in a fixed order (variant, seed, seating,
  pair), so the same matches always give the same ratings. ``ordinal`` = μ − 3σ is the
  conservative estimate.
* **α-Rank** (Omidshafiei et al. 2019) from OpenSpiel's ``open_spiel.python.egt.alpharank``,
  single population, on the payoff table: the stationary distribution of an evolutionary
  process in which a mutant strategy takes over a population by its payoff against the
  incumbent. It is well defined where no agent beats every other (rock-paper-scissors cycles
  share mass uniformly) and puts all mass on an agent that beats everyone. Pairs that never
  met count as even (0.5).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arena.records import MatchRecord, Status

ALPHA = 100.0  # OpenSpiel's default selection intensity
POPULATION = 50  # OpenSpiel's default finite population size m


def _alpharank_module() -> Any:
    """OpenSpiel's α-Rank (imported late: it loads matplotlib for its plotter)."""
    from open_spiel.python.egt import alpharank

    return alpharank


def counted(match: MatchRecord) -> bool:
    """Whether a stored match enters payoffs and ratings."""
    return match.score_a is not None and (match.status == Status.OK or match.failed in ("a", "b"))


def payoff_matrix(matches: Iterable[MatchRecord], hashes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(payoff, matches counted, games counted), each ``len(hashes)`` square; payoff NaN where
    a pair never met, 0.5 on the diagonal."""
    index = {h: i for i, h in enumerate(hashes)}
    n = len(hashes)
    total, count, games = np.zeros((n, n)), np.zeros((n, n), dtype=int), np.zeros((n, n), dtype=int)
    for match in matches:
        i, j = index.get(match.submission_a_hash), index.get(match.submission_b_hash)
        if i is None or j is None or not counted(match):
            continue
        score = float(match.score_a or 0.0)  # counted(): never None here
        total[i, j] += score
        total[j, i] += 1.0 - score
        count[i, j] += 1
        count[j, i] += 1
        games[i, j] += int(match.games or 0)
        games[j, i] += int(match.games or 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        payoff = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    np.fill_diagonal(payoff, 0.5)
    return payoff, count, games


def alpha_rank(payoff: np.ndarray, alpha: float = ALPHA, m: int = POPULATION) -> np.ndarray:
    """α-Rank's stationary distribution over the rows of a (symmetric, constant-sum) payoff table."""
    n = payoff.shape[0]
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    table = np.where(np.isnan(payoff), 0.5, payoff)
    alpharank = _alpharank_module()
    with np.errstate(over="ignore"):  # exp overflows to inf for decisive payoffs: the limit is exact
        pi = np.asarray(alpharank.compute([table], m=m, alpha=alpha)[2], dtype=float)
    pi = np.clip(np.real(pi), 0.0, None)
    return pi / pi.sum()


def openskill_ratings(matches: Iterable[MatchRecord], hashes: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(μ, σ) per submission after one Plackett–Luce update per counted match, in a fixed order."""
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    ratings = {h: model.rating(name=h) for h in hashes}
    ordered = sorted(
        (m for m in matches if counted(m) and m.submission_a_hash in ratings and m.submission_b_hash in ratings),
        key=lambda m: (m.variant, m.seed, m.seat_a, m.submission_a_hash, m.submission_b_hash),
    )
    for match in ordered:
        a, b = match.submission_a_hash, match.submission_b_hash
        score = float(match.score_a or 0.0)  # counted(): never None here
        ranks = [0.0, 0.0] if math.isclose(score, 0.5) else ([0.0, 1.0] if score > 0.5 else [1.0, 0.0])
        [[ra], [rb]] = model.rate([[ratings[a]], [ratings[b]]], ranks=ranks)
        ratings[a], ratings[b] = ra, rb
    return {h: (float(r.mu), float(r.sigma)) for h, r in ratings.items()}


@dataclass
class Standing:
    hash: str
    name: str
    version: str
    rank: int = 0
    mu: float = 25.0
    sigma: float = 25.0 / 3
    alpha_mass: float = 0.0
    mean_score: float = math.nan  # mean payoff against the opponents it met
    matches: int = 0
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    illegal: int = 0  # games lost by an illegal or invalid move
    failures: Counter[str] = field(default_factory=Counter)  # failed matches it caused, by status

    @property
    def ordinal(self) -> float:
        return self.mu - 3 * self.sigma

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "submission": self.name,
            "version": self.version,
            "hash": self.hash,
            "alpha_rank": self.alpha_mass,
            "mu": self.mu,
            "sigma": self.sigma,
            "ordinal": self.ordinal,
            "mean_score": None if math.isnan(self.mean_score) else self.mean_score,
            "matches": self.matches,
            "games": self.games,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "illegal": self.illegal,
            "failures": dict(self.failures),
        }


@dataclass
class LadderTable:
    """Everything the ladder of one suite version says."""

    suite: str
    suite_version: int
    standings: list[Standing]  # ranked
    hashes: list[str]  # payoff rows and columns, in ranked order
    payoff: np.ndarray
    match_counts: np.ndarray
    game_counts: np.ndarray
    families: dict[str, tuple[np.ndarray, np.ndarray]]  # family -> (payoff, match counts)
    statuses: Counter[str]
    n_matches: int
    budgets: list[int]
    alpha: float = ALPHA
    population: int = POPULATION
    finished_at: str = ""


def ladder_tables(matches: Sequence[MatchRecord]) -> list[LadderTable]:
    """One table per (suite, suite version) that has matches, sorted by suite and version."""
    groups: dict[tuple[str, int], list[MatchRecord]] = defaultdict(list)
    for match in matches:
        groups[(match.suite, int(match.suite_version))].append(match)
    return [ladder_table(suite, version, rows) for (suite, version), rows in sorted(groups.items())]


def ladder_table(suite: str, version: int, matches: Sequence[MatchRecord]) -> LadderTable:
    people: dict[str, Standing] = {}
    for match in matches:
        for side in ("a", "b"):
            h = getattr(match, f"submission_{side}_hash")
            if h not in people:
                people[h] = Standing(
                    h, getattr(match, f"submission_{side}"), getattr(match, f"submission_{side}_version") or ""
                )
    hashes = sorted(people, key=lambda h: (people[h].name, h))
    payoff, match_counts, game_counts = payoff_matrix(matches, hashes)
    pi = alpha_rank(payoff)
    skills = openskill_ratings(matches, hashes)
    for i, h in enumerate(hashes):
        person = people[h]
        person.mu, person.sigma = skills[h]
        person.alpha_mass = float(pi[i])
        others = [payoff[i, j] for j in range(len(hashes)) if j != i and match_counts[i, j] > 0]
        person.mean_score = float(np.mean(others)) if others else math.nan
    for match in matches:
        a, b = people[match.submission_a_hash], people[match.submission_b_hash]
        if match.status != Status.OK and match.failed in ("a", "b"):
            (a if match.failed == "a" else b).failures[match.status] += 1
        if not counted(match):
            continue
        games = int(match.games or 0)
        wins, draws, losses = int(match.wins_a or 0), int(match.draws or 0), int(match.losses_a or 0)
        for person, won, lost, illegal in ((a, wins, losses, "illegal_a"), (b, losses, wins, "illegal_b")):
            person.matches += 1
            person.games += games
            person.wins += won
            person.draws += draws
            person.losses += lost
            person.illegal += int(getattr(match, illegal) or 0)
    ranked = sorted(people.values(), key=lambda p: (-round(p.alpha_mass, 6), -p.ordinal, p.name, p.hash))
    for position, person in enumerate(ranked, start=1):
        person.rank = position
    order = [p.hash for p in ranked]
    payoff, match_counts, game_counts = payoff_matrix(matches, order)
    families: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for family in sorted({m.family for m in matches}):
        fp, fc, _ = payoff_matrix([m for m in matches if m.family == family], order)
        families[family] = (fp, fc)
    return LadderTable(
        suite=suite,
        suite_version=version,
        standings=ranked,
        hashes=order,
        payoff=payoff,
        match_counts=match_counts,
        game_counts=game_counts,
        families=families,
        statuses=Counter(m.status for m in matches),
        n_matches=len(matches),
        budgets=sorted({int(m.budget) for m in matches}),
        finished_at=max((str(m.finished_at or "") for m in matches), default=""),
    )
