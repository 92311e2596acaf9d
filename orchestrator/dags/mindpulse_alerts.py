"""Alerts that reach a person: one message per failed run, and one when a run misses its deadline.

Both go to the webhook of the Airflow Connection `mindpulse_webhook` (its password is the whole URL, encrypted;
airflow-init creates it from MINDPULSE_WEBHOOK_URL in .env), read when the alert is sent, never when a DAG file is
parsed, so the URL is in no DAG attribute, rendered template or parse log. The body is the one the summary steps post
(mindpulse.webhook.post_webhook): Slack-compatible `text`, the structured fields under `summary`.

- Failure: `WebhookNotifier` is every MindPulse DAG's `on_failure_callback`. A DAG-level callback fires once
  per failed run (in the DAG processor; `airflow dags test` runs it in its own process) with the context of the
  task that failed last. The message quotes that task's `ERROR:` line, which the task recorded as an XCom
  (ERROR_LINE_KEY) while it was still running (read through the task instance, Airflow's public API; not under
  `airflow dags test`, which has no supervisor to ask), and links to its log page in the UI ([api] base_url).
- Deadline: `deadline_alert` is an Airflow deadline alert (new in 3.1, experimental): when a run has not
  finished `interval` after it was queued, the scheduler queues the same notifier, which the triggerer awaits.

An alert never fails anything: an unreachable webhook, an absent or malformed Connection, or an error while
building the message is logged as one line and the run's state stays what it was.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

# airflow.sdk exports AsyncCallback, DeadlineAlert and DeadlineReference, but its type stub (__init__.pyi,
# Airflow 3.3.2) does not list them.
from airflow.sdk import (  # type: ignore[attr-defined]
    AsyncCallback,
    BaseNotifier,
    Connection,
    DeadlineAlert,
    DeadlineReference,
    conf,
)
from airflow.sdk.exceptions import AirflowNotFoundException

from mindpulse import alerts
from mindpulse.webhook import post_webhook

log = logging.getLogger(__name__)


def configured_webhook() -> str | None:
    """The webhook URL of Connection `mindpulse_webhook`, or None when there is none or it is unusable."""
    try:
        return alerts.webhook_url(Connection.get(alerts.WEBHOOK_CONNECTION).password)
    except Exception as error:
        _no_webhook(error)
        return None


async def _async_configured_webhook() -> str | None:
    # The triggerer runs callbacks in its event loop; a blocking Connection lookup there can deadlock.
    try:
        return alerts.webhook_url((await Connection.async_get(alerts.WEBHOOK_CONNECTION)).password)
    except Exception as error:
        _no_webhook(error)
        return None


def _no_webhook(error: Exception) -> None:
    """No Connection means no webhook; any other error (a malformed, hand-made Connection) is one log line
    that names the Connection but never shows its value. The pipeline's work goes on either way."""
    if not isinstance(error, AirflowNotFoundException):
        log.warning("ERROR: Connection %s is unusable, no webhook: %s", alerts.WEBHOOK_CONNECTION, _safe(error))


def _safe(error: BaseException) -> str:
    """An error as one line without any URL or path it may quote (the webhook's token is in its path)."""
    words = " ".join(str(error).split()).split(" ")
    return " ".join(word for word in words if "/" not in word and "@" not in word) or type(error).__name__


class WebhookNotifier(BaseNotifier):
    """Posts a run's failure (sync, DAG processor) or its missed deadline (async, triggerer) to the webhook."""

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing to render: the message is built from the context. (BaseNotifier would ask the context's DAG
        # for its template environment, and `airflow dags test` hands over a SerializedDAG, which has none.)
        return None

    def notify(self, context: Any) -> None:
        try:
            text, fields = _failure_message(context)
        except Exception as error:  # a context without what we expect must still not raise
            log.warning("ERROR: no failure alert sent, the callback context was unexpected: %s", _safe(error))
            return
        _deliver(configured_webhook(), text, fields)

    async def async_notify(self, context: Any) -> None:
        try:
            text, fields = _deadline_message(context)
        except Exception as error:
            log.warning("ERROR: no deadline alert sent, the callback context was unexpected: %s", _safe(error))
            return
        url = await _async_configured_webhook()
        await asyncio.to_thread(_deliver, url, text, fields)


def _deliver(url: str | None, text: str, fields: dict[str, Any]) -> None:
    """Post and log one line saying what happened; post_webhook never raises and never names the URL."""
    outcome = post_webhook(url, text, fields)
    what = f"{fields['event']} alert for {fields['dag_id']} run {fields['run_id']}"
    if outcome["webhook"] == "failed":
        log.warning("ERROR: %s not delivered: %s", what, outcome.get("error"))
    else:
        log.info("%s: webhook %s", what, outcome["webhook"])


def _failure_message(context: Any) -> tuple[str, dict[str, Any]]:
    ti = context.get("ti")
    if ti is None:  # the minimal context: Airflow found no failed task instance to describe
        return alerts.failure_alert(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], task_id=None, error=None, log_url=None
        )
    return alerts.failure_alert(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, error=recorded_error(ti), log_url=ti.log_url
    )


def recorded_error(ti: Any) -> str | None:
    """The ERROR: line the failed task recorded, or None."""
    try:
        recorded: str | None = ti.xcom_pull(task_ids=ti.task_id, key=alerts.ERROR_LINE_KEY)
        return recorded
    except ImportError:
        # No task supervisor to ask: `airflow dags test` runs DAG callbacks in its own process, where Airflow 3.3
        # has no public way to read an XCom (the DAG processor, where deployments run them, has a supervisor).
        # The alert then goes without the line.
        return None


def _deadline_message(context: Any) -> tuple[str, dict[str, Any]]:
    # The triggerer gets a simple context: the run as the REST API shows it, and the deadline.
    run = context["dag_run"]
    dag_id, run_id = run["dag_id"], run["dag_run_id"]
    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    return alerts.deadline_alert(
        dag_id=dag_id,
        run_id=run_id,
        deadline=str(context["deadline"]["deadline_time"]),
        run_url=f"{base}/dags/{dag_id}/runs/{quote(run_id)}",
    )


def deadline_alert(interval: timedelta) -> DeadlineAlert:
    """An alert to the webhook when a run has not finished `interval` after it was queued."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(WebhookNotifier),
        name="mindpulse_run_late",
    )
