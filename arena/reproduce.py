"""``arena reproduce SUITE``: a published table beside MetaArena's own measurement of it.

A suite that reproduces a paper (``rl2-paper``) carries the paper's table in its ``[reproduce]``
section: one cell per family, the paper's value of each of its columns, the tolerance a cell
is held to, and which submission stands for which column. The submissions run on the suite's
dev split through the ordinary harness (sandboxed, stored, resumable: ``arena run``); a cell's
measurement is the mean over its tasks of the trial's **total** reward (a bandit trial is one
episode of n pulls, an MDP trial n episodes), with a 95% confidence interval (Student's t).

A cell passes when ``|measured - paper| <= tolerance + half-width of the 95% CI``: the
tolerance is absolute or relative to the paper's value, per cell or for the whole table. The
``required`` agents must pass every cell; a ``[reproduce.targets.NAME]`` holds one agent to its
own relative tolerance on the cells it lists (reported, not required, on the others).

``against``: each agent's **paired** difference from another agent (``arena reproduce
--against``), over the trials both ran on the same task with the same seeds. The environment's
draws are then shared (a bandit pull pays when one uniform draw is below the arm's probability,
whichever arm is pulled), so two policies' difference has a far narrower interval than the two
means' intervals side by side: e.g. an agent against the Bayes-optimal ceiling of the same tasks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats

from arena.errors import ArenaError
from arena.records import Status, TrialRecord
from arena.suites import Suite

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Cell:
    """One cell of a published table: a family of the suite."""

    family: str
    table: str
    n: int
    k: int | None
    paper: Mapping[str, float]  # the paper's column -> value
    absolute_tolerance: float | None
    relative_tolerance: float

    def tolerance(self, paper: float) -> float:
        if self.absolute_tolerance is not None:
            return self.absolute_tolerance
        return self.relative_tolerance * abs(paper)


@dataclass(frozen=True)
class Target:
    """A submission held to the paper on some cells only, at a tolerance of its own (RL² within
    3% of the paper's RL² column on the cells its issue names)."""

    cells: tuple[str, ...]  # families
    relative_tolerance: float


@dataclass(frozen=True)
class Published:
    """A suite's ``[reproduce]`` table."""

    source: str
    agents: Mapping[str, str]  # submission name -> the paper's column it is compared with
    required: tuple[str, ...]  # the submissions every cell must pass for
    cells: tuple[Cell, ...]
    targets: Mapping[str, Target] = field(default_factory=dict)  # submission name -> its target

    def required_on(self, agent: str, family: str) -> bool:
        target = self.targets.get(agent)
        return agent in self.required or (target is not None and family in target.cells)

    def tolerance(self, agent: str, cell: Cell, paper: float) -> float:
        target = self.targets.get(agent)
        return target.relative_tolerance * abs(paper) if target is not None else cell.tolerance(paper)


@dataclass(frozen=True)
class Row:
    """One (cell, agent): what ``--format json`` prints, one object each."""

    table: str
    n: int
    k: int | None
    agent: str
    paper: float | None
    measured: float | None
    ci: tuple[float, float] | None
    tasks: int  # trials that ended ok
    failed: int  # trials that did not
    tolerance: float | None
    passed: bool | None  # None where the paper has no value for this agent
    required: bool
    against: str | None = None  # the agent the paired difference is taken from
    gap: float | None = None  # mean of (this agent's total - against's) over the trials both ran
    gap_ci: tuple[float, float] | None = None
    paired: int = 0  # trials in the gap

    @property
    def cell(self) -> str:
        """The cell as the paper's table names it, e.g. "bandit n=10 k=5"."""
        return f"{self.table} n={self.n}" + (f" k={self.k}" if self.k is not None else "")

    @property
    def difference(self) -> float | None:
        """(measured - paper) / paper, in percent."""
        if self.paper in (None, 0) or self.measured is None:
            return None
        return 100.0 * (self.measured - self.paper) / abs(self.paper)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "n": self.n,
            "k": self.k,
            "agent": self.agent,
            "paper": self.paper,
            "measured": self.measured,
            "ci": list(self.ci) if self.ci is not None else None,
            "difference_percent": self.difference,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "required": self.required,
            "tasks": self.tasks,
            "failed": self.failed,
            "against": self.against,
            "gap": self.gap,
            "gap_ci": list(self.gap_ci) if self.gap_ci is not None else None,
            "paired": self.paired,
        }


