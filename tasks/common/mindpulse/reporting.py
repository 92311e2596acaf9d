"""The reporting pipeline's steps over the data: what is there to report on, and the three
Evidently reports (written by `mindpulse.reports`, imported lazily: check_data_availability
runs in the pandas image, which has no Evidently)."""

from __future__ import annotations

from typing import Any

from mindpulse import registry, schema
from mindpulse.monitoring import load_production, load_reference
from mindpulse.paths import Layout
from mindpulse.step import NothingToDo, say


def check_data_availability(layout: Layout) -> dict[str, Any]:
    reference = load_reference(layout)
    current = load_production(layout)
    rows = 0 if current is None else len(current)
    labelled = 0 if current is None else int(current[schema.ACTUAL].notna().sum())
    say(f"{layout.reference_data}: {len(reference)} rows")
    if current is None:
        say(f"{layout.production_data}: missing or empty; the drift and performance reports will be skipped")
    else:
        say(f"{layout.production_data}: {rows} rows, {labelled} labelled")
    return {
        "reference_rows": len(reference),
        "production_available": current is not None,
        "production_rows": rows,
        "labelled_rows": labelled,
        "model_version": registry.current_version(layout),
    }


def data_quality_report(layout: Layout, stamp: str) -> dict[str, Any]:
    from mindpulse.reports import write_data_quality_report

    return write_data_quality_report(
        layout, stamp, load_reference(layout), load_production(layout), model_version=registry.current_version(layout)
    )


def data_drift_report(layout: Layout, stamp: str, threshold: float, min_rows: int) -> dict[str, Any]:
    from mindpulse.reports import write_data_drift_report

    reference = load_reference(layout)
    current = load_production(layout)
    rows = 0 if current is None else len(current)
    if rows < min_rows:
        raise NothingToDo({"production_rows": rows, "reason": f"{rows} production rows < {min_rows}: no drift report"})
    return write_data_drift_report(
        layout, stamp, reference, current, threshold, model_version=registry.current_version(layout)
    )


def model_performance_report(layout: Layout, stamp: str) -> dict[str, Any]:
    from mindpulse.reports import write_model_performance_report

    reference = load_reference(layout)
    current = load_production(layout)
    if current is None or not schema.labelled(current).size:
        raise NothingToDo({"reason": "no production rows with a known outcome: no performance report"})
    return write_model_performance_report(layout, stamp, reference, current, registry.current_version(layout))
