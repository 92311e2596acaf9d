"""The reporting pipeline's steps over the data: what is there to report on, and the three
Evidently reports (written by `mindpulse.reports`, imported lazily: check_data_availability
runs in the pandas image, which has no Evidently)."""

from __future__ import annotations

from typing import Any

from mindpulse import options, registry, schema
from mindpulse.monitoring import count_production, load_production, load_reference
from mindpulse.paths import Layout
from mindpulse.step import NothingToDo, say

# Every reader here sets bad production rows aside like the retrain pipeline does (see schema).
SHARE = options.DEFAULT_MAX_QUARANTINE_SHARE


def check_data_availability(layout: Layout, max_quarantine_share: float = SHARE) -> dict[str, Any]:
    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    counts = count_production(current)
    say(f"{layout.reference_data}: {len(reference)} rows")
    if current is None:
        say(f"{layout.production_data}: missing or empty; the drift and performance reports will be skipped")
    else:
        say(f"{layout.production_data}: {counts['production_rows']} rows, {counts['labelled_rows']} labelled")
    return {
        "reference_rows": len(reference),
        "production_available": current is not None,
        **counts,
        "model_version": registry.current_version(layout),
    }


def data_quality_report(layout: Layout, stamp: str, max_quarantine_share: float = SHARE) -> dict[str, Any]:
    from mindpulse.reports import write_data_quality_report

    current = load_production(layout, max_quarantine_share)
    return write_data_quality_report(
        layout,
        stamp,
        load_reference(layout),
        None if current is None else current.rows,
        model_version=registry.current_version(layout),
    )


def data_drift_report(
    layout: Layout, stamp: str, threshold: float, min_rows: int, max_quarantine_share: float = SHARE
) -> dict[str, Any]:
    from mindpulse.reports import write_data_drift_report

    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    rows = count_production(current)["production_rows"]
    if current is None or rows < min_rows:
        raise NothingToDo({"production_rows": rows, "reason": f"{rows} production rows < {min_rows}: no drift report"})
    return write_data_drift_report(
        layout, stamp, reference, current.rows, threshold, model_version=registry.current_version(layout)
    )


def model_performance_report(layout: Layout, stamp: str, max_quarantine_share: float = SHARE) -> dict[str, Any]:
    from mindpulse.reports import write_model_performance_report

    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    if current is None or not schema.labelled(current.rows).size:
        raise NothingToDo({"reason": "no production rows with a known outcome: no performance report"})
    return write_model_performance_report(layout, stamp, reference, current.rows, registry.current_version(layout))
