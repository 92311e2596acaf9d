"""What a person reads when a run fails or is late: the alert messages the orchestrator posts.

Pure formatting, standard library only: the Airflow image's notifier (orchestrator/dags/mindpulse_alerts.py)
builds the messages here and posts them with mindpulse.webhook.post_webhook, the same Slack-compatible body
the summary steps send ({"text": ..., "summary": {...}}).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from mindpulse.protocol import ERROR_PREFIX

# The Airflow Connection that holds the webhook URL (created from MINDPULSE_WEBHOOK_URL at init).
WEBHOOK_CONNECTION = "mindpulse_webhook"
# Where a failing step task records its ERROR: line (an XCom key), for the run's failure alert.
ERROR_LINE_KEY = "mindpulse_error_line"
# Longest ERROR: line carried in an alert: a chat message is no place for a whole traceback.
MAX_ERROR_CHARS = 1000


def error_line(lines: Iterable[str | bytes] | None) -> str | None:
    """The last `ERROR:` line of a step's output (mindpulse.protocol prints exactly one), or None."""
    found = None
    for raw in lines or ():
        line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
        if line.startswith(ERROR_PREFIX):
            found = line
    return found if found is None else found[:MAX_ERROR_CHARS]


def failure_alert(
    *, dag_id: str, run_id: str, task_id: str | None, error: str | None, log_url: str | None
) -> tuple[str, dict[str, Any]]:
    """The text and the structured fields of the one alert a failed run sends."""
    text = "\n".join(
        [
            f"MindPulse run FAILED: {dag_id}",
            f"Run: {run_id}",
            f"Failed task: {task_id or 'unknown'}",
            error or "No ERROR: line recorded: the task failed outside its step (see the log).",
            f"Log: {log_url or 'unavailable'}",
        ]
    )
    fields = {
        "event": "run_failed",
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "error": error,
        "log_url": log_url,
    }
    return text, fields


def deadline_alert(*, dag_id: str, run_id: str, deadline: str, run_url: str | None) -> tuple[str, dict[str, Any]]:
    """The text and the structured fields of the alert a run sends when it has not finished by its deadline."""
    text = "\n".join(
        [
            f"MindPulse run LATE: {dag_id} has not finished by its deadline {deadline}",
            f"Run: {run_id}",
            f"Run page: {run_url or 'unavailable'}",
        ]
    )
    fields = {"event": "deadline_missed", "dag_id": dag_id, "run_id": run_id, "deadline": deadline, "run_url": run_url}
    return text, fields


def webhook_url(secret: str | None) -> str | None:
    """The webhook URL a Connection holds: its password is the whole URL (a password is the field Airflow
    encrypts, and the token is in the URL's path); None when it holds none.

    Raises ValueError, without the URL in the message, when it is not an http(s) URL with a host name.
    """
    url = (secret or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(
            f"the password of Connection {WEBHOOK_CONNECTION} must be the whole webhook URL, starting with http"
            " or https"
        )
    return url
