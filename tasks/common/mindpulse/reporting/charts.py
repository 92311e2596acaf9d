"""The dashboard's charts: inline SVG line charts of a value over time, with a time axis whose labels never
overlap, an optional threshold band and marks where the live model version changed.

Pure drawing: the caller (mindpulse.reporting.dashboard) says which points to draw, with their tips, colours and
links. Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 20, 18, 34
# The charts' text size (set on the <svg>, so the CSS does not repeat it) and the least room between labels.
TICK_FONT_SIZE, LABEL_GAP = 11, 8
SHORT_TICK, LONG_TICK = "%d %b %Y %H:%M", "%d %b %Y %H:%M:%S"
# Points are drawn this size up to this many, then smaller, so a year of runs is a line, not a smear.
POINT_RADIUS, CROWD = 4.5, 120


@dataclass(frozen=True)
class Point:
    """One plotted value: when, how much, the tooltip, its colour and the link it opens (if any)."""

    moment: datetime
    value: float
    tip: str
    color: str
    href: str | None


def line_chart(
    points: list[Point],
    moments: list[datetime],
    label: str,
    threshold: float | None = None,
    version_changes: list[tuple[datetime, str]] | None = None,
) -> str:
    """An inline SVG line chart of `points` (values are shares, drawn in percent) on the time axis of `moments`
    (every run, plotted or not), with a danger band above `threshold` and a dashed line at each version change."""
    span = (min(moments), max(moments))
    low, high, step = _axis([point.value for point in points], [threshold] if threshold is not None else [])

    def y(value: float) -> str:
        return f"{TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value * 100 - low) / (high - low)):.1f}"

    parts = []
    for tick in range(low, high + 1, step):
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick / 100)}" y2="{y(tick / 100)}"/>')
        if threshold is None or abs(tick - threshold * 100) > step / 3:  # the threshold's own label wins
            parts.append(
                f'<text class="tick" x="{LEFT - 8}" y="{y(tick / 100)}" dy="4" text-anchor="end">{tick}%</text>'
            )
    if threshold is not None:
        parts.append(
            f'<rect class="danger" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
            f'height="{float(y(threshold)) - TOP:.1f}"/>'
            f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(threshold)}" y2="{y(threshold)}"/>'
            f'<text class="tick danger-text" x="{LEFT - 8}" y="{y(threshold)}" dy="4" text-anchor="end">'
            f"{threshold * 100:g}%</text>"
        )
    if version_changes is not None:
        parts.extend(_version_marks(version_changes, span))
    parts.extend(_time_labels(moments, span))
    placed = [(_x(point.moment, span), point) for point in points]
    radius = POINT_RADIUS * min(1.0, math.sqrt(CROWD / len(points)))
    if len(placed) > 1:
        parts.append(f'<polyline class="line" points="{" ".join(f"{x:.1f},{y(p.value)}" for x, p in placed)}"/>')
    for x, point in placed:
        circle = (
            f'<circle class="point" cx="{x:.1f}" cy="{y(point.value)}" r="{radius:.1f}" fill="{point.color}">'
            f"<title>{escape(point.tip)}</title></circle>"
        )
        parts.append(f'<a href="{point.href}">{circle}</a>' if point.href else circle)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" font-size="{TICK_FONT_SIZE}" role="img" '
        f'aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


def _axis(values: list[float], extra: list[float]) -> tuple[int, int, int]:
    """Axis bounds and tick step in whole percent, on round numbers, containing `values` and `extra`.

    With `extra` (a threshold) the axis starts at zero, so the distance to the threshold reads true.
    """
    every = values + extra
    low, high = (0.0 if extra else min(every) * 100), max(every) * 100
    span = max(high - low, 10)
    step = 5 if span <= 30 else 10 if span <= 60 else 20
    low_tick, high_tick = math.floor(low / step) * step, math.ceil(high / step) * step
    if high_tick - low_tick < 2 * step:  # a flat series still gets an axis with some room
        low_tick = max(0, high_tick - 2 * step)
        high_tick = low_tick + 2 * step
    return low_tick, high_tick, step


def _x(moment: datetime, span: tuple[datetime, datetime]) -> float:
    first, last = span
    if first == last:
        return LEFT + (WIDTH - LEFT - RIGHT) / 2
    return LEFT + (WIDTH - LEFT - RIGHT) * ((moment - first) / (last - first))


def _time_labels(moments: list[datetime], span: tuple[datetime, datetime]) -> list[str]:
    """The first and last run on the time axis, and the run nearest the middle whose label overlaps
    neither (none when runs bunch up at one end); one label when all runs share a moment. Labels show
    seconds only when minutes would print two of them alike."""
    distinct = sorted(set(moments))
    if len(distinct) == 1:
        chosen = [(distinct[0], "middle")]
    else:
        chosen = [(distinct[0], "start"), (distinct[-1], "end")]
        centre = (LEFT + WIDTH - RIGHT) / 2
        for moment in sorted(distinct[1:-1], key=lambda m: abs(_x(m, span) - centre)):
            # Judged at the longer format, so whichever format is shown fits.
            extent = _label_extent(_x(moment, span), f"{moment:{LONG_TICK}}", "middle")
            if all(_apart(extent, _label_extent(_x(m, span), f"{m:{LONG_TICK}}", a)) for m, a in chosen):
                chosen.insert(1, (moment, "middle"))
                break
    shown = SHORT_TICK if len({f"{m:{SHORT_TICK}}" for m, _ in chosen}) == len(chosen) else LONG_TICK
    return [
        f'<text class="tick" x="{_x(moment, span):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}">'
        f"{moment:{shown}}</text>"
        for moment, anchor in chosen
    ]


def label_width(text: str) -> float:
    """A generous estimate of a tick label's width in SVG units: digits and letters of the sans-serif
    tick font average about 0.6 em."""
    return len(text) * TICK_FONT_SIZE * 0.6


def _label_extent(x: float, text: str, anchor: str) -> tuple[float, float]:
    """Where a label anchored at x with `anchor` starts and ends."""
    width = label_width(text)
    start = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return start, start + width


def _apart(one: tuple[float, float], other: tuple[float, float]) -> bool:
    return one[1] + LABEL_GAP <= other[0] or other[1] + LABEL_GAP <= one[0]


def _version_marks(changes: list[tuple[datetime, str]], span: tuple[datetime, datetime]) -> list[str]:
    """A dashed vertical line where the live model version changed, labelled unless labels would overlap."""
    marks, last_label_end = [], -math.inf
    for moment, version in changes:
        x = _x(moment, span)
        marks.append(f'<line class="change" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
        # Right of its line, or left of it where the chart ends.
        x_text, anchor = (x + 4, "start") if x + 4 + label_width(version) <= WIDTH else (x - 4, "end")
        begin, end = _label_extent(x_text, version, anchor)
        if begin >= last_label_end + LABEL_GAP:
            marks.append(
                f'<text class="tick" x="{x_text:.1f}" y="{TOP + 10}" text-anchor="{anchor}">{escape(version)}</text>'
            )
            last_label_end = end
    return marks
