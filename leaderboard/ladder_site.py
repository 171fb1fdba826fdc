"""The ladder pages of the site: one per suite version with cross-play matches.

The builder hands over the stored matches and its submission views; this module turns them into
:class:`LadderView` models (ratings, α-Rank, payoff heat maps) for ``templates/ladder.html``.
The heat map is hand-built SVG in the style of :mod:`leaderboard.svg`: tints of the page's own
``--good``/``--bad`` colours and ``currentColor`` text, so it reads in light and dark mode.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
from markupsafe import Markup

from arena.ladder import ratings
from arena.records import MatchRecord, Status
from arena.suites import Suite, installed_suite
from leaderboard.svg import PALETTE, fmt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def ladder_href(suite: str, version: int) -> str:
    return f"ladder/{_slug(suite)}-v{version}.html"


@dataclass
class LadderRow:
    standing: ratings.Standing
    color: int
    href: str | None  # the submission's page, when it has trials on the site
    bar: Markup

    @property
    def label(self) -> str:
        return f"{self.standing.name}@{self.standing.version}" if self.standing.version else self.standing.name


@dataclass
class LadderView:
    table: ratings.LadderTable
    href: str
    suite: Suite | None
    rows: list[LadderRow]
    heatmap: Markup
    family_maps: list[tuple[str, Markup, int]]  # (family, heat map, matches)
    families: list[str]
    badges: list[tuple[str, int, str]]
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.table.suite} v{self.table.suite_version}"


def views(matches: Sequence[MatchRecord], subs: Mapping[str, Any]) -> list[LadderView]:
    """One view per (suite, version) with matches; ``subs`` are the builder's submission views by hash."""
    out = []
    for table in ratings.ladder_tables(matches):
        rows_matches = [m for m in matches if m.suite == table.suite and int(m.suite_version) == table.suite_version]
        next_color = max((int(s.color) for s in subs.values()), default=-1) + 1
        rows = []
        for standing in table.standings:
            sub = subs.get(standing.hash)
            if sub is not None:
                color, href = int(sub.color), str(sub.href)
            else:
                color, href, next_color = next_color, None, next_color + 1
            rows.append(LadderRow(standing, color, href, mass_bar(standing.alpha_mass, color)))
        labels = [r.standing.name for r in rows]
        family_counts = Counter(m.family for m in rows_matches)
        view = LadderView(
            table=table,
            href=ladder_href(table.suite, table.suite_version),
            suite=installed_suite(table.suite, table.suite_version),
            rows=rows,
            heatmap=heatmap(
                labels, table.payoff, table.match_counts, title=f"Payoff matrix, {table.suite} v{table.suite_version}"
            ),
            family_maps=[
                (family, heatmap(labels, payoff, counts, title=f"Payoff on {family}", cell=38), family_counts[family])
                for family, (payoff, counts) in table.families.items()
            ],
            families=sorted(table.families),
            badges=[
                (status, n, "good" if status == "ok" else "bad" if status in ("error", "oom") else "warn")
                for status, n in sorted(table.statuses.items(), key=lambda kv: (kv[0] != "ok", kv[0]))
            ],
            failures=_failures(rows_matches),
        )
        out.append(view)
    return out


