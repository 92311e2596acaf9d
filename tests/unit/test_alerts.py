"""The alert messages (mindpulse.alerts): pure formatting, no Airflow. That they are sent once per failed run,
through the Connection, is tested for real in tests/integration/test_alerts.py and the compose stack."""

from __future__ import annotations

import pytest

from mindpulse import alerts

ERROR = "ERROR: /data/prod_data.csv line 7, column Age: 'old' is not a number"


def test_the_error_line_is_the_last_error_line_of_the_output() -> None:
    output = [b"loading /data/prod_data.csv", "ERROR: first", f"  {ERROR}  ".encode(), b'{"step": "x"}']
    assert alerts.error_line(output) == ERROR


@pytest.mark.parametrize("output", [None, [], ["all good", "WARNING: ERROR: not at the start"]])
def test_output_without_an_error_line_has_none(output: list[str] | None) -> None:
    assert alerts.error_line(output) is None


def test_a_huge_error_line_is_cut() -> None:
    assert alerts.error_line(["ERROR: " + "x" * 50_000]) == ("ERROR: " + "x" * 50_000)[: alerts.MAX_ERROR_CHARS]


def test_a_failure_alert_says_which_run_which_task_why_and_where_the_log_is() -> None:
    log_url = "http://airflow.example.test/dags/ml_retrain_pipeline/runs/manual__1/tasks/detect_drift?try_number=1"
    text, fields = alerts.failure_alert(
        dag_id="ml_retrain_pipeline", run_id="manual__1", task_id="detect_drift", error=ERROR, log_url=log_url
    )
    assert text.splitlines() == [
        "MindPulse run FAILED: ml_retrain_pipeline",
        "Run: manual__1",
        "Failed task: detect_drift",
        ERROR,
        f"Log: {log_url}",
    ]
    assert fields == {
        "event": "run_failed",
        "dag_id": "ml_retrain_pipeline",
        "run_id": "manual__1",
        "task_id": "detect_drift",
        "error": ERROR,
        "log_url": log_url,
    }


def test_a_failure_without_a_task_or_error_line_still_says_so() -> None:
    text, fields = alerts.failure_alert(dag_id="d", run_id="r", task_id=None, error=None, log_url=None)
    assert "Failed task: unknown" in text
    assert "No ERROR: line recorded" in text
    assert "Log: unavailable" in text
    assert fields["task_id"] is None and fields["error"] is None


def test_a_deadline_alert_names_the_run_and_its_deadline() -> None:
    text, fields = alerts.deadline_alert(
        dag_id="ml_retrain_pipeline", run_id="scheduled__2", deadline="2026-01-01T02:00:00+00:00", run_url="http://u/r"
    )
    assert text.splitlines()[0] == (
        "MindPulse run LATE: ml_retrain_pipeline has not finished by its deadline 2026-01-01T02:00:00+00:00"
    )
    assert fields["event"] == "deadline_missed" and fields["run_url"] == "http://u/r"


def test_the_connection_password_is_the_whole_webhook_url() -> None:
    assert alerts.webhook_url(" https://hooks.example.test/T0/B0/token ") == "https://hooks.example.test/T0/B0/token"
    assert alerts.webhook_url("") is None
    assert alerts.webhook_url(None) is None


@pytest.mark.parametrize("host", ["hooks.example.test/T0/secret", "ftp://hooks.example.test/secret", "http:///secret"])
def test_a_host_that_is_no_webhook_url_is_refused_without_showing_it(host: str) -> None:
    with pytest.raises(ValueError) as refused:
        alerts.webhook_url(host)
    assert "mindpulse_webhook" in str(refused.value)
    assert "secret" not in str(refused.value)
