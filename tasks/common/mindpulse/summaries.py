"""The run summaries both pipelines end with (standard library only: the notify images carry
no pandas). They gather what the earlier steps produced, then `notify.publish_summary` writes,
prints and posts them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mindpulse import dashboard, notify, registry
from mindpulse.paths import REPORT_KINDS, Layout

DECISION_STEPS = ("check_production_data", "detect_drift")


def retrain_summary(
    layout: Layout, stamp: str, step_results: dict[str, Any], webhook_url: str | None
) -> dict[str, Any]:
    """Summarise a retrain run from the earlier steps' results: why it ran, on which rows, and what
    the promotion gate decided about the new model."""
    results = {name: result or {} for name, result in step_results.items()}
    check, drift = results.get("check_production_data", {}), results.get("detect_drift", {})
    merge, archive = results.get("merge_production_data", {}), results.get("archive_production_data", {})
    trained = results.get("train_new_model", {})
    summary = {
        "stamp": stamp,
        "reasons": [results[name]["reason"] for name in DECISION_STEPS if results.get(name, {}).get("retrain")],
        "production_rows": merge.get("production_rows", check.get("production_rows")),
        "labelled_rows": merge.get("labelled_production_rows", check.get("labelled_rows")),
        "evaluation_rows": merge.get("evaluation_rows"),
        "drift_share": drift.get("drift_share"),
        "drifted_columns": drift.get("drifted_columns"),
        "winner": {key: trained.get(key) for key in ("algorithm", "window", "version", "metrics", "candidates")},
        "promoted": trained.get("promoted"),
        "decision": trained.get("reason"),
        "gate": trained.get("gate"),
        "live_version": registry.current_version(layout),
        "selection_metric": trained.get("selection_metric"),
        "training_rows": trained.get("training_rows"),
        "archived_rows": archive.get("archived_rows"),
        "quarantined_rows": merge.get("quarantined_rows"),
        "quarantine_file": merge.get("quarantine_file"),
    }
    return notify.publish_summary(
        layout, "retrain_summary", stamp, summary, notify.retrain_summary_text(summary), webhook_url
    )


def report_summary(layout: Layout, stamp: str, drift_threshold: float, webhook_url: str | None) -> dict[str, Any]:
    """Record this reporting run in the history, redraw index.html, and send the figures."""
    twins = {kind: _twin(layout, kind, stamp) for kind in REPORT_KINDS}
    drift, performance = twins["data_drift"] or {}, twins["model_performance"] or {}
    entry = {
        "stamp": stamp,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "drift_share": drift.get("drift_share"),
        "drift_detected": drift.get("drift_detected"),
        "accuracy": performance.get("accuracy"),
        "model_version": registry.current_version(layout),
        "reports": {kind: twin["html"] for kind, twin in twins.items() if twin},
    }
    dashboard.append_history(layout, entry)
    index = dashboard.write_index(layout, drift_threshold)
    text = _report_text(entry, drift_threshold)
    outcome = notify.publish_summary(layout, "report_summary", stamp, entry, text, webhook_url)
    return {**entry, "index": str(index), **outcome}


def _twin(layout: Layout, kind: str, stamp: str) -> dict[str, Any] | None:
    """The JSON twin this run wrote for `kind`, or None when that report was skipped."""
    path = layout.report_file(kind, stamp, "json")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _report_text(entry: dict[str, Any], drift_threshold: float) -> str:
    lines = [f"MindPulse monitoring {entry['stamp']} (model {entry['model_version'] or 'none'})"]
    share = entry["drift_share"]
    if share is None:
        lines.append("Drift: not measured (no production data)")
    else:
        verdict = "DRIFT" if entry["drift_detected"] else "no drift"
        lines.append(f"Drift: {share:.0%} of feature columns drifted (threshold {drift_threshold:.0%}): {verdict}")
    accuracy = entry["accuracy"]
    measured = "not measured (no labelled rows)" if accuracy is None else f"{accuracy:.3f}"
    lines.append(f"Production accuracy: {measured}")
    lines.append("Reports: " + (", ".join(entry["reports"].values()) or "none"))
    return "\n".join(lines)