def published(suite: Suite) -> Published:
    """The suite's published table; a one-line error when it has none or it is malformed."""
    raw = suite.published
    if not raw:
        raise ArenaError(f"suite {suite.id} has no [reproduce] table: it reproduces no published results")
    try:
        relative = float(raw.get("relative_tolerance", 0.02))
        cells = tuple(
            Cell(
                family=family,
                table=str(cell["table"]),
                n=int(cell["n"]),
                k=int(cell["k"]) if "k" in cell else None,
                paper={str(column): float(value) for column, value in cell["paper"].items()},
                absolute_tolerance=float(cell["absolute_tolerance"]) if "absolute_tolerance" in cell else None,
                relative_tolerance=float(cell.get("relative_tolerance", relative)),
            )
            for family, cell in raw["cells"].items()
        )
        agents = {str(name): str(column) for name, column in raw.get("agents", {}).items()}
        targets = {
            str(name): Target(tuple(str(f) for f in target["cells"]), float(target["relative_tolerance"]))
            for name, target in raw.get("targets", {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArenaError(f"{suite.path}: [reproduce] is malformed ({type(exc).__name__}: {exc})") from None
    families = {plan.family for plan in suite.families}
    for cell in cells:
        if cell.family not in families:
            raise ArenaError(f"{suite.path}: [reproduce.cells.{cell.family}] names a family the suite does not have")
    for name, target in targets.items():
        unknown = sorted(set(target.cells) - {cell.family for cell in cells})
        if unknown:
            raise ArenaError(f"{suite.path}: [reproduce.targets.{name}] names cells the table does not have: {unknown}")
    return Published(str(raw.get("source", "")), agents, tuple(raw.get("required", ())), cells, targets)


def trial_total(record: TrialRecord) -> float:
    """What the paper scores: the total reward of the trial (every evaluation episode)."""
    return float(sum(record.episode_returns))


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float]]:
    """The mean and its Student-t confidence interval (exact where every value is the same)."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2 or float(x.std()) == 0.0:
        return mean, (mean, mean)
    low, high = scipy.stats.t.interval(confidence, x.size - 1, loc=mean, scale=scipy.stats.sem(x))
    return mean, (float(low), float(high))


TrialKey = tuple[str, int, int]  # (variant, budget, seed): the same task with the same seeds


def paired_gap(
    mine: Mapping[TrialKey, Sequence[float]], theirs: Mapping[TrialKey, Sequence[float]]
) -> tuple[float, tuple[float, float], int] | None:
    """The mean of ``mine - theirs`` over the trials both have, its 95% CI and the number of
    pairs (None where they share none). Each side's value of a trial is the mean of its totals
    there: one, or one per meta-training run on suites with ``meta_train_seeds``."""
    both = sorted(mine.keys() & theirs.keys())
    if not both:
        return None
    mean, ci = mean_interval([float(np.mean(mine[key])) - float(np.mean(theirs[key])) for key in both])
    return mean, ci, len(both)


def compare(
    table: Published, records: Iterable[TrialRecord], agents: Sequence[str], against: str | None = None
) -> list[Row]:
    """One row per (cell, agent) from the agents' stored trials (by submission name); with
    ``against``, each row also holds its agent's paired difference from that agent."""
    totals: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_trial: dict[tuple[str, str], dict[TrialKey, list[float]]] = defaultdict(lambda: defaultdict(list))
    failed: dict[tuple[str, str], int] = defaultdict(int)
    for record in records:
        key = (record.submission, record.family)
        if record.status == Status.OK:
            totals[key].append(trial_total(record))
            by_trial[key][(record.variant, record.budget, record.seed)].append(trial_total(record))
        else:
            failed[key] += 1
    rows = []
    for cell in table.cells:
        for agent in agents:
            column = table.agents.get(agent, "")
            paper = cell.paper.get(column)
            values = totals.get((agent, cell.family), [])
            measured, ci = mean_interval(values) if values else (None, None)
            tolerance = table.tolerance(agent, cell, paper) if paper is not None else None
            passed = None
            if paper is not None and measured is not None and ci is not None and tolerance is not None:
                half = (ci[1] - ci[0]) / 2
                passed = abs(measured - paper) <= tolerance + half and not failed.get((agent, cell.family))
            gap = None
            if against and agent != against:
                gap = paired_gap(by_trial.get((agent, cell.family), {}), by_trial.get((against, cell.family), {}))
            rows.append(
                Row(
                    table=cell.table,
                    n=cell.n,
                    k=cell.k,
                    agent=agent,
                    paper=paper,
                    measured=measured,
                    ci=ci,
                    tasks=len(values),
                    failed=failed.get((agent, cell.family), 0),
                    tolerance=tolerance,
                    passed=passed,
                    required=table.required_on(agent, cell.family),
                    against=against,
                    gap=gap[0] if gap else None,
                    gap_ci=gap[1] if gap else None,
                    paired=gap[2] if gap else 0,
                )
            )
    return rows


def misses(rows: Iterable[Row]) -> list[Row]:
    """The required agents' cells that did not pass (or were not measured)."""
    return [row for row in rows if row.required and row.paper is not None and row.passed is not True]


def misses_line(missed: Sequence[Row]) -> str:
    """One line naming every missed cell: a table has a dozen required cells at most."""
    names = [f"{r.agent} on {r.cell}" + ("" if r.measured is not None else " (not measured)") for r in missed]
    return f"{len(missed)} required cell(s) outside the tolerance: {', '.join(names)}"