def _failures(matches: Sequence[MatchRecord]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[MatchRecord]] = defaultdict(list)
    for match in matches:
        if match.status == Status.OK:
            continue
        side = match.failed or "harness"
        who = getattr(match, f"submission_{side}") if side in ("a", "b") else "the harness"
        groups[(str(who), match.status, _summary(match.error or ""))].append(match)
    return [
        {
            "who": who,
            "status": status,
            "summary": summary,
            "count": len(items),
            "matches": [
                f"{m.variant} · {m.submission_a} (seat {m.seat_a}) vs {m.submission_b} · seed {m.seed}"
                for m in items[:30]
            ],
            "more": max(0, len(items) - 30),
        }
        for (who, status, summary), items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def _summary(error: str) -> str:
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    return (lines[-1] if lines else "(no error text)")[:200]


# --------------------------------------------------------------------------------------------
# SVG
# --------------------------------------------------------------------------------------------


def _tint(p: float) -> str:
    """A cell's fill: green above 0.5 (the row wins), red below, by how far from even."""
    strength = round(min(1.0, abs(p - 0.5) * 2) * 62)
    colour = "var(--good)" if p > 0.5 else "var(--bad)"
    return f"fill: color-mix(in srgb, {colour} {strength}%, var(--card))"


def heatmap(
    labels: Sequence[str],
    payoff: np.ndarray,
    counts: np.ndarray,
    *,
    title: str,
    cell: int = 46,
) -> Markup:
    """The payoff table as a heat map: row's mean score against column, numbers in the cells."""
    n = len(labels)
    shown = [label if len(label) <= 18 else label[:17] + "…" for label in labels]
    left = 28 + 7 * max((len(s) for s in shown), default=4)
    top = 22
    width, height = left + n * cell + 8, top + n * cell + 6
    body = []
    for j in range(n):
        x = left + j * cell + cell / 2
        body.append(f'<text class="tick" x="{x:.1f}" y="{top - 8}" text-anchor="middle">#{j + 1}</text>')
    for i, label in enumerate(shown):
        y = top + i * cell + cell / 2 + 4
        body.append(f'<text class="tick" x="{left - 8}" y="{y:.1f}" text-anchor="end">#{i + 1} {escape(label)}</text>')
        for j in range(n):
            x0, y0 = left + j * cell, top + i * cell
            value = float(payoff[i, j])
            if i == j:
                body.append(
                    f'<rect class="grid" x="{x0}" y="{y0}" width="{cell - 2}" height="{cell - 2}" rx="3" '
                    f'style="fill: var(--code-bg)"><title>{escape(labels[i])} does not play itself</title></rect>'
                )
                continue
            if math.isnan(value):
                body.append(
                    f'<rect class="ref" x="{x0}" y="{y0}" width="{cell - 2}" height="{cell - 2}" rx="3" fill="none">'
                    f"<title>{escape(labels[i])} and {escape(labels[j])} never met</title></rect>"
                )
                continue
            n_matches = int(counts[i, j])
            tip = (
                f"{labels[i]} vs {labels[j]}: mean score {value:.3f} over {n_matches} "
                f"match{'es' if n_matches != 1 else ''} (win 1, draw ½, loss 0)"
            )
            body.append(
                f'<g><title>{escape(tip)}</title><rect x="{x0}" y="{y0}" width="{cell - 2}" height="{cell - 2}" '
                f'rx="3" style="{_tint(value)}"/><text class="cell" x="{x0 + (cell - 2) / 2:.1f}" '
                f'y="{y0 + (cell - 2) / 2 + 4:.1f}" text-anchor="middle" fill="currentColor" '
                f'font-size="{11 if cell < 44 else 12}">{fmt(value)}</text></g>'
            )
    return Markup(
        f'<svg class="heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"{''.join(body)}</svg>"
    )


def mass_bar(mass: float, color: int, width: int = 80) -> Markup:
    """α-Rank mass as a small bar for a table cell."""
    filled = max(0.0, min(1.0, mass)) * (width - 4)
    return Markup(
        f'<svg class="whisker-svg" viewBox="0 0 {width} 12" width="{width}" height="12" role="img" '
        f'aria-label="α-Rank mass {mass:.3f}" xmlns="http://www.w3.org/2000/svg">'
        f'<line class="track" x1="2" x2="{width - 2}" y1="6" y2="6"/>'
        f'<g class="s{color % PALETTE}"><rect x="2" y="2" width="{filled:.1f}" height="8" rx="2" fill="currentColor"/></g>'
        "</svg>"
    )
