"""The benchmark's figures: small SVG charts drawn from bench/results/benchmark.json alone, beside the tables
of benchmark.md. Standard library only, and deterministic (the same figures give the same bytes), so
tests/bench can check that the committed files are the rendering of the committed JSON.

A section module may define `figures(result) -> list[Figure]`; bench/report.py writes them and links them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

# Okabe-Ito (its yellow, unreadable as text on white, left out), then grey: told apart with every common
# colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#7F7F7F")
FONT = 'font-family="sans-serif" font-size="12"'
WIDTH = 760
LABEL_WIDTH = 250  # the bar charts' row labels
BAR = 12  # a bar's height
LINE_GAP = 13  # the least vertical distance between two line-end labels


@dataclass(frozen=True)
class Figure:
    name: str  # the file, bench/results/<name>.svg
    caption: str  # its alt text and the line under it in benchmark.md
    svg: str


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _nice_step(span: float, ticks: int = 6) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) that cuts `span` into about `ticks` parts."""
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


def _svg(height: float, title: str, body: list[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" role="img">',
            f"<title>{escape(title)}</title>",
            f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
            f'<text x="10" y="20" {FONT} font-weight="bold">{escape(title)}</text>',
            *body,
            "</svg>",
            "",
        ]
    )


def bars(title: str, unit: str, groups: list[tuple[str, list[tuple[str, dict[str, Any]]]]]) -> str:
    """Horizontal bars, one row per (group, series): the median, with a whisker from min to max. `groups` is
    [(group label, [(series name, {"median", "min", "max"}), ...]), ...]; a series keeps its colour throughout."""
    series = list(dict.fromkeys(name for _, members in groups for name, _ in members))
    colour = {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(series)}
    values = [figure[key] for _, members in groups for _, figure in members for key in ("min", "max")]
    low, high = min(0.0, *values), max(0.0, *values)
    step = _nice_step(high - low)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    left, right, top = LABEL_WIDTH, WIDTH - 20, 60 if len(series) > 1 else 40
    rows = sum(len(members) for _, members in groups)
    bottom = top + rows * (BAR + 4) + len(groups) * 8
    height = bottom + 40

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    body = []
    if len(series) > 1:
        legend_x = 10.0
        for name in series:
            body.append(f'<rect x="{legend_x:.1f}" y="32" width="12" height="12" fill="{colour[name]}"/>')
            body.append(f'<text x="{legend_x + 16:.1f}" y="42" {FONT}>{escape(name)}</text>')
            legend_x += 30 + 7 * len(name)
    tick = low
    while tick <= high + step / 2:
        body.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{bottom}" stroke="#dddddd"/>')
        body.append(
            f'<text x="{x(tick):.1f}" y="{bottom + 16}" {FONT} text-anchor="middle">{_tick_label(tick, step)}</text>'
        )
        tick += step
    body.append(
        f'<text x="{(left + right) / 2:.1f}" y="{bottom + 32}" {FONT} text-anchor="middle">{escape(unit)}</text>'
    )
    y = float(top)
    for label, members in groups:
        label_y = y + BAR * len(members) / 2 + 6
        body.append(f'<text x="{left - 8}" y="{label_y:.1f}" {FONT} text-anchor="end">{escape(label)}</text>')
        for name, figure in members:
            start, end = sorted((x(0.0), x(figure["median"])))
            body.append(
                f'<rect x="{start:.1f}" y="{y:.1f}" width="{end - start:.1f}" height="{BAR}" fill="{colour[name]}">'
                f"<title>{escape(name)}: {_number(figure['median'])} {escape(unit)}</title></rect>"
            )
            middle = y + BAR / 2
            body.append(
                f'<line x1="{x(figure["min"]):.1f}" y1="{middle:.1f}" x2="{x(figure["max"]):.1f}" y2="{middle:.1f}" '
                'stroke="#333333" stroke-width="1.5"/>'
            )
            y += BAR + 4
        y += 8
    body.append(f'<line x1="{x(0.0):.1f}" y1="{top - 4}" x2="{x(0.0):.1f}" y2="{bottom}" stroke="#333333"/>')
    return _svg(height, title, body)


def lines(title: str, x_label: str, y_label: str, curves: dict[str, list[tuple[float, float]]]) -> str:
    """Curves on log-log axes (a straight line of slope k is time ∝ rows^k), each named at its right end. Points
    at or below zero have no place on a log axis and are left out."""
    curves = {name: kept for name, curve in curves.items() if (kept := [p for p in curve if p[0] > 0 and p[1] > 0])}
    if not curves:
        return _svg(60, title, ['<text x="10" y="44" font-family="sans-serif" font-size="12">no points</text>'])
    xs = [point[0] for curve in curves.values() for point in curve]
    ys = [point[1] for curve in curves.values() for point in curve]
    x_low, x_high = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y_low, y_high = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    left, right, top, bottom = 70, WIDTH - 230, 40, 440
    height = bottom + 50

    def x(value: float) -> float:
        return left + (math.log10(value) - x_low) / max(1, x_high - x_low) * (right - left)

    def y(value: float) -> float:
        return bottom - (math.log10(value) - y_low) / max(1, y_high - y_low) * (bottom - top)

    body = []
    for power in range(x_low, x_high + 1):
        body.append(
            f'<line x1="{x(10**power):.1f}" y1="{top}" x2="{x(10**power):.1f}" y2="{bottom}" stroke="#dddddd"/>'
        )
        body.append(f'<text x="{x(10**power):.1f}" y="{bottom + 16}" {FONT} text-anchor="middle">{10**power:,}</text>')
    for power in range(y_low, y_high + 1):
        value = 10.0**power
        body.append(f'<line x1="{left}" y1="{y(value):.1f}" x2="{right}" y2="{y(value):.1f}" stroke="#dddddd"/>')
        body.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" {FONT} text-anchor="end">{value:g}</text>')
    body.append(
        f'<text x="{(left + right) / 2:.1f}" y="{bottom + 34}" {FONT} text-anchor="middle">{escape(x_label)}</text>'
    )
    body.append(
        f'<text x="16" y="{(top + bottom) / 2:.1f}" {FONT} text-anchor="middle" '
        f'transform="rotate(-90 16 {(top + bottom) / 2:.1f})">{escape(y_label)}</text>'
    )
    ends = []
    for index, (name, curve) in enumerate(curves.items()):
        colour = PALETTE[index % len(PALETTE)]
        dash = "" if index < len(PALETTE) else ' stroke-dasharray="5 3"'
        points = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in sorted(curve))
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for px, py in curve:
            body.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="3" fill="{colour}"/>')
        ends.append((y(max(curve)[1]), name, colour))
    # Names at the right end, pushed apart where curves end close together.
    placed: list[float] = []
    for end_y, name, colour in sorted(ends):
        label_y = max(end_y, placed[-1] + LINE_GAP) if placed else end_y
        placed.append(label_y)
        body.append(f'<text x="{right + 8}" y="{label_y + 4:.1f}" {FONT} fill="{colour}">{escape(name)}</text>')
    return _svg(height, title, body)
