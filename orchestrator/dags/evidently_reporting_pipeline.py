"""
### evidently_reporting_pipeline: Evidently reports on the live model and its production data

Every task runs one step image (`mindpulse/<step>`) on the data, models and reports volumes.

1. **check_data_availability** fails the run when there is no reference data (run the bootstrap first)
   and counts the production rows, labelled and all.
2. Three reports, side by side, each written as HTML and JSON to `/reports/`:
   **generate_data_quality_report** (reference and production data),
   **generate_data_drift_report** (production against reference, skipped without production rows) and
   **generate_model_performance_report** (the live model on labelled production rows, skipped without
   them). A skipped report is not a failure.
3. **cleanup_old_reports** keeps the newest `max_reports` reports of each kind, and
   **send_report_summary** writes `/reports/report_summary_<stamp>.json` and the overview pages
   `/reports/index.html` (the last `dashboard_days` days) and `/reports/history.html` (every run), and
   posts the summary to the webhook, if one is configured. Both run whichever reports were skipped.

Model versions, backups and production files are kept in bounds by `mindpulse_maintenance`.

Every file of one run carries the same stamp, taken from the run. Runs every six hours and whenever
`ml_retrain_pipeline` promotes a model (asset `mindpulse_current_model`).

**Trigger with parameters**: `max_reports`, `drift_threshold`, `max_quarantine_share`, `disk_alert_share`,
`dashboard_days`. Their defaults
come from the Airflow Variables `mindpulse_<param>`, else the environment (`MINDPULSE_MAX_REPORTS`, ...).
`MINDPULSE_REPORTING_SCHEDULE` replaces the six-hourly cron schedule.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, TriggerRule
from mindpulse_dag_support import CURRENT_MODEL, pipeline_dag, run_deadline, step_task

from mindpulse.catalog import REPORTING

with pipeline_dag(
    REPORTING,
    description="Data quality, drift and model performance reports with Evidently",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(os.environ.get("MINDPULSE_REPORTING_SCHEDULE", "0 */6 * * *"), timezone="UTC"),
        assets=CURRENT_MODEL,
    ),
    dagrun_timeout=timedelta(hours=2),
    # An alert when a run has not finished 60 minutes after it was queued (MINDPULSE_REPORTING_DEADLINE).
    deadline=run_deadline("MINDPULSE_REPORTING_DEADLINE", 60),
    tags=["mindpulse", "reporting", "evidently"],
    doc_md=__doc__,
) as dag:
    check_data_availability = step_task("check_data_availability")
    reports = [
        step_task("generate_data_quality_report"),
        step_task("generate_data_drift_report"),
        step_task("generate_model_performance_report"),
    ]
    # none_failed: a report skipped for lack of data must not stop the cleanup and the summary.
    cleanup_old_reports = step_task("cleanup_old_reports", trigger_rule=TriggerRule.NONE_FAILED)
    send_report_summary = step_task("send_report_summary", trigger_rule=TriggerRule.NONE_FAILED)

    check_data_availability >> reports >> cleanup_old_reports >> send_report_summary
