"""Airflow's upkeep (orchestrator/dags/mindpulse_upkeep.py) as pure logic: which log files go, what `airflow db clean`
said it deleted, and the connection its subprocess gets. The real command runs in tests/integration (SQLite) and
tests/e2e (the stack's PostgreSQL, under Airflow 3's task supervisor)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "orchestrator" / "dags"))
import mindpulse_upkeep as upkeep

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def aged(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x" * 100)
    moment = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (moment, moment))
    return path


def test_logs_older_than_the_setting_go_with_the_folders_they_leave_empty(tmp_path: Path) -> None:
    old = aged(tmp_path / "dag_id=a" / "run_id=1" / "task_id=t" / "attempt=1.log", 31)
    also_old = aged(tmp_path / "dag_processor" / "2026-11-01" / "a.py.log", 40)
    young = aged(tmp_path / "dag_id=a" / "run_id=2" / "task_id=t" / "attempt=1.log", 29)
    beside = aged(tmp_path / "dag_id=a" / "run_id=1" / "task_id=u" / "attempt=1.log", 1)

    trimmed = upkeep.trim_logs(tmp_path, 30, NOW)

    assert not old.exists() and not also_old.exists()
    assert young.exists() and beside.exists()
    assert not old.parent.exists() and not (tmp_path / "dag_processor").exists(), "emptied folders go"
    assert old.parent.parent.exists(), "a folder still holding a young log stays"
    assert trimmed == {
        "older_than": "2026-11-07T03:00:00+00:00",
        "removed_files": 2,
        "freed_bytes": 200,
        "kept_files": 2,
    }


def test_the_rows_db_clean_deleted_are_read_per_table() -> None:
    # As airflow.utils.db_cleanup prints them (Airflow 3.3).
    output = "\n".join(
        [
            "Checking table job",
            "Found 0 rows meeting deletion criteria.",
            "Checking table dag_run",
            "Found 12 rows meeting deletion criteria.",
            "Performing Delete...",
            "Finished Performing Delete",
            "Checking table xcom",
            "Found 40 rows meeting deletion criteria.",
        ]
    )
    assert upkeep.deleted_rows(output) == {"dag_run": 12, "xcom": 40}


def test_db_clean_gets_the_deployments_connection_back_from_under_the_task_supervisors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")
    monkeypatch.setenv("AIRFLOW__CORE__SQL_ALCHEMY_CONN", "airflow-db-not-allowed:///")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", "cat /opt/airflow/secrets/sql_alchemy_conn")

    environment = upkeep._configured_database()

    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in environment
    assert "AIRFLOW__CORE__SQL_ALCHEMY_CONN" not in environment
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] == "cat /opt/airflow/secrets/sql_alchemy_conn"
    # A connection a deployment set itself (no supervisor over it: `airflow dags test`) is kept.
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://db/airflow")
    assert upkeep._configured_database()["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql://db/airflow"
