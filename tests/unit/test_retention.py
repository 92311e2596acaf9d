"""Report cleanup: the newest reports of each kind stay, with their twins; nothing else is touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mindpulse import catalog, results
from mindpulse.paths import Layout
from mindpulse.protocol import StepError
from mindpulse.reporting.retention import cleanup_old_reports

STAMPS = ["20260101_000000", "20260101_060000", "20260101_120000", "20260102_000000", "20260110_000000"]


def make_report(layout: Layout, kind: str, stamp: str, suffixes: tuple[str, ...] = ("html", "json")) -> None:
    for suffix in suffixes:
        layout.report_file(kind, stamp, suffix).write_text(f"{kind} {stamp}")


def names(layout: Layout) -> set[str]:
    return {path.name for path in layout.reports_dir.iterdir()}


def test_the_newest_reports_by_stamp_stay_whatever_their_mtime(layout: Layout) -> None:
    for age, stamp in enumerate(STAMPS):
        make_report(layout, "data_drift", stamp)
        for suffix in ("html", "json"):  # the newest stamp gets the oldest mtime
            os.utime(layout.report_file("data_drift", stamp, suffix), (1e9 - age * 1000, 1e9 - age * 1000))

    result = cleanup_old_reports(layout, max_reports=2)

    assert names(layout) == {
        f"data_drift_report_{stamp}.{suffix}" for stamp in STAMPS[-2:] for suffix in ("html", "json")
    }
    assert isinstance(result, results.Cleanup) and result.max_reports == 2
    assert result.kept["data_drift"] == 2
    assert result.deleted["data_drift"] == 3


def test_each_kind_is_counted_on_its_own(layout: Layout) -> None:
    for stamp in STAMPS:
        make_report(layout, "data_quality", stamp)
    make_report(layout, "data_drift", STAMPS[0])  # the oldest stamp of all, but the only drift report
    make_report(layout, "model_performance", STAMPS[0])
    make_report(layout, "model_performance", STAMPS[1])

    result = cleanup_old_reports(layout, max_reports=1)

    assert names(layout) == {
        f"data_quality_report_{STAMPS[-1]}.html",
        f"data_quality_report_{STAMPS[-1]}.json",
        f"data_drift_report_{STAMPS[0]}.html",
        f"data_drift_report_{STAMPS[0]}.json",
        f"model_performance_report_{STAMPS[1]}.html",
        f"model_performance_report_{STAMPS[1]}.json",
    }
    assert result.kept == {"data_quality": 1, "data_drift": 1, "model_performance": 1}
    assert result.deleted == {"data_quality": 4, "data_drift": 0, "model_performance": 1}


def test_html_and_json_of_one_stamp_are_one_report(layout: Layout) -> None:
    make_report(layout, "data_drift", STAMPS[0])
    make_report(layout, "data_drift", STAMPS[1], ("json",))  # a twin left without its html
    make_report(layout, "data_drift", STAMPS[2], ("html",))

    result = cleanup_old_reports(layout, max_reports=2)

    assert names(layout) == {f"data_drift_report_{STAMPS[1]}.json", f"data_drift_report_{STAMPS[2]}.html"}
    assert result.deleted["data_drift"] == 1


def test_exactly_max_reports_deletes_nothing(layout: Layout) -> None:
    for stamp in STAMPS:
        make_report(layout, "model_performance", stamp)
    before = names(layout)

    result = cleanup_old_reports(layout, max_reports=len(STAMPS))

    assert names(layout) == before
    assert result.deleted["model_performance"] == 0


def test_files_that_are_not_reports_are_never_touched(layout: Layout) -> None:
    old = STAMPS[0]
    bystanders = [
        "index.html",
        "history.jsonl",
        f"retrain_summary_{old}.json",
        f"report_summary_{old}.json",
        f".data_drift_report_{old}.html.k2j4h1.tmp",  # a report being written by atomic.write_*
        f"data_drift_report_{old}.html.bak",
        f"data_drift_report_{old}.pdf",
        f"old_data_drift_report_{old}.html",
        f"data_drift_report_{old[:8]}.html",
        f"feature_drift_report_{old}.html",
        "notes.txt",
    ]
    for name in bystanders:
        (layout.reports_dir / name).write_text("keep me")
    (layout.reports_dir / f"data_drift_report_{STAMPS[1]}.html").mkdir()  # a directory with a report's name
    (layout.reports_dir / "archive").mkdir()
    (layout.reports_dir / "archive" / f"data_drift_report_{old}.html").write_text("keep me")
    for stamp in STAMPS[2:]:
        make_report(layout, "data_drift", stamp)

    cleanup_old_reports(layout, max_reports=1)

    assert set(bystanders) | {f"data_drift_report_{STAMPS[1]}.html", "archive"} <= names(layout)
    assert (layout.reports_dir / "archive" / f"data_drift_report_{old}.html").exists()
    assert not layout.report_file("data_drift", STAMPS[2], "html").exists()


@pytest.mark.parametrize("max_reports", [0, -3])
def test_max_reports_below_one_is_refused_and_nothing_deleted(layout: Layout, max_reports: int) -> None:
    for stamp in STAMPS:
        make_report(layout, "data_quality", stamp)

    with pytest.raises(StepError, match=f"max_reports must be at least 1, got {max_reports}"):
        cleanup_old_reports(layout, max_reports)
    assert len(names(layout)) == 2 * len(STAMPS)


def test_a_missing_reports_folder_deletes_nothing(tmp_path: Path) -> None:
    layout = Layout.under(tmp_path)

    [max_reports] = catalog.step("cleanup_old_reports").parameters

    result = cleanup_old_reports(layout, max_reports=max_reports.default)

    assert result == results.Cleanup(
        max_reports=10,
        kept={"data_quality": 0, "data_drift": 0, "model_performance": 0},
        deleted={"data_quality": 0, "data_drift": 0, "model_performance": 0},
    )
