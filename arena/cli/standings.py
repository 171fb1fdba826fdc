"""The standings in the terminal (``arena results``): rich tables of scoring's boards."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from arena import scoring
from arena.records import TrialRecord
from arena.scoring import Aggregate, Board, Interval
from leaderboard.svg import budget_label, fmt

GROUP_SHORT = {"interpolation": "int", "extrapolation": "ext", "out_of_support": "oos"}

STATUS_STYLES = {"ok": "green", "error": "red", "oom": "red", "timeout": "yellow", "invalid_action": "yellow"}


def _statuses(statuses: Mapping[str, int]) -> Text:
    if sum(statuses.values()) == statuses.get("ok", 0):
        return Text(str(statuses.get("ok", 0)), style="green")
    text = Text()
    for status, count in statuses.items():
        if count or status == "ok":
            if text:
                text.append(" ")
            text.append(f"{count} {status}", style=STATUS_STYLES.get(status, "magenta") if count else "dim")
    return text


def _interval(iv: Interval | None) -> Text:
    if iv is None or not math.isfinite(iv.estimate):
        return Text("—", style="dim")
    return Text(fmt(iv.estimate), style="bold").append(f" [{fmt(iv.low)}, {fmt(iv.high)}]", style="dim")


def _ci(agg: Aggregate | None) -> Text:
    return _interval(agg.iqm if agg is not None and agg.n else None)


def standings_table(
    records: Iterable[TrialRecord],
    *,
    references: Collection[str] = (),
    baselines: Collection[str] = (),
    n_resamples: int = scoring.N_RESAMPLES,
) -> Table:
    """The standings of trial records as one rich table: rank, submission, the adaptation area
    [95% CI] (the headline), the IQM at every budget, the interpolation and extrapolation groups
    at the largest budget, the online view's area, and the trials by status. Reference agents
    (``references``: submission hashes) follow the ranked rows, unranked.

    Each (suite, suite version, split) is a section of its own, named in a first column when the
    records hold more than one.
    """
    records = list(records)
    boards = scoring.score(records, baselines=baselines, references=references, n_resamples=n_resamples)
    online = scoring.score(records, references=references, view="online", n_resamples=0)
    return boards_table(boards, online)


def boards_table(boards: Sequence[Board], online: Sequence[Board] = ()) -> Table:
    """:func:`standings_table` of boards already scored (``online``: the same boards' online view)."""
    budgets = sorted({b for board in boards for b in board.budgets})
    groups = [g for g in ("interpolation", "extrapolation", "out_of_support") if any(g in b.groups for b in boards)]
    # The online view covers the families with analytic references: shown only where that is
    # every family of the board (else its area would be of other families than the row's).
    families = {b.id: set(b.families) for b in boards}
    online_area = {
        (b.id, e.hash): e.area.estimate
        for b in online
        if families.get(b.id) == set(b.families)
        for e in (*b.entries, *b.references)
    }
    several = len(boards) > 1
    title = (
        f"{boards[0].suite} v{boards[0].suite_version} · {boards[0].split} split{_model(boards[0])}"
        if len(boards) == 1
        else "Standings"
    )
    table = Table(
        box=box.SIMPLE_HEAD,  # no vertical rules: the standings fit an 80-column terminal
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
        title=title,
        caption=(
            "Ranked by the adaptation area [95% CI] (the IQM of normalized scores, 0 = random and 1 = reference, "
            "averaged over log10(1 + budget)); = : tied with the leader (the intervals overlap). Per budget: IQM; "
            f"{'/'.join(GROUP_SHORT[g] for g in groups)}: IQM of the {'/'.join(g.replace('_', '-') for g in groups)} "
            "variants at the largest budget; "
            "online: the area of the online view (reward earned while adapting counts). ref: reference agents, unranked."
        )
        if boards
        else "no trials stored",
        title_justify="left",
        caption_justify="left",
    )
    if several:
        table.add_column("suite · split")
    table.add_column("#", justify="right", style="bold", no_wrap=True)
    table.add_column("submission", no_wrap=True)
    table.add_column("area [95% CI]", justify="right", no_wrap=True)
    for budget in budgets:
        table.add_column(budget_label(budget), justify="right", no_wrap=True, min_width=5)
    for group in groups:
        table.add_column(GROUP_SHORT[group], justify="right", no_wrap=True, min_width=5)
    if online_area:
        table.add_column("online", justify="right", no_wrap=True, min_width=5)
    table.add_column("n", overflow="fold")  # trials: "16", or by status where some failed: "13 ok 3 timeout"
    for board in boards:
        rows = [*board.entries, *board.references]
        for position, entry in enumerate(rows):
            cells: list[Any] = []
            if several:
                cells.append(
                    f"{board.suite} v{board.suite_version} · {board.split}{_model(board)}" if position == 0 else ""
                )
            largest = entry.budgets.get(board.headline_budget)
            rank = "ref" if entry.kind == "reference" else ("=" if entry.tied else "") + str(entry.rank)
            cells += [
                Text(rank, style="dim" if entry.kind == "reference" else "bold"),
                Text(entry.submission, style="bold").append(f" {entry.version}", style="dim"),
                _interval(entry.area),
                *[fmt(agg.iqm.estimate) if (agg := entry.headline(b)) else "—" for b in budgets],
                *[
                    fmt(agg.iqm.estimate) if largest is not None and (agg := largest.groups.get(g)) else "—"
                    for g in groups
                ],
            ]
            if online_area:
                value = online_area.get((board.id, entry.hash))
                cells.append(fmt(value) if value is not None else "—")
            cells.append(_statuses(entry.statuses))
            table.add_row(*cells, end_section=position == len(rows) - 1)
    return table


def _model(board: Any) -> str:
    return f" · model {board.model}" if getattr(board, "model", "") else ""
