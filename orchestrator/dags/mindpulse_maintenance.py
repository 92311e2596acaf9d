"""
### mindpulse_maintenance: keep a year of unattended running from filling the disks

Daily, at a quiet hour. Three tasks, side by side, each reporting what it removed as its XCom:

1. **apply_retention** (a step image) deletes old model versions, backups, archives and quarantine files
   (never the live version, the rollback target, the newest `keep_versions`, a kept version's training data,
   or anything younger than `keep_days`), each logged in `/models/audit.jsonl`, and sweeps stale temporary
   files of killed steps. `dry_run` only lists them.
2. **clean_airflow_database** runs `airflow db clean` on Airflow's metadata database: runs, task instances,
   XComs and events older than `airflow_db_keep_days` (each DAG's latest run stays).
3. **trim_task_logs** deletes Airflow's log files older than `task_log_keep_days`.

Nothing an in-flight run uses is touched: its files are younger than every cut-off, a version going live holds
the registry lock retention takes, and temporary files are swept only hours after their writer stopped.

**Trigger with parameters**: `keep_versions`, `keep_files`, `keep_days`, `dry_run`, `airflow_db_keep_days`,
`task_log_keep_days`. Their defaults come from the Airflow Variables `mindpulse_<param>`, else the environment
(`MINDPULSE_KEEP_VERSIONS`, ...). `MINDPULSE_MAINTENANCE_SCHEDULE` replaces the daily cron schedule.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import CronTriggerTimetable, conf, get_current_context, task
from mindpulse_cluster import default_queue
from mindpulse_dag_support import pipeline_dag, run_deadline, step_task
from mindpulse_upkeep import PARAMETERS, clean_airflow_database, trim_logs

from mindpulse.catalog import MAINTENANCE

with pipeline_dag(
    MAINTENANCE,
    description="Retention of the project's files, Airflow's database and its logs",
    schedule=CronTriggerTimetable(os.environ.get("MINDPULSE_MAINTENANCE_SCHEDULE", "0 3 * * *"), timezone="UTC"),
    parameters=PARAMETERS,
    # An alert when a run has not finished 60 minutes after it was queued (MINDPULSE_MAINTENANCE_DEADLINE).
    deadline=run_deadline("MINDPULSE_MAINTENANCE_DEADLINE", 60),
    tags=["mindpulse", "maintenance"],
    doc_md=__doc__,
) as dag:
    apply_retention = step_task("apply_retention")

    # Airflow's own tasks, not step images: they work on Airflow, on the queue of the light steps.
    @task(task_id="clean_airflow_database", queue=default_queue())
    def clean_database() -> dict[str, Any]:
        keep_days = get_current_context()["params"]["airflow_db_keep_days"]
        return clean_airflow_database(keep_days, datetime.now(UTC))

    @task(task_id="trim_task_logs", queue=default_queue())
    def trim_task_logs() -> dict[str, Any]:
        keep_days = get_current_context()["params"]["task_log_keep_days"]
        return trim_logs(Path(conf.get("logging", "base_log_folder")), keep_days, datetime.now(UTC))

    [apply_retention, clean_database(), trim_task_logs()]
