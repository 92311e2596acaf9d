"""Failure alerts through `airflow dags test`: a real Airflow run, real step containers, and a real HTTP receiver
on 127.0.0.1 behind the Connection mindpulse_webhook (given as AIRFLOW_CONN_MINDPULSE_WEBHOOK, as a secrets
backend would). The DAG-level callback runs in the `dags test` process on the host, so 127.0.0.1 reaches it.

The failing run is ml_retrain_pipeline on a production file without the schema's columns: both checks, which run
side by side, fail at once with an ERROR: line and change nothing, and the run still sends ONE alert (without the
line here: see the failure test). The
succeeding run is the same DAG with no production data (both checks skip, the run succeeds).

(model_rollback would be the cheaper failure, but under `airflow dags test` Airflow 3.3.2 cannot build the
DAG callback's context for a DAG with a required Param: it validates the Params without the run's conf and
the `dags test` process dies with ParamValidationError. The DAG processor builds it with the conf.)
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.airflow_harness import TOOL_IMAGE, Harness, Volumes

pytestmark = [pytest.mark.airflow, pytest.mark.docker]

DAG_ID = "ml_retrain_pipeline"
CHECKS = ("check_production_data", "detect_drift")
BAD_PRODUCTION = "Student_ID,Age\n1,20\n"


class Receiver:
    """A webhook on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0/B0/token"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def volumes(harness: Harness, seeded: Volumes) -> Volumes:
    """The seed with a production file that both checks refuse."""
    volumes = harness.copy_of(seeded, "alerts")
    harness.client.containers.run(
        TOOL_IMAGE,
        ["sh", "-c", f"printf '{BAD_PRODUCTION}' > /data/prod_data.csv"],
        volumes=volumes.binds("rw"),
        network_mode="none",
        remove=True,
    )
    return volumes


def connection(url: str) -> dict[str, str]:
    """The Connection as airflow-init writes it: the whole URL as its password (encrypted), the host name as host."""
    return {"AIRFLOW_CONN_MINDPULSE_WEBHOOK": json.dumps({"conn_type": "http", "host": "hooks", "password": url})}


def run(harness: Harness, dag_id: str, volumes: Volumes, host: str) -> tuple[str, str, str]:
    """One `airflow dags test` run with the webhook Connection `host`: its run id, its state and the output."""
    output = harness.airflow("dags", "test", dag_id, environment=volumes.environment() | connection(host), check=False)
    with sqlite3.connect(harness.airflow_home / "airflow.db") as db:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    return run_id, state, output


def test_a_failed_run_sends_one_alert_with_the_task_and_a_log_link(
    harness: Harness, volumes: Volumes, receiver: Receiver
) -> None:
    before = harness.snapshot(volumes)
    run_id, state, output = run(harness, DAG_ID, volumes, receiver.url)
    assert state == "failed", output[-6000:]
    assert harness.snapshot(volumes) == before  # the failed steps changed nothing

    assert len(receiver.received) == 1, receiver.received
    alert = receiver.received.pop()
    assert alert["path"] == "/hooks/T0/B0/token"
    fields = alert["body"]["summary"]
    # Both checks failed; the alert names the one that failed last. Its ERROR: line is read through the task
    # instance, which `dags test` cannot ask (no supervisor), so here the alert has none: the e2e test sees the
    # line in the alert the real DAG processor sends.
    task_id = fields["task_id"]
    assert task_id in CHECKS
    assert {key: fields[key] for key in ("event", "dag_id", "run_id", "error")} == {
        "event": "run_failed",
        "dag_id": DAG_ID,
        "run_id": run_id,
        "error": None,
    }
    assert fields["log_url"].endswith(f"/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/{task_id}?try_number=1")
    text = alert["body"]["text"].splitlines()
    assert text[0] == f"MindPulse run FAILED: {DAG_ID}"
    assert f"Failed task: {task_id}" in text and f"Log: {fields['log_url']}" in text


def test_a_successful_run_sends_no_alert(harness: Harness, seeded: Volumes, receiver: Receiver) -> None:
    receiver.received.clear()
    _, state, output = run(harness, DAG_ID, seeded, receiver.url)
    assert state == "success", output[-6000:]
    assert receiver.received == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed when the block ends: nothing listens there


@pytest.mark.parametrize(
    ("host", "logged"),
    [
        pytest.param(
            f"http://127.0.0.1:{_closed_port()}/hooks/secret-token",
            "ERROR: run_failed alert for ml_retrain_pipeline run {run_id} not delivered: ConnectionRefusedError",
            id="unreachable",
        ),
        pytest.param(
            "hooks.example.test/secret-token",
            "ERROR: Connection mindpulse_webhook is unusable, no webhook",
            id="malformed",
        ),
    ],
)
def test_an_unusable_webhook_is_one_logged_line_and_the_run_ends_as_it_would(
    harness: Harness, volumes: Volumes, receiver: Receiver, host: str, logged: str
) -> None:
    receiver.received.clear()
    run_id, state, output = run(harness, DAG_ID, volumes, host)
    assert state == "failed", output[-6000:]  # what the steps decided, not the alert
    lines = [line for line in output.splitlines() if logged.format(run_id=run_id) in line]
    assert len(lines) == 1, output[-4000:]
    assert "secret-token" not in output  # the URL (its token) is never logged
    assert receiver.received == []
