"""The steps of evidently_reporting_pipeline, in the order they run."""

from __future__ import annotations

from mindpulse import results
from mindpulse.catalog.declaration import REPORTING, Step
from mindpulse.parameters import (
    DASHBOARD_DAYS,
    DISK_ALERT_SHARE,
    DRIFT_THRESHOLD,
    MAX_QUARANTINE_SHARE,
    MIN_DRIFT_ROWS,
    RUN_STAMP,
    WEBHOOK_URL,
    Parameter,
)

REPORTING_STEPS: tuple[Step, ...] = (
    Step(
        name="check_data_availability",
        pipeline=REPORTING,
        family="pandas",
        module="mindpulse.datasets",
        doc="""is there data to report on?

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (all read-only)
Outputs:  none; row counts are the result JSON
Exit:     0 reference data valid (production data may be missing or empty: said in the result,
          and the production reports then skip themselves), 1 reference data missing or bad""",
        result=results.Availability,
        reads=("data", "models"),
        parameters=(MAX_QUARANTINE_SHARE,),
    ),
    Step(
        name="generate_data_quality_report",
        pipeline=REPORTING,
        family="evidently",
        module="mindpulse.reporting.evidently_reports",
        doc="""Evidently data summary of reference and production data.

Inputs:   /data/reference_data.csv, /data/prod_data.csv (production may be empty), /models/current
          for the live version (all read-only)
Outputs:  /reports/data_quality_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 1 bad input""",
        result=results.DataQualityReport,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, MAX_QUARANTINE_SHARE),
    ),
    Step(
        name="generate_data_drift_report",
        pipeline=REPORTING,
        family="evidently",
        module="mindpulse.reporting.evidently_reports",
        doc="""Evidently drift of production features against the reference, judged by the same rule and
threshold as the retrain pipeline's detect_drift.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current for the live version
          (all read-only)
Outputs:  /reports/data_drift_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 99 too few production rows, 1 bad input""",
        result=results.DataDriftReport,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, DRIFT_THRESHOLD, MIN_DRIFT_ROWS, MAX_QUARANTINE_SHARE),
    ),
    Step(
        name="generate_model_performance_report",
        pipeline=REPORTING,
        family="evidently",
        module="mindpulse.reporting.evidently_reports",
        doc="""Evidently classification quality of the live model on production rows whose true outcome
is known.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (read-only)
Outputs:  /reports/model_performance_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 99 no labelled production rows, 1 bad input""",
        result=results.ModelPerformanceReport,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, MAX_QUARANTINE_SHARE),
    ),
    Step(
        name="cleanup_old_reports",
        pipeline=REPORTING,
        family="base",
        module="mindpulse.reporting.retention",
        doc="""keep the newest reports of each kind, never a file of another kind.

Inputs:   /reports/<kind>_report_YYYYMMDD_HHMMSS.{html,json}
Outputs:  older reports of each kind deleted, each with its JSON twin
Exit:     0 done, 1 bad parameter""",
        result=results.Cleanup,
        writes=("reports",),
        parameters=(
            Parameter(
                "max_reports", int, 10, "reports of each kind to keep", minimum=1, in_form=True, title="Reports to keep"
            ),
        ),
    ),
    Step(
        name="send_report_summary",
        pipeline=REPORTING,
        family="base",
        module="mindpulse.reporting.summary",
        doc="""the figures of this reporting run, the history chart page, a message.

Inputs:   /reports/*_report_<RUN_STAMP>.json, /reports/history.jsonl, /models/current (read-only)
Outputs:  /reports/report_summary_<RUN_STAMP>.json, a line in /reports/history.jsonl,
          /reports/index.html (the last DASHBOARD_DAYS days, with each volume's size and how
          full its disk is, and an alert line past DISK_ALERT_SHARE), /reports/history.html
          (every run); a POST to WEBHOOK_URL when set (never fails the run)
Exit:     0 done, 1 the reports volume cannot be written""",
        result=results.ReportSummary,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, DRIFT_THRESHOLD, WEBHOOK_URL, DISK_ALERT_SHARE, DASHBOARD_DAYS),
    ),
)
