"""The standings in the terminal (``arena results``): rich tables of scoring's boards."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from arena import scoring
from arena.records import TrialRecord
from arena.scoring import Aggregate, Board
from leaderboard.svg import budget_label, fmt

STATUS_STYLES = {"ok": "green", "error": "red", "oom": "red", "timeout": "yellow", "invalid_action": "yellow"}


def _ci(agg: Aggregate | None) -> Text:
    if agg is None or not agg.n:
        return Text("—", style="dim")
    text = Text(fmt(agg.iqm.estimate), style="bold")
    text.append(f" [{fmt(agg.iqm.low)}, {fmt(agg.iqm.high)}]", style="dim")
    return text


def _statuses(statuses: Mapping[str, int]) -> Text:
    text = Text()
    for status, count in statuses.items():
        if count or status == "ok":
            if text:
                text.append(" ")
            text.append(f"{count} {status}", style=STATUS_STYLES.get(status, "magenta") if count else "dim")
    return text


def standings_table(
    records: Iterable[TrialRecord],
    *,
    baselines: Collection[str] | None = None,
    n_resamples: int = scoring.N_RESAMPLES,
) -> Table:
    """The standings of trial records as one rich table: rank, submission, IQM [95% CI] at the
    largest budget, the IQM at every budget, the adaptation area, and the trials by status.

    Each (suite, suite version, split) is a section of its own, named in a first column when the
    records hold more than one.
    """
    return boards_table(scoring.score(records, baselines=baselines, n_resamples=n_resamples))


def boards_table(boards: Sequence[Board]) -> Table:
    """:func:`standings_table` of boards already scored."""
    budgets = sorted({b for board in boards for b in board.budgets})
    several = len(boards) > 1
    if len(boards) == 1:
        board = boards[0]
        title = f"{board.suite} v{board.suite_version} · {board.split} split"
        headline = f"IQM @ {budget_label(board.headline_budget)} [95% CI]"
    else:
        title, headline = "Standings", "IQM @ largest budget [95% CI]"
    table = Table(
        box=box.SIMPLE_HEAD,  # no vertical rules: the standings fit an 80-column terminal
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
        title=title,
        caption="IQM of normalized scores (0 = random, 1 = reference) with 95% stratified-bootstrap CIs, "
        "ranked at the largest budget; area = mean height of the adaptation curve"
        if boards
        else "no trials stored",
        title_justify="left",
        caption_justify="left",
    )
    if several:
        table.add_column("suite · split")
    table.add_column("#", justify="right", style="bold")
    table.add_column("submission", no_wrap=True)
    table.add_column(headline, justify="right", no_wrap=True)
    for budget in budgets:
        table.add_column(budget_label(budget), justify="right", no_wrap=True)
    table.add_column("area", justify="right", no_wrap=True)
    table.add_column("trials", overflow="fold")  # counted by status: "118 ok 2 timeout"
    for board in boards:
        for position, entry in enumerate(board.entries):
            cells: list[Any] = []
            if several:
                cells.append(f"{board.suite} v{board.suite_version} · {board.split}" if position == 0 else "")
            cells += [
                str(entry.rank),
                Text(entry.submission, style="bold").append(f" {entry.version}", style="dim"),
                _ci(entry.headline(board.headline_budget)),
                *[fmt(agg.iqm.estimate) if (agg := entry.headline(b)) else "—" for b in budgets],
                fmt(entry.area),
                _statuses(entry.statuses),
            ]
            table.add_row(*cells, end_section=position == len(board.entries) - 1)
    return table
