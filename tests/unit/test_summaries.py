"""Run summaries: the webhook against real local sockets, the summary file, the chat text, and the two summary
steps built from the earlier steps' typed results."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mindpulse import messages, results, summaries, webhook
from mindpulse.paths import Layout
from mindpulse.protocol import StepError
from mindpulse.reporting import history
from mindpulse.reporting import summary as reporting_summary
from mindpulse.retrain import notify

SECRET_PATH = "/services/T000/B000/secret-token"


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint on 127.0.0.1 that records every request and answers with `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.status = status
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PATH}"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"path": self.path, "type": self.headers["Content-Type"], "body": body})
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", 200))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_summary_is_posted_as_slack_compatible_json(receiver: Receiver) -> None:
    payload = {"drift_share": 0.42, "reports": {"data_drift": "data_drift_report_20260101_000000.html"}}

    result = webhook.post_webhook(receiver.url, "drift 42%", payload)

    assert result == {"webhook": "sent", "http_status": 200}
    [request] = receiver.requests
    assert request["path"] == SECRET_PATH
    assert request["type"].startswith("application/json")
    assert json.loads(request["body"]) == {"text": "drift 42%", "summary": payload}


def test_values_json_cannot_encode_are_sent_as_text(receiver: Receiver) -> None:
    result = webhook.post_webhook(receiver.url, "t", {"raw": b"bytes"})

    assert result["webhook"] == "sent"
    assert json.loads(receiver.requests[0]["body"])["summary"] == {"raw": "b'bytes'"}


@pytest.mark.parametrize("receiver", [500], indirect=True)
def test_an_error_status_is_reported_not_raised(receiver: Receiver) -> None:
    result = webhook.post_webhook(receiver.url, "t", {})

    assert result["webhook"] == "failed"
    assert result["error"].startswith("HTTP 500")


def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    # The kernel completes the handshake for a listening socket, so the request is sent and never answered.
    # The post runs in a thread so that a broken timeout fails this test instead of hanging the suite.
    outcome: list[dict[str, Any]] = []
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        poster = threading.Thread(
            target=lambda: outcome.append(webhook.post_webhook(url, "t", {}, timeout=0.5)), daemon=True
        )
        poster.start()
        poster.join(timeout=5)

    assert not poster.is_alive(), "post_webhook ignored its timeout"
    assert outcome == [{"webhook": "failed", "error": "no answer within 0.5 s"}]


def test_a_refused_connection_fails_without_revealing_the_url() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free now, and nobody listens once it is closed

    result = webhook.post_webhook(f"http://127.0.0.1:{port}{SECRET_PATH}", "t", {}, timeout=2)

    assert result["webhook"] == "failed"
    assert "refused" in result["error"].lower()
    assert "secret-token" not in result["error"]


@pytest.mark.parametrize("url", [None, ""])
def test_no_url_means_not_configured(url: str | None) -> None:
    assert webhook.post_webhook(url, "t", {}) == {"webhook": "not configured"}


@pytest.mark.parametrize("url", ["file:///etc/hostname", "ftp://127.0.0.1/secret-token", "127.0.0.1:9/hook"])
def test_only_http_urls_are_posted_to(url: str) -> None:
    result = webhook.post_webhook(url, "t", {})

    assert result["webhook"] == "failed"
    assert "secret-token" not in result["error"]


# --- publish -------------------------------------------------------------------------------------

ENTRY = results.HistoryEntry(
    stamp="20260101_120000",
    created_at="2026-01-01T12:00:00+00:00",
    drift_share=None,
    drift_detected=None,
    accuracy=0.81,
    model_version="v0001",
    reports={},
)


def test_publish_writes_the_summary_prints_the_text_and_posts(
    layout: Layout, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    result = summaries.publish(layout, "report_summary", "20260101_120000", ENTRY, "line one\nline two", receiver.url)

    written = layout.reports_dir / "report_summary_20260101_120000.json"
    assert result == results.Delivery(summary_file=str(written), webhook="sent", http_status=200)
    assert json.loads(written.read_text()) == ENTRY.as_dict()
    assert json.loads(receiver.requests[0]["body"])["summary"] == ENTRY.as_dict()
    assert "line one\nline two" in capsys.readouterr().out
    assert json.loads(receiver.requests[0]["body"])["text"] == "line one\nline two"


def test_publish_without_webhook_still_writes_the_summary(layout: Layout) -> None:
    summary = results.RetrainSummary.read({"reasons": []})
    result = summaries.publish(layout, "retrain_summary", "20260101_120000", summary, "text", None)

    assert result.webhook == "not configured" and result.http_status is None and result.error is None
    assert (layout.reports_dir / "retrain_summary_20260101_120000.json").exists()


def test_a_failed_webhook_does_not_fail_publishing(layout: Layout, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    result = summaries.publish(layout, "report_summary", "20260101_120000", ENTRY, "t", f"http://127.0.0.1:{port}/")

    assert result.webhook == "failed" and "refused" in result.error.lower()
    assert (layout.reports_dir / "report_summary_20260101_120000.json").exists()
    assert "WARNING: webhook not delivered" in capsys.readouterr().out


def test_an_unwritable_reports_volume_is_one_line_error_and_nothing_is_posted(
    layout: Layout, receiver: Receiver
) -> None:
    layout.reports_dir.rmdir()
    layout.reports_dir.write_text("not a directory")

    with pytest.raises(StepError, match=r"^cannot write .*report_summary_20260101_120000\.json: "):
        summaries.publish(layout, "report_summary", "20260101_120000", ENTRY, "t", receiver.url)
    assert receiver.requests == []


# --- retrain_summary_text ------------------------------------------------------------------------


def text_of(summary: dict[str, Any]) -> str:
    """The chat text of a retrain summary as its JSON file holds it (missing fields read as None)."""
    return messages.retrain_summary_text(results.RetrainSummary.read(summary))


FULL_SUMMARY = {
    "reasons": ["drift share 0.42 > 0.3", "1250 labelled rows >= threshold 1000"],
    "production_rows": 1500,
    "labelled_rows": 1250,
    "archived_rows": 1500,
    "drift_share": 0.42,
    "winner": {"algorithm": "xgboost", "version": "v0004"},
    "promoted": True,
    "live_version": "v0004",
    "decision": "accuracy 0.8450 vs live v0003 0.8120 on 250 held-out rows: within tolerance 0.01",
    "gate": {
        "champion_version": "v0003",
        "evaluation_rows": 250,
        "challenger": {"accuracy": 0.845, "f1": 0.8},
        "champion": {"accuracy": 0.812, "f1": 0.9},
    },
    "selection_metric": "accuracy",
}


def test_the_retrain_text_tells_decision_data_and_result() -> None:
    text = text_of(FULL_SUMMARY)

    assert text.splitlines()[0] == "MindPulse retrain finished: model v0004 (xgboost) promoted: now live"
    assert "because drift share 0.42 > 0.3; 1250 labelled rows >= threshold 1000" in text
    assert "1,500 production, 1,250 labelled, 1,500 archived" in text
    assert "Drift share: 42.0%" in text
    assert "accuracy on 250 held-out rows: 0.8120 (v0003) -> 0.8450 (v0004), +0.0330" in text
    assert text.splitlines()[-1] == f"Gate: {FULL_SUMMARY['decision']}"


def test_the_retrain_text_compares_on_the_selection_metric() -> None:
    text = text_of({**FULL_SUMMARY, "selection_metric": "f1"})

    assert "f1 on 250 held-out rows: 0.9000 (v0003) -> 0.8000 (v0004), -0.1000" in text


def test_quarantined_rows_are_counted_and_located_only_when_there_are_some() -> None:
    quarantine = "/data/quarantine/prod_data_quarantined_20261126_120000.csv"
    text = text_of({**FULL_SUMMARY, "quarantined_rows": 12, "quarantine_file": quarantine})

    assert f"Quarantined: 12 bad production rows set aside, not trained on; lines and reasons in {quarantine}" in text
    assert "Quarantined" not in text_of({**FULL_SUMMARY, "quarantined_rows": 0})


def test_a_rejected_model_says_which_one_stays_live() -> None:
    text = text_of({**FULL_SUMMARY, "promoted": False, "live_version": "v0003"})

    assert text.splitlines()[0] == "MindPulse retrain finished: model v0004 (xgboost) rejected: v0003 stays live"


def test_a_first_model_has_no_comparison() -> None:
    first = {**FULL_SUMMARY, "gate": {}, "drift_share": None, "decision": "no live model yet"}
    text = text_of(first)

    assert "held-out rows" not in text
    assert text.splitlines()[-1] == "Gate: no live model yet"
    assert "Drift share: not measured" in text


def test_an_empty_summary_still_gives_a_readable_text() -> None:
    text = text_of({})

    assert (
        text.splitlines()[0]
        == "MindPulse retrain finished: model unknown version (unknown algorithm) rejected: ? stays live"
    )
    assert "no reason recorded" in text
    assert "Rows: ? production, ? labelled, ? archived" in text


# --- the summary steps ----------------------------------------------------------------------------

STAMP = "20261126_120000"


def xcom(step_name: str, result: results.Result) -> dict[str, Any]:
    """A step's result as the DAG hands it on: the protocol's last line, parsed."""
    return json.loads(json.dumps({"step": step_name, "status": "success", **result.as_dict()}))


def retrain_results(*, drift_skipped: bool) -> dict[str, Any]:
    gate = FULL_SUMMARY["gate"]
    return {
        "check_production_data": xcom(
            "check_production_data",
            results.LabelCheck(
                production_rows=1500,
                labelled_rows=1250,
                quarantined_rows=3,
                retrain=True,
                reason="1250 labelled rows >= threshold 1000",
                force=False,
                retrain_threshold=1000,
            ),
        ),
        "detect_drift": None
        if drift_skipped
        else xcom(
            "detect_drift",
            results.DriftCheck(
                production_rows=1500,
                labelled_rows=1250,
                quarantined_rows=3,
                retrain=True,
                reason="drift share 0.44 > 0.3",
                force=False,
                min_drift_rows=100,
                drift_threshold=0.3,
                drift_share=4 / 9,
                drift_detected=True,
                drifted_columns=["Sleep_Duration"],
            ),
        ),
        "backup_current_model": xcom("backup_current_model", results.Backup(backed_up=False, reason="no model")),
        "merge_production_data": xcom(
            "merge_production_data",
            results.Merge(
                production_rows=1500,
                labelled_rows=1250,
                quarantined_rows=3,
                training_rows=4000,
                evaluation_rows=250,
                reference_rows=3000,
                duplicates_dropped=0,
                left_out_by_cap=0,
                quarantine_file=f"/data/quarantine/prod_data_quarantined_{STAMP}.csv",
                training_data="/data/training_data.csv",
                evaluation_data="/data/evaluation_data.csv",
            ),
        ),
        "train_new_model": xcom(
            "train_new_model",
            results.Training(
                promoted=True,
                version="v0004",
                status="promoted",
                reason=FULL_SUMMARY["decision"],
                live_version="v0004",
                algorithm="xgboost",
                window="all",
                selection_metric="accuracy",
                metrics={"accuracy": 0.85},
                gate=gate,
                candidates={"xgboost@all": {"accuracy": 0.85}},
                training_rows=4000,
            ),
        ),
        "archive_production_data": xcom(
            "archive_production_data",
            results.Archive(
                archived_rows=1503, archived_labelled_rows=1250, archive_file="a", rows_left_in_production=0
            ),
        ),
    }


def test_the_retrain_summary_reads_each_earlier_step_by_its_declared_result(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery = notify.notify_retrain_success(layout, STAMP, retrain_results(drift_skipped=False), None)

    written = layout.summary_file("retrain_summary", STAMP)
    assert delivery == results.Delivery(summary_file=str(written), webhook="not configured")
    summary = results.RetrainSummary.read(json.loads(written.read_text()))
    assert summary == results.RetrainSummary(
        stamp=STAMP,
        reasons=["1250 labelled rows >= threshold 1000", "drift share 0.44 > 0.3"],
        production_rows=1500,
        labelled_rows=1250,
        evaluation_rows=250,
        drift_share=4 / 9,
        drifted_columns=["Sleep_Duration"],
        winner={
            "algorithm": "xgboost",
            "window": "all",
            "version": "v0004",
            "metrics": {"accuracy": 0.85},
            "candidates": {"xgboost@all": {"accuracy": 0.85}},
        },
        promoted=True,
        decision=FULL_SUMMARY["decision"],
        gate=FULL_SUMMARY["gate"],
        live_version=None,  # no model on this models volume
        selection_metric="accuracy",
        training_rows=4000,
        archived_rows=1503,
        quarantined_rows=3,
        quarantine_file=f"/data/quarantine/prod_data_quarantined_{STAMP}.csv",
    )
    out = capsys.readouterr().out
    assert messages.retrain_summary_text(summary) in out
    assert "1,500 production, 1,250 labelled, 1,503 archived" in out
    assert "Drift share: 44.4%" in out


def test_a_skipped_step_is_left_out_of_the_retrain_summary(layout: Layout) -> None:
    notify.notify_retrain_success(layout, STAMP, retrain_results(drift_skipped=True), None)

    summary = json.loads(layout.summary_file("retrain_summary", STAMP).read_text())
    assert summary["reasons"] == ["1250 labelled rows >= threshold 1000"]
    assert summary["drift_share"] is None and summary["drifted_columns"] is None
    assert summary["production_rows"] == 1500 and summary["archived_rows"] == 1503


def test_a_retrain_summary_of_no_results_is_still_written(layout: Layout) -> None:
    notify.notify_retrain_success(layout, STAMP, None, None)

    summary = json.loads(layout.summary_file("retrain_summary", STAMP).read_text())
    assert summary["reasons"] == [] and summary["winner"] == {} and summary["promoted"] is None


def test_the_report_summary_records_the_run_redraws_the_page_and_sends_the_figures(
    layout: Layout, receiver: Receiver
) -> None:
    drift_twin = results.DataDriftReport(
        kind="data_drift",
        stamp=STAMP,
        created_at="2026-11-26T12:00:00+00:00",
        html=layout.report_file("data_drift", STAMP, "html").name,
        model_version="v0001",
        drift_share=4 / 9,
        drift_detected=True,
        drift_threshold=0.3,
        drifted_columns=["Sleep_Duration"],
        columns={},
        reference_rows=3000,
        production_rows=600,
    )
    layout.report_file("data_drift", STAMP, "html").write_text("<html></html>")
    layout.report_file("data_drift", STAMP, "json").write_text(json.dumps(drift_twin.as_dict()))

    summary = reporting_summary.send_report_summary(layout, STAMP, drift_threshold=0.3, webhook_url=receiver.url)

    assert isinstance(summary, results.ReportSummary)
    assert (summary.stamp, summary.drift_share, summary.drift_detected) == (STAMP, 4 / 9, True)
    assert summary.accuracy is None, "the performance report was skipped"
    assert summary.reports == {"data_drift": drift_twin.html}
    assert summary.index == str(layout.index_page) and layout.index_page.is_file()
    assert summary.delivery.webhook == "sent" and summary.delivery.http_status == 200
    [recorded] = history.read(layout)
    entry = results.HistoryEntry.read(recorded)
    assert entry == results.HistoryEntry.read(summary.as_dict())
    written = json.loads(layout.summary_file("report_summary", STAMP).read_text())
    assert written == recorded
    text = json.loads(receiver.requests[0]["body"])["text"]
    assert "Drift: 44% of feature columns drifted (threshold 30%): DRIFT" in text
    assert "Production accuracy: not measured (no labelled rows)" in text
