"""Hand-built SVG charts: adaptation curves with CI whiskers, performance profiles, inline whiskers.

Charts are inline SVG styled by the page's CSS, so they follow light and dark mode: strokes and
fills use ``currentColor`` and each series carries a palette class ``s0``…``s7``. Every mark has a
``<title>`` (a tooltip) with its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from arena.scoring import Interval

PALETTE = 8  # Okabe-Ito-like, colour-blind safe
PATTERNS = 3  # solid, dotted, dash-dot: with the palette, 24 distinct (colour, pattern) styles


@dataclass(frozen=True)
class Series:
    label: str
    color: int  # palette index; -1 draws a muted context line
    values: Sequence[Interval | None]  # one per x position
    dashed: bool = False  # a reference agent's line: read scores against it


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text == "-0." + "0" * digits else text


def budget_label(budget: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if budget >= size and budget % (size // 10) == 0:
            return f"{budget / size:g}{suffix}"
    return str(budget)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def style_class(color: int) -> str:
    """The CSS classes of the ``color``-th submission: its colour and its line pattern, so that
    up to PALETTE x PATTERNS submissions stay apart on every page (the pattern repeats after)."""
    return f"s{color % PALETTE} d{(color // PALETTE) % PATTERNS}"


def _cls(color: int) -> str:
    return "muted" if color < 0 else style_class(color)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    span = max(high - low, 1e-9)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-6:
        ticks.append(round(value, 10))
        value += step
    return ticks


def value_range(intervals: Sequence[Interval | None], floor: float = 0.0, ceiling: float = 1.0) -> tuple[float, float]:
    """A y range that holds 0 (random) and 1 (reference) and every finite bound given."""
    points = [v for iv in intervals if iv is not None for v in (iv.low, iv.high, iv.estimate) if math.isfinite(v)]
    return min([floor, *points]), max([ceiling, *points])


class _Frame:
    """Plot area geometry and the axes around it."""

    def __init__(self, width: int, height: int, left: int = 48, right: int = 16, top: int = 14, bottom: int = 40):
        self.width, self.height = width, height
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = height - bottom, top  # y0 is the bottom

    def y(self, value: float, low: float, high: float) -> float:
        return self.y0 - (value - low) / (high - low) * (self.y0 - self.y1)

    def x(self, value: float, low: float, high: float) -> float:
        return self.x0 + (value - low) / (high - low) * (self.x1 - self.x0)

    def y_axis(self, ticks: Sequence[float], low: float, high: float, label: str) -> list[str]:
        out = []
        for tick in ticks:
            y = self.y(tick, low, high)
            cls = "ref" if tick in (0.0, 1.0) else "grid"
            out.append(f'<line class="{cls}" x1="{self.x0}" x2="{self.x1}" y1="{_num(y)}" y2="{_num(y)}"/>')
            out.append(f'<text class="tick" x="{self.x0 - 6}" y="{_num(y + 3.5)}" text-anchor="end">{tick:g}</text>')
        mid = (self.y0 + self.y1) / 2
        out.append(
            f'<text class="axis-label" transform="translate(12 {_num(mid)}) rotate(-90)" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
        return out

    def x_label(self, label: str) -> str:
        return (
            f'<text class="axis-label" x="{_num((self.x0 + self.x1) / 2)}" y="{self.height - 6}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )


def _svg(width: int, height: int, label: str, body: Sequence[str], cls: str = "chart") -> Markup:
    return Markup(
        f'<svg class="{cls}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def curve_chart(
    budgets: Sequence[int],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 560,
    height: int = 300,
    y_label: str = "normalized score (IQM)",
) -> Markup:
    """Adaptation curves: IQM at each budget with 95% CI whiskers, budgets placed at
    log10(1 + budget) (the axis the adaptation area is measured on). Reference agents' series
    are dashed lines without whiskers."""
    frame = _Frame(width, height)
    low, high = value_range([v for s in series for v in s.values])
    ticks = nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    body = frame.y_axis(ticks, low, high, y_label)
    positions = [math.log10(1.0 + b) for b in budgets]
    span = positions[-1] - positions[0] if len(positions) > 1 else 0.0
    pad = 0.5 if span == 0 else 0.06 * span

    def x_at(index: float) -> float:
        return frame.x(positions[int(index)], positions[0] - pad, positions[-1] + pad)

    for index, budget in enumerate(budgets):
        x = x_at(index)
        body.append(f'<line class="tickmark" x1="{_num(x)}" x2="{_num(x)}" y1="{frame.y0}" y2="{frame.y0 + 4}"/>')
        body.append(
            f'<text class="tick" x="{_num(x)}" y="{frame.y0 + 16}" text-anchor="middle">{budget_label(budget)}</text>'
        )
    body.append(frame.x_label("adaptation budget (env steps)"))
    visible = [s for s in series if any(v is not None for v in s.values)]
    emphasised = [s for s in visible if s.color >= 0 and not s.dashed]
    dodge = min(10.0, 40.0 / max(1, len(emphasised)))
    references = [s for s in visible if s.dashed]
    order = [s for s in visible if s.color < 0 and not s.dashed] + references + emphasised  # context underneath
    for s in order:
        k = emphasised.index(s) if s in emphasised else 0
        offset = (k - (len(emphasised) - 1) / 2) * dodge if s.color >= 0 else 0.0
        points = [
            (x_at(i) + offset, v, budget)
            for i, (v, budget) in enumerate(zip(s.values, budgets, strict=True))
            if v is not None and math.isfinite(v.estimate)
        ]
        group = [f'<g class="series {_cls(s.color)}" data-label="{escape(s.label)}">']
        if len(points) > 1:
            path = " ".join(
                f"{'M' if j == 0 else 'L'}{_num(x)},{_num(frame.y(v.estimate, low, high))}"
                for j, (x, v, _) in enumerate(points)
            )
            kind = "line reference" if s.dashed else "line"
            group.append(
                f'<path class="{kind}" d="{path}"><title>{escape(s.label)} (reference)</title></path>'
                if s.dashed
                else f'<path class="{kind}" d="{path}"><title>{escape(s.label)}</title></path>'
            )
        if s.color >= 0 and not s.dashed:
            for x, v, budget in points:
                y_lo, y_hi, y = frame.y(v.low, low, high), frame.y(v.high, low, high), frame.y(v.estimate, low, high)
                tip = f"{s.label} · {budget_label(budget)} steps: IQM {fmt(v.estimate)} [{fmt(v.low)}, {fmt(v.high)}]"
                group.append(
                    f"<g><title>{escape(tip)}</title>"
                    f'<line class="whisker" x1="{_num(x)}" x2="{_num(x)}" y1="{_num(y_lo)}" y2="{_num(y_hi)}"/>'
                    f'<line class="cap" x1="{_num(x - 4)}" x2="{_num(x + 4)}" y1="{_num(y_lo)}" y2="{_num(y_lo)}"/>'
                    f'<line class="cap" x1="{_num(x - 4)}" x2="{_num(x + 4)}" y1="{_num(y_hi)}" y2="{_num(y_hi)}"/>'
                    f'<circle class="dot" cx="{_num(x)}" cy="{_num(y)}" r="4"/></g>'
                )
        group.append("</g>")
        body.extend(group)
    return _svg(width, height, title, body)


def profile_chart(
    taus: Sequence[float],
    series: Sequence[tuple[str, int, Sequence[float]]],
    *,
    title: str,
    width: int = 560,
    height: int = 300,
) -> Markup:
    """Performance profiles: the fraction of runs scoring above τ, as step lines."""
    frame = _Frame(width, height)
    t_low, t_high = taus[0], taus[-1]
    body = frame.y_axis([0.0, 0.25, 0.5, 0.75, 1.0], 0.0, 1.0, "fraction of runs > τ")
    for tick in nice_ticks(t_low, t_high, 6):
        if t_low <= tick <= t_high:
            x = frame.x(tick, t_low, t_high)
            body.append(f'<line class="tickmark" x1="{_num(x)}" x2="{_num(x)}" y1="{frame.y0}" y2="{frame.y0 + 4}"/>')
            body.append(f'<text class="tick" x="{_num(x)}" y="{frame.y0 + 16}" text-anchor="middle">{tick:g}</text>')
    body.append(frame.x_label("normalized score τ"))
    for label, color, values in series:
        parts, previous = [], None
        for tau, value in zip(taus, values, strict=True):
            if value is None or not math.isfinite(value):
                continue
            x, y = frame.x(tau, t_low, t_high), frame.y(value, 0.0, 1.0)
            if previous is None:
                parts.append(f"M{_num(x)},{_num(y)}")
            else:
                parts.append(f"H{_num(x)}V{_num(y)}")
            previous = y
        if parts:
            body.append(
                f'<g class="series {_cls(color)}"><path class="line step" d="{"".join(parts)}">'
                f"<title>{escape(label)}</title></path></g>"
            )
    return _svg(width, height, title, body)


def whisker(
    interval: Interval | None,
    low: float,
    high: float,
    color: int,
    *,
    width: int = 132,
    marks: Sequence[float] = (0.0, 1.0),
) -> Markup:
    """A one-line CI whisker for a table cell on a shared scale ``[low, high]``."""
    if interval is None or not math.isfinite(interval.estimate):
        return Markup("")
    height, pad = 16, 5

    def x(value: float) -> float:
        return pad + (min(max(value, low), high) - low) / (high - low) * (width - 2 * pad)

    body = [f'<line class="track" x1="{pad}" x2="{width - pad}" y1="8" y2="8"/>']
    for mark in marks:
        if low <= mark <= high:
            body.append(f'<line class="ref" x1="{_num(x(mark))}" x2="{_num(x(mark))}" y1="2" y2="14"/>')
    lo, hi, mid = x(interval.low), x(interval.high), x(interval.estimate)
    body.append(
        f'<g class="{_cls(color)}"><line class="whisker" x1="{_num(lo)}" x2="{_num(hi)}" y1="8" y2="8"/>'
        f'<line class="cap" x1="{_num(lo)}" x2="{_num(lo)}" y1="4" y2="12"/>'
        f'<line class="cap" x1="{_num(hi)}" x2="{_num(hi)}" y1="4" y2="12"/>'
        f'<circle class="dot" cx="{_num(mid)}" cy="8" r="3.5"/></g>'
    )
    label = f"IQM {fmt(interval.estimate)}, 95% CI [{fmt(interval.low)}, {fmt(interval.high)}]"
    return _svg(width, height, label, body, cls="whisker-svg")
