"""The history file and the index page: what a person sees must match the files on the volume."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import pytest

from mindpulse import atomic, results
from mindpulse.paths import REPORT_KINDS, Layout, utc_stamp
from mindpulse.protocol import StepError
from mindpulse.reporting import charts, dashboard, history

HOSTILE = "<script>alert('x')</script>\"&"


def stamp(hours: int) -> str:
    return utc_stamp(datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=hours))


def entry(hours: int, **fields: Any) -> results.HistoryEntry:
    return results.HistoryEntry(
        **{
            "stamp": stamp(hours),
            "created_at": "2026-03-01T00:00:00+00:00",
            "drift_share": 0.1,
            "drift_detected": False,
            "accuracy": 0.8,
            "model_version": "v0001",
            "reports": {},
            **fields,
        }
    )


def make_report(layout: Layout, kind: str, at: str, twin: dict[str, Any] | None = None) -> str:
    html = layout.report_file(kind, at, "html")
    html.write_text("<html></html>")
    if twin is not None:
        atomic.write_json(layout.report_file(kind, at, "json"), {"html": html.name, **twin})
    return html.name


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs.extend(value for name, value in attrs if name == "href" and value)


def links(page: str) -> list[str]:
    parser = Links()
    parser.feed(page)
    return parser.hrefs


def chart(page: str, field: str) -> ElementTree.Element:
    """The chart of `field`, parsed as XML: it must be well formed whatever the data."""
    [svg] = re.findall(rf'<svg [^>]*aria-label="{field} over time.*?</svg>', page, re.DOTALL)
    return ElementTree.fromstring(svg)


def points(svg: ElementTree.Element) -> list[ElementTree.Element]:
    return [element for element in svg.iter("circle") if element.get("class") == "point"]


# --- history -------------------------------------------------------------------------------------


def test_history_entries_come_back_in_order(layout: Layout) -> None:
    for hours in (0, 6, 12):
        history.append(layout, entry(hours, accuracy=hours / 100))

    assert [item["accuracy"] for item in history.read(layout)] == [0.0, 0.06, 0.12]
    assert len(layout.history.read_text().splitlines()) == 3


def test_a_history_entry_reads_back_as_it_was_written(layout: Layout) -> None:
    written = entry(0, reports={"data_drift": f"data_drift_report_{stamp(0)}.html"}, accuracy=None)
    history.append(layout, written)

    assert [results.HistoryEntry.read(item) for item in history.read(layout)] == [written]


def test_a_report_twin_reads_back_as_its_typed_result(layout: Layout) -> None:
    twin = results.ModelPerformanceReport(
        kind="model_performance",
        stamp=stamp(0),
        created_at="2026-03-01T00:00:00+00:00",
        html=f"model_performance_report_{stamp(0)}.html",
        model_version="v0002",
        accuracy=0.8125,
        precision=0.7,
        recall=0.6,
        f1=0.65,
        labelled_rows=24,
        production_rows=30,
        unlabelled_rows=6,
        actual_positive_share=0.5,
        predicted_positive_share=0.4,
        reference_rows=2000,
        failed_tests=[],
    )
    make_report(layout, "model_performance", stamp(0), twin.as_dict())
    layout.report_file("data_drift", stamp(0), "json").write_text("{torn")

    assert history.read_twin(layout, "model_performance", stamp(0)) == twin
    assert history.read_twin(layout, "data_drift", stamp(0)) is None
    assert history.read_twin(layout, "data_quality", stamp(0)) is None
    assert "accuracy 81.2% · 30 production rows · 24 labelled" in dashboard.write_index(layout).read_text()


def test_a_retried_run_is_recorded_once(layout: Layout) -> None:
    history.append(layout, entry(0))
    history.append(layout, entry(6, accuracy=0.5))
    history.append(layout, entry(6, accuracy=0.7))

    assert [(item["stamp"], item["accuracy"]) for item in history.read(layout)] == [
        (stamp(0), 0.8),
        (stamp(6), 0.7),
    ]


def test_corrupt_lines_are_skipped_with_a_warning_and_kept(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    layout.history.write_text(
        json.dumps(entry(0).as_dict()) + "\n{not json\n[1, 2]\n" + json.dumps(entry(6).as_dict())[:30]
    )

    history.append(layout, entry(12))

    assert [item["stamp"] for item in history.read(layout)] == [stamp(0), stamp(12)]
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("WARNING")]
    assert [re.search(r"line (\d+)", line)[1] for line in warnings] == ["2", "3", "4"]
    assert "{not json" in layout.history.read_text()


def test_an_entry_without_a_stamp_is_refused(layout: Layout) -> None:
    with pytest.raises(StepError, match="stamp"):
        history.append(layout, entry(0, stamp="yesterday"))
    assert not layout.history.exists()


def test_no_history_file_is_an_empty_history(layout: Layout) -> None:
    assert history.read(layout) == []


# --- index page ----------------------------------------------------------------------------------


def test_the_index_links_exactly_the_reports_present_newest_first(layout: Layout) -> None:
    kept = {kind: [make_report(layout, kind, stamp(hours), {}) for hours in (0, 6, 12)] for kind in REPORT_KINDS}
    layout.report_file("data_drift", stamp(18), "json").write_text("{}")  # a twin whose html is gone
    (layout.reports_dir / "notes.html").write_text("not a report")
    (layout.reports_dir / ".data_drift_report_20260301_000000.html.x.tmp").write_text("being written")

    page = dashboard.write_index(layout).read_text()

    hrefs = [unquote(href) for href in links(page)]
    assert all((layout.reports_dir / href).is_file() for href in hrefs)
    report_links = [href for href in hrefs if href.endswith(".html") and href != layout.history_page.name]
    assert report_links == [name for kind in REPORT_KINDS for name in reversed(kept[kind])]


def test_report_rows_show_the_figures_of_their_json_twin(layout: Layout) -> None:
    make_report(layout, "data_drift", stamp(0), {"drift_share": 0.42, "drift_detected": True, "production_rows": 1500})
    make_report(layout, "model_performance", stamp(0), {"accuracy": 0.8125, "labelled_rows": 900})
    make_report(layout, "data_quality", stamp(0), None)
    layout.report_file("data_quality", stamp(6), "html").write_text("<html></html>")
    layout.report_file("data_quality", stamp(6), "json").write_text("{torn")

    page = dashboard.write_index(layout).read_text()

    assert "drift share 42.0% · 1,500 production rows · DRIFT" in page
    assert "accuracy 81.2% · 900 labelled" in page
    assert "no JSON twin" in page
    assert "JSON twin unreadable" in page


def test_charts_have_one_point_per_entry_with_a_value(layout: Layout) -> None:
    for hours in range(12):
        drift = None if hours % 4 == 0 else hours / 20
        accuracy = None if hours % 3 == 0 else 0.7 + hours / 100
        history.append(layout, entry(hours * 6, drift_share=drift, accuracy=accuracy))
    history.append(layout, entry(100, drift_share=float("nan"), accuracy=float("inf")))  # json allows both

    page = dashboard.write_index(layout).read_text()

    drift_points, accuracy_points = points(chart(page, "drift_share")), points(chart(page, "accuracy"))
    assert len(drift_points) == 9
    assert len(accuracy_points) == 8
    xs = [float(point.get("cx")) for point in drift_points]
    assert xs == sorted(xs)
    assert len(set(xs)) == len(xs)


def test_the_drift_chart_draws_the_threshold_and_flags_points_above_it(layout: Layout) -> None:
    history.append(layout, entry(0, drift_share=0.1))
    history.append(layout, entry(6, drift_share=0.5))

    svg = chart(dashboard.write_index(layout, drift_threshold=0.25).read_text(), "drift_share")

    [threshold] = [line for line in svg.iter("line") if line.get("class") == "threshold"]
    low, high = sorted(points(svg), key=lambda point: -float(point.get("cy")))
    assert float(high.get("cy")) < float(threshold.get("y1")) < float(low.get("cy"))
    assert low.get("fill") != high.get("fill") == dashboard.DANGER_COLOR


def test_a_single_run_is_one_point_and_no_line(layout: Layout) -> None:
    history.append(layout, entry(0))

    svg = chart(dashboard.write_index(layout).read_text(), "accuracy")

    assert len(points(svg)) == 1
    assert not list(svg.iter("polyline"))


def time_labels(svg: ElementTree.Element) -> list[tuple[float, float, str]]:
    """(start, end, text) of each label under the time axis, from its x, anchor and estimated width."""
    labels = []
    for text in svg.iter("text"):
        if text.get("class") == "tick" and text.get("y") == str(charts.HEIGHT - 10):
            width = charts.label_width(text.text or "")
            offset = {"start": 0, "middle": width / 2, "end": width}[text.get("text-anchor") or "start"]
            begin = float(text.get("x") or 0) - offset
            labels.append((begin, begin + width, text.text or ""))
    return sorted(labels)


@pytest.mark.parametrize(
    ("seconds", "expected_labels"),
    [
        ([0, 6 * 3600, 12 * 3600, 18 * 3600, 24 * 3600], 3),  # far apart: first, middle, last
        ([0, 5, 10, 15, 3 * 86400], 2),  # bunched at the start: no middle label fits beside the first
        ([0, 2 * 86400, 3 * 86400 - 20, 3 * 86400 - 10, 3 * 86400], 3),  # bunched at the end: the middle one
        ([0, 5, 10, 15, 20], 3),  # seconds apart: labels show seconds, so they differ
    ],
)
def test_time_axis_labels_never_overlap(layout: Layout, seconds: list[int], expected_labels: int) -> None:
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    for offset in seconds:
        history.append(layout, entry(0, stamp=utc_stamp(start + timedelta(seconds=offset))))

    labels = time_labels(chart(dashboard.write_index(layout).read_text(), "accuracy"))

    assert len(labels) == expected_labels
    assert len({text for _, _, text in labels}) == len(labels)
    assert all(begin >= 0 and end <= charts.WIDTH for begin, end, _ in labels)
    for (_, end, _), (begin, _, _) in itertools.pairwise(labels):
        assert begin - end >= charts.LABEL_GAP


def test_version_changes_are_marked_and_points_coloured_by_version(layout: Layout) -> None:
    versions = ["v0001", "v0001", "v0002", "v0002", "v0003"]
    for hours, version in enumerate(versions):
        history.append(layout, entry(hours * 6, model_version=version))

    page = dashboard.write_index(layout).read_text()

    svg = chart(page, "accuracy")
    assert len([line for line in svg.iter("line") if line.get("class") == "change"]) == 2
    fills = [point.get("fill") for point in points(svg)]
    assert fills[0] == fills[1] != fills[2] == fills[3] != fills[4]
    # The last change is at the chart's right edge: its label turns left rather than run off the chart.
    labels = [text for text in svg.iter("text") if text.text in versions]
    assert [text.text for text in labels] == ["v0002", "v0003"]
    assert labels[-1].get("text-anchor") == "end"
    assert float(labels[-1].get("x") or 0) <= charts.WIDTH
    table = page[page.index("<h2>Model versions</h2>") :]
    assert table.index("v0003") < table.index("v0002") < table.index("v0001")


def test_points_link_to_their_run_report_only_while_it_is_kept(layout: Layout) -> None:
    kept = make_report(layout, "data_drift", stamp(6), {})
    history.append(layout, entry(0, reports={"data_drift": f"data_drift_report_{stamp(0)}.html"}))
    history.append(layout, entry(6, reports={"data_drift": kept}))
    history.append(layout, entry(12, reports={"data_drift": "javascript:alert(1)"}))

    svg = chart(dashboard.write_index(layout).read_text(), "drift_share")

    assert [anchor.get("href") for anchor in svg.iter("a")] == [kept]
    assert len(points(svg)) == 3


def test_hostile_text_is_escaped_everywhere(layout: Layout) -> None:
    history.append(layout, entry(0, model_version="v0001"))
    history.append(layout, entry(6, model_version=HOSTILE))
    atomic.write_json(
        layout.summary_file("retrain_summary", stamp(6)),
        {"reasons": [HOSTILE], "winner": {"algorithm": HOSTILE, "version": HOSTILE}},
    )

    page = dashboard.write_index(layout).read_text()

    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&amp;" in page
    chart(page, "accuracy")  # still well formed


def test_the_latest_retrain_summary_is_shown(layout: Layout) -> None:
    for hours, version in ((0, "v0002"), (30, "v0003"), (6, "v0009")):
        atomic.write_json(
            layout.summary_file("retrain_summary", stamp(hours)),
            {"winner": {"algorithm": "xgboost", "version": version}},
        )

    page = dashboard.write_index(layout).read_text()

    assert "model v0003 (xgboost)" in page
    assert "v0009" not in page


def test_an_empty_reports_folder_gives_a_page_without_charts(layout: Layout) -> None:
    path = dashboard.write_index(layout)

    page = path.read_text()
    assert path == layout.index_page
    assert "<svg" not in page
    assert "No data yet" in page
    assert "No retrain yet" in page
    assert sorted(name.name for name in layout.reports_dir.iterdir()) == ["history.html", "index.html"]


def test_a_year_of_runs_shows_the_last_days_with_the_full_history_one_click_away(layout: Layout) -> None:
    runs = 365 * 4  # a run every 6 hours for a year
    with open(layout.history, "w") as handle:  # appending 1,460 entries one by one would fsync each
        for number in range(runs):
            version = f"v{1 + number // 400:04d}"
            line = entry(6 * number, accuracy=0.7 + (number % 7) / 100, model_version=version).as_dict()
            handle.write(json.dumps(line) + "\n")

    index = dashboard.write_index(layout, dashboard_days=30).read_text()
    full = layout.history_page.read_text()

    newest = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=6 * (runs - 1))
    assert len(points(chart(index, "accuracy"))) == 30 * 4 + 1  # the newest run and the 30 days before it
    assert len(points(chart(full, "accuracy"))) == runs
    assert layout.history_page.name in links(index) and layout.index_page.name in links(full)
    for page in (index, full):
        labels = time_labels(chart(page, "accuracy"))
        assert labels[-1][2] == f"{newest:%d %b %Y %H:%M}", "the year is on the axis"
        for (_, end, _), (begin, _, _) in itertools.pairwise(labels):
            assert begin - end >= charts.LABEL_GAP
    assert time_labels(chart(full, "accuracy"))[0][2] == "01 Mar 2026 00:00"
    radii = {float(point.get("r") or 0) for point in points(chart(full, "accuracy"))}
    assert max(radii) < 1.5, "a year of points is drawn small enough to read as a line"
    # A version's colour is the same on both pages, though the index shows fewer versions.
    index_colors = {point.get("fill") for point in points(chart(index, "accuracy"))}
    assert index_colors == {dashboard.PALETTE[3]}  # v0004, the fourth version of the full history
