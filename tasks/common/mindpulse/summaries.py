"""The run summaries both pipelines end with: what the earlier steps produced, as a JSON file in /reports,
a few lines in the log, and an optional webhook post.

Standard library only: the notify images carry no pandas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from mindpulse import atomic, catalog, dashboard, history, registry, results, volumes
from mindpulse.messages import report_text, retrain_summary_text
from mindpulse.parameters import DISK_ALERT_SHARE
from mindpulse.paths import REPORT_KINDS, REPORT_SUMMARY, RETRAIN_SUMMARY, Layout
from mindpulse.protocol import StepError, say
from mindpulse.webhook import post_webhook

ResultType = TypeVar("ResultType", bound=results.Result)


def retrain_summary(
    layout: Layout, run_stamp: str, step_results: dict[str, Any] | None, webhook_url: str | None
) -> results.Delivery:
    """Summarise a retrain run from the earlier steps' results: why it ran, on which rows, and what
    the promotion gate decided about the new model."""
    typed = _typed(step_results or {})
    label_check, drift = _one(typed, results.LabelCheck), _one(typed, results.DriftCheck)
    merge, archive = _one(typed, results.Merge), _one(typed, results.Archive)
    trained = _one(typed, results.Training)
    counted = merge or label_check
    summary = results.RetrainSummary(
        stamp=run_stamp,
        reasons=[check.reason for check in (label_check, drift) if check and check.retrain],
        production_rows=counted.production_rows if counted else None,
        labelled_rows=counted.labelled_rows if counted else None,
        evaluation_rows=merge.evaluation_rows if merge else None,
        drift_share=drift.drift_share if drift else None,
        drifted_columns=drift.drifted_columns if drift else None,
        winner={
            "algorithm": trained.algorithm,
            "window": trained.window,
            "version": trained.version,
            "metrics": trained.metrics,
            "candidates": trained.candidates,
        }
        if trained
        else {},
        promoted=trained.promoted if trained else None,
        decision=trained.reason if trained else None,
        gate=trained.gate if trained else None,
        live_version=registry.current_version(layout),
        selection_metric=trained.selection_metric if trained else None,
        training_rows=trained.training_rows if trained else None,
        archived_rows=archive.archived_rows if archive else None,
        quarantined_rows=merge.quarantined_rows if merge else None,
        quarantine_file=merge.quarantine_file if merge else None,
    )
    return publish(layout, RETRAIN_SUMMARY, run_stamp, summary, retrain_summary_text(summary), webhook_url)


def _typed(step_results: dict[str, Any]) -> list[results.Result]:
    """Each retrain step's result read as the type its declaration names (a skipped step has none)."""
    found = []
    for declared in catalog.steps_of(catalog.RETRAIN):
        result = declared.result.read(step_results.get(declared.name))
        if result is not None:
            found.append(result)
    return found


def _one(typed: list[results.Result], kind: type[ResultType]) -> ResultType | None:
    return next((result for result in typed if type(result) is kind), None)


def report_summary(
    layout: Layout,
    run_stamp: str,
    drift_threshold: float,
    webhook_url: str | None,
    disk_alert_share: float = DISK_ALERT_SHARE.default,
) -> results.ReportSummary:
    """Record this reporting run in the history, redraw index.html, and send the figures (and an alert
    for each volume whose disk is fuller than `disk_alert_share`)."""
    measured = volumes.measure(layout, disk_alert_share)
    disk_alerts = volumes.alerts(measured, disk_alert_share)
    twins = {kind: history.read_twin(layout, kind, run_stamp) for kind in REPORT_KINDS}
    drift = twins["data_drift"]
    performance = twins["model_performance"]
    entry = results.HistoryEntry(
        stamp=run_stamp,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        drift_share=drift.drift_share if isinstance(drift, results.DataDriftReport) else None,
        drift_detected=drift.drift_detected if isinstance(drift, results.DataDriftReport) else None,
        accuracy=performance.accuracy if isinstance(performance, results.ModelPerformanceReport) else None,
        model_version=registry.current_version(layout),
        reports={kind: twin.html for kind, twin in twins.items() if twin},
        volumes=measured,
        disk_alerts=disk_alerts,
    )
    history.append(layout, entry)
    index = dashboard.write_index(layout, drift_threshold)
    text = "\n".join([report_text(entry, drift_threshold), *disk_alerts])
    delivery = publish(layout, REPORT_SUMMARY, run_stamp, entry, text, webhook_url)
    return results.ReportSummary(**entry.as_dict(), index=str(index), delivery=delivery)


def publish(
    layout: Layout, name: str, stamp: str, summary: results.Result, text: str, webhook_url: str | None
) -> results.Delivery:
    """Write reports/<name>_<stamp>.json, print `text`, post the webhook; return what happened."""
    path = layout.summary_file(name, stamp)
    # Phase marker: the fault tests kill the step on this line, inside the write.
    say(f"writing {path}")
    try:
        atomic.write_json(path, summary.as_dict())
    except OSError as error:
        raise StepError(f"cannot write {path}: {error.strerror or error}") from error
    say(text)
    delivery = results.Delivery(summary_file=str(path), **post_webhook(webhook_url, text, summary.as_dict()))
    if delivery.webhook == "failed":
        say(f"WARNING: webhook not delivered: {delivery.error}")
    return delivery
