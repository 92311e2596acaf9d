"""Airflow's own upkeep, run by the mindpulse_maintenance DAG: its metadata database and its task logs, which
otherwise grow with every run for as long as the install lives (four reporting runs and a retrain check a day).

Both keep what is younger than a number of days, declared once here as `Parameter`s (type, default, bounds, help),
from which the DAG's trigger form and the MINDPULSE_<NAME> deployment setting derive like a step's parameters.
Each returns what it removed, which becomes the task's XCom.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mindpulse.parameters import Parameter

AIRFLOW_DB_KEEP_DAYS = Parameter(
    "airflow_db_keep_days",
    int,
    30,
    "days of Airflow's run history (runs, task instances, XComs, jobs, logs of events) kept in its database",
    minimum=1,
    maximum=3650,
    in_form=True,
    title="Airflow history days",
)
TASK_LOG_KEEP_DAYS = Parameter(
    "task_log_keep_days",
    int,
    30,
    "days of Airflow's log files (task attempts, DAG processing) kept",
    minimum=1,
    maximum=3650,
    in_form=True,
    title="Task log days",
)
PARAMETERS = (AIRFLOW_DB_KEEP_DAYS, TASK_LOG_KEEP_DAYS)

# What `airflow db clean` prints per table (airflow.utils.db_cleanup): "Checking table <name>", then
# "Found <n> rows meeting deletion criteria."
_TABLE = re.compile(r"^Checking table (\S+)$")
_FOUND = re.compile(r"^Found (\d+) rows meeting deletion criteria\.$")


# What Airflow 3's task supervisor sets as the database URL of a task process (airflow.sdk.execution_time.supervisor).
_BLOCKED_BY_AIRFLOW = "airflow-db-not-allowed:///"


class UpkeepError(RuntimeError):
    """The one line the task log shows when upkeep fails."""


def clean_airflow_database(keep_days: int, now: datetime) -> dict[str, Any]:
    """`airflow db clean` of every table's rows older than `keep_days` (Airflow keeps each DAG's latest run),
    without archive tables (they would be the same growth under another name). Airflow's CLI is the right tool:
    it knows each table's recency column and the order foreign keys need."""
    before = (now - timedelta(days=keep_days)).isoformat(timespec="seconds")
    command = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp", before]
    command += ["--skip-archive", "--error-on-cleanup-failure", "--yes"]
    done = subprocess.run(
        command, env=_configured_database(), capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise UpkeepError(f"airflow db clean --clean-before-timestamp {before} failed ({done.returncode}): {last}")
    return {"older_than": before, "deleted_rows": deleted_rows(done.stdout)}


def _configured_database() -> dict[str, str]:
    """The environment for `airflow db clean`: this task's, without the connection Airflow 3's task supervisor puts
    over the deployment's to keep task code off the database (apache/airflow#50601). The command is Airflow's own
    maintenance, so it gets the deployment's connection back: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD (how the
    stack configures it, from the secrets volume), _SECRET or airflow.cfg. Under `airflow dags test` nothing was
    put over it."""
    environ = dict(os.environ)
    for name in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__SQL_ALCHEMY_CONN"):
        if environ.get(name) == _BLOCKED_BY_AIRFLOW:
            del environ[name]
    return environ


def deleted_rows(output: str) -> dict[str, int]:
    """Table -> rows deleted, read from `airflow db clean`'s output; tables with none left out."""
    found: dict[str, int] = {}
    table = None
    for line in output.splitlines():
        if matched := _TABLE.match(line.strip()):
            table = matched[1]
        elif (matched := _FOUND.match(line.strip())) and table is not None and int(matched[1]):
            found[table] = int(matched[1])
    return found


def trim_logs(folder: Path, keep_days: int, now: datetime) -> dict[str, Any]:
    """Delete the log files under `folder` last written more than `keep_days` ago, then the folders left empty.
    A running task's log is being written, so it is never old."""
    older_than = now - timedelta(days=keep_days)
    cutoff = older_than.timestamp()
    removed, freed, kept = 0, 0, 0
    for directory, _, names in os.walk(folder, topdown=False):
        for name in names:
            path = Path(directory) / name
            try:
                status = path.lstat()
                if status.st_mtime >= cutoff:
                    kept += 1
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # removed meanwhile
            removed, freed = removed + 1, freed + status.st_size
        if Path(directory) != folder:
            with contextlib.suppress(OSError):  # a folder still holding something stays
                os.rmdir(directory)
    return {
        "older_than": older_than.isoformat(timespec="seconds"),
        "removed_files": removed,
        "freed_bytes": freed,
        "kept_files": kept,
    }
