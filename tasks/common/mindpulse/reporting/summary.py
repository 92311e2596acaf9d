"""The step send_report_summary: this reporting run's figures into the history, the dashboard redrawn, and the
figures (with any disk alert) to the log, a JSON file in /reports and the webhook.

Standard library only: the notify image carries no pandas.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mindpulse import registry, results
from mindpulse.messages import report_text
from mindpulse.parameters import DASHBOARD_DAYS, DISK_ALERT_SHARE
from mindpulse.paths import REPORT_KINDS, REPORT_SUMMARY, Layout
from mindpulse.reporting import dashboard, history, volumes
from mindpulse.summaries import publish


def send_report_summary(
    layout: Layout,
    run_stamp: str,
    drift_threshold: float,
    webhook_url: str | None,
    disk_alert_share: float = DISK_ALERT_SHARE.default,
    dashboard_days: int = DASHBOARD_DAYS.default,
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
    index = dashboard.write_index(layout, drift_threshold, dashboard_days)
    text = "\n".join([report_text(entry, drift_threshold), *disk_alerts])
    delivery = publish(layout, REPORT_SUMMARY, run_stamp, entry, text, webhook_url)
    return results.ReportSummary(**entry.as_dict(), index=str(index), delivery=delivery)
