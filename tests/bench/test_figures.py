"""bench/figures.py draws what it is given: bars end at the median, whiskers span min to max, a negative range
stays on the chart, curves sit where their points are on log axes, and the same figures give the same bytes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest

from bench import figures

SVG = "{http://www.w3.org/2000/svg}"


def stat(median: float, low: float, high: float) -> dict[str, float]:
    return {"median": median, "min": low, "max": high, "n": 3}


def test_a_bar_ends_at_its_median_and_its_whisker_spans_min_to_max() -> None:
    svg = figures.bars("t", "seconds", [("a", [("x", stat(2.0, 1.0, 3.0))]), ("b", [("x", stat(8.0, 6.0, 10.0))])])
    root = ElementTree.fromstring(svg)
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    whiskers = [line for line in root.iter(f"{SVG}line") if line.get("stroke-width") == "1.5"]
    widths = [float(bar.get("width", 0)) for bar in bars]
    assert widths[1] == pytest.approx(4 * widths[0], abs=0.2), "bars are proportional to their medians from zero"
    spans = [float(line.get("x2", 0)) - float(line.get("x1", 0)) for line in whiskers]
    assert spans == pytest.approx([widths[0], 2 * widths[0]], abs=0.2), "ranges of 2 s and 4 s; the first bar is 2 s"
    assert float(whiskers[0].get("x1", 0)) == pytest.approx(float(bars[0].get("x", 0)) + widths[0] / 2, abs=0.2)


def test_a_range_below_zero_stays_on_the_chart_with_a_tick_for_it() -> None:
    svg = figures.bars("t", "seconds", [("a", [("x", stat(0.001, -0.02, 0.03))])])
    root = ElementTree.fromstring(svg)
    whisker = next(line for line in root.iter(f"{SVG}line") if line.get("stroke-width") == "1.5")
    assert float(whisker.get("x1", 0)) >= figures.LABEL_WIDTH
    assert any(text.text and text.text.startswith("-") for text in root.iter(f"{SVG}text"))


def test_curves_sit_on_log_axes_and_their_names_never_overlap() -> None:
    curves = {"slow": [(1e5, 10.0), (1e6, 100.0)], "fast": [(1e5, 1.0), (1e6, 1.0)], "same": [(1e5, 1.0), (1e6, 1.01)]}
    svg = figures.lines("t", "rows", "seconds", curves)
    root = ElementTree.fromstring(svg)
    slow = [tuple(map(float, point.split(","))) for point in root.find(f"{SVG}polyline").get("points", "").split()]
    decade = slow[0][0] - slow[1][0], slow[0][1] - slow[1][1]
    assert decade[0] < 0 and decade[1] > 0, "up and to the right: ten times the rows, ten times the time"
    names = {text.text: float(text.get("y", 0)) for text in root.iter(f"{SVG}text") if text.text in curves}
    assert abs(names["fast"] - names["same"]) >= figures.LINE_GAP


def test_the_same_figures_give_the_same_bytes() -> None:
    groups = [("a", [("x", stat(2.0, 1.0, 3.0)), ("y", stat(1.0, 0.5, 1.5))])]
    assert figures.bars("t", "s", groups) == figures.bars("t", "s", groups)
    assert not re.search(r"\d\.\d{2,}", figures.bars("t", "s", groups)), "coordinates rounded, not float noise"
