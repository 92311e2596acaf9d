"""Both DAGs run for real: `airflow dags test` on the host, every task a container of the built step images.

Needs a Docker engine, the images of ./build_images.sh and the Airflow venv. Run from the repository root:
    .venv/bin/python -m pytest tests/integration/test_dags_with_airflow.py
Airflow comes from .venv-airflow/bin/airflow, or the one next to the interpreter named by
MINDPULSE_AIRFLOW_PYTHON. Airflow gets a throwaway AIRFLOW_HOME with SQLite; the DAGs get throwaway
named volumes (removed afterwards), seeded once by the bootstrap image and copied for every scenario
(airflow_harness.py, conftest.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from mindpulse import catalog
from tests.integration.airflow_harness import RETRAIN_STEPS, TAG, DagRun, Harness, Volumes

pytestmark = [pytest.mark.airflow, pytest.mark.docker]

RETRAIN_AFTER_CHECKS = RETRAIN_STEPS[2:]


def _current_version(snapshot: dict[str, str]) -> str:
    return snapshot["/models/current"].removeprefix("-> versions/")


def _under(snapshot: dict[str, str], folder: str) -> dict[str, str]:
    return {path: digest for path, digest in snapshot.items() if path.startswith(folder)}


def _assert_retrained(harness: Harness, volumes: Volumes, before: dict[str, str], run: DagRun) -> None:
    """The retrain path ran to the end: new model live, old one backed up, production data archived."""
    after = harness.snapshot(volumes)
    old_version, new_version = _current_version(before), _current_version(after)
    assert new_version != old_version
    assert new_version == run.results["train_new_model"]["version"]
    assert f"/models/versions/{new_version}/model.joblib" in after
    assert _under(after, f"/models/versions/{old_version}/") == _under(before, f"/models/versions/{old_version}/")
    assert run.promoted_asset_events == 1

    backups = {
        path: digest for path, digest in _under(after, "/models/backups/").items() if path.endswith("model.joblib")
    }
    assert list(backups.values()) == [before[f"/models/versions/{old_version}/model.joblib"]]

    archives = _under(after, "/data/archive/")
    assert list(archives.values()) == [before["/data/prod_data.csv"]], "the archive holds exactly the consumed rows"
    header = harness.read(volumes, "/data/archive/" + Path(next(iter(archives))).name).splitlines()[0]
    assert harness.read(volumes, "/data/prod_data.csv").splitlines() == [header]

    summaries = [path for path in _under(after, "/reports/") if Path(path).name.startswith("retrain_summary_")]
    assert len(summaries) == 1
    summary = json.loads(harness.read(volumes, summaries[0]))
    assert summary["winner"]["version"] == new_version


def test_enough_labelled_rows_retrain_and_promote_a_new_model(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "volume")
    # Outcomes that follow a new relation: the new model is clearly better and the gate promotes it.
    harness.run_step("simulate_traffic", volumes, ROWS="1500", SEED="1", CONCEPT_SHIFT="1.0")
    before = harness.snapshot(volumes)

    started = time.monotonic()
    run = harness.dag_test("ml_retrain_pipeline", volumes)
    print(f"retrain on 1500 labelled rows: {time.monotonic() - started:.0f} s")

    assert run.state == "success"
    assert run.tasks == {
        "check_production_data": "success",
        "detect_drift": "skipped",
        **dict.fromkeys(RETRAIN_AFTER_CHECKS, "success"),
    }
    _assert_retrained(harness, volumes, before, run)
    assert run.results["train_new_model"]["gate"]["evaluation_rows"] == 300
    new_version = run.results["train_new_model"]["version"]
    metadata = json.loads(harness.read(volumes, f"/models/versions/{new_version}/metadata.json"))
    assert metadata["image"] == f"mindpulse/train-new-model:{TAG}", "the model names the image that trained it"

    # One command back: the rollback DAG makes the previous version live and tells the reports.
    rollback = harness.dag_test("model_rollback", volumes, conf={"reason": "integration test"})
    assert rollback.state == "success" and rollback.promoted_asset_events == 1
    assert _current_version(harness.snapshot(volumes)) == _current_version(before)
    audit = [json.loads(line) for line in harness.read(volumes, "/models/audit.jsonl").splitlines()]
    assert (audit[-1]["event"], audit[-1]["previous"], audit[-1]["reason"]) == (
        "rolled_back",
        new_version,
        "integration test",
    )


def test_a_challenger_the_gate_cannot_judge_is_registered_as_rejected(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "rejected")
    harness.run_step("simulate_traffic", volumes, ROWS="100", SEED="5")
    before = harness.snapshot(volumes)

    run = harness.dag_test("ml_retrain_pipeline", volumes, conf={"force": True})

    assert run.state == "success"
    assert run.tasks == {"check_production_data": "success", "detect_drift": "success"} | dict.fromkeys(
        RETRAIN_AFTER_CHECKS, "success"
    )
    trained = run.results["train_new_model"]
    assert trained["promoted"] is False and "only 20 evaluation rows" in trained["reason"]
    after = harness.snapshot(volumes)
    assert after["/models/current"] == before["/models/current"], "the live model stays"
    assert run.promoted_asset_events == 0, "the reports are not rerun for a model that did not go live"
    rejected = json.loads(harness.read(volumes, f"/models/versions/{trained['version']}/metadata.json"))
    assert rejected["status"] == "rejected"
    assert list(_under(after, "/data/archive/").values()) == [before["/data/prod_data.csv"]], "rows are used once"
    summaries = [path for path in _under(after, "/reports/") if Path(path).name.startswith("retrain_summary_")]
    summary = json.loads(harness.read(volumes, summaries[0]))
    assert summary["promoted"] is False and summary["live_version"] == _current_version(before)


def test_few_rows_without_drift_skip_the_retrain_and_touch_nothing(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "quiet")
    harness.run_step("simulate_traffic", volumes, ROWS="200", SEED="2")
    before = harness.snapshot(volumes)

    started = time.monotonic()
    run = harness.dag_test("ml_retrain_pipeline", volumes)
    print(f"retrain skipped on 200 rows: {time.monotonic() - started:.0f} s")

    assert run.state == "success"
    assert run.tasks == {
        "check_production_data": "skipped",
        "detect_drift": "skipped",
        **dict.fromkeys(RETRAIN_AFTER_CHECKS, "skipped"),
    }
    assert harness.snapshot(volumes) == before, "model, production data and reports are byte-identical"
    assert run.promoted_asset_events == 0


def test_strong_drift_retrains_with_few_rows(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "drift")
    harness.run_step("simulate_traffic", volumes, ROWS="300", SEED="3", COVARIATE_SHIFT="2.0")
    before = harness.snapshot(volumes)

    started = time.monotonic()
    # 60 evaluation rows cannot show that a model trained mostly on the old rows is better: a person
    # who wants the retrain to go live anyway forces the promotion.
    run = harness.dag_test("ml_retrain_pipeline", volumes, conf={"force_promote": True})
    print(f"retrain on 300 drifted rows: {time.monotonic() - started:.0f} s")

    assert run.state == "success"
    assert run.tasks == {
        "check_production_data": "skipped",
        "detect_drift": "success",
        **dict.fromkeys(RETRAIN_AFTER_CHECKS, "success"),
    }
    assert run.results["detect_drift"]["drift_share"] > 0.3
    _assert_retrained(harness, volumes, before, run)


def test_reporting_with_production_data_writes_three_reports_and_the_index(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "reports")
    harness.run_step("simulate_traffic", volumes, ROWS="1500", SEED="4")

    started = time.monotonic()
    run = harness.dag_test("evidently_reporting_pipeline", volumes)
    print(f"reporting with production data: {time.monotonic() - started:.0f} s")

    assert run.state == "success"
    assert set(run.tasks.values()) == {"success"}, run.tasks
    stamp = run.run_after.strftime("%Y%m%d_%H%M%S")
    reports = {Path(path).name for path in _under(harness.snapshot(volumes), "/reports/")}
    for kind in ("data_quality", "data_drift", "model_performance"):
        assert f"{kind}_report_{stamp}.html" in reports
        assert f"{kind}_report_{stamp}.json" in reports
    assert {f"report_summary_{stamp}.json", "index.html", "history.html"} <= reports


def test_reporting_without_production_data_skips_drift_and_performance(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "no-production")

    started = time.monotonic()
    run = harness.dag_test("evidently_reporting_pipeline", volumes)
    print(f"reporting without production data: {time.monotonic() - started:.0f} s")

    assert run.state == "success"
    assert run.tasks == {
        "check_data_availability": "success",
        "generate_data_quality_report": "success",
        "generate_data_drift_report": "skipped",
        "generate_model_performance_report": "skipped",
        "cleanup_old_reports": "success",
        "send_report_summary": "success",
    }
    stamp = run.run_after.strftime("%Y%m%d_%H%M%S")
    written = _under(harness.snapshot(volumes), "/reports/")
    assert {Path(path).name for path in written if Path(path).parent == Path("/reports")} == {
        f"data_quality_report_{stamp}.html",
        f"data_quality_report_{stamp}.json",
        f"report_summary_{stamp}.json",
        "history.jsonl",
        "index.html",
        "history.html",
    }
    # The one report written also went to the Evidently workspace, as one snapshot.
    snapshots = [path for path in written if Path(path).parent.name == "snapshots"]
    assert len(snapshots) == 1 and snapshots[0].startswith("/reports/evidently_workspace/"), sorted(written)


def test_maintenance_removes_airflow_history_and_logs_past_their_days_and_nothing_newer(
    harness: Harness, seeded: Volumes
) -> None:
    volumes = harness.copy_of(seeded, "maintenance")
    first = harness.dag_test("mindpulse_maintenance", volumes)
    assert first.state == "success"
    # Age the first run's records 40 days, past the default 30, as a month and more of unattended running would.
    with sqlite3.connect(harness.airflow_home / "airflow.db") as db:
        (run_id,) = db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'mindpulse_maintenance'").fetchone()
        for table, column in (("dag_run", "start_date"), ("task_instance", "start_date"), ("xcom", "timestamp")):
            aged = db.execute(
                f"UPDATE {table} SET {column} = datetime({column}, '-40 days') WHERE dag_id = ? AND run_id = ?",
                ("mindpulse_maintenance", run_id),
            ).rowcount
            assert aged > 0, table  # the fault landed: old rows exist
    logs = harness.airflow_home / "logs" / "dag_id=old_dag" / "run_id=old" / "task_id=t"
    logs.mkdir(parents=True, exist_ok=True)
    old_log, new_log = logs / "attempt=1.log", logs.with_name("task_id=u") / "attempt=1.log"
    new_log.parent.mkdir(exist_ok=True)
    for log in (old_log, new_log):
        log.write_text("a task's log\n")
    forty_days_ago = time.time() - 40 * 86400
    os.utime(old_log, (forty_days_ago, forty_days_ago))

    second = harness.dag_test("mindpulse_maintenance", volumes)

    assert second.state == "success", second.output[-3000:]
    assert second.tasks == {name: "success" for name in ("apply_retention", "clean_airflow_database", "trim_task_logs")}
    deleted = second.results["clean_airflow_database"]["deleted_rows"]
    assert deleted["dag_run"] == 1 and deleted["task_instance"] == 3, deleted
    with sqlite3.connect(harness.airflow_home / "airflow.db") as db:
        runs = [row[0] for row in db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'mindpulse_maintenance'")]
    assert run_id not in runs and len(runs) == 1, "the aged run went, the new one stayed"
    trimmed = second.results["trim_task_logs"]
    assert trimmed["removed_files"] >= 1 and not old_log.exists() and not old_log.parent.exists()
    assert new_log.exists(), "a log younger than the setting stays"
    assert second.results["apply_retention"]["dry_run"] is False


def test_airflow_image_loads_the_dags_and_has_no_ml_library(harness: Harness) -> None:
    script = (
        "import importlib.util, json, pathlib\n"
        "from airflow.dag_processing.dagbag import BundleDagBag\n"
        "dags = pathlib.Path('/opt/airflow/dags')\n"
        "bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name='dags-folder')\n"
        "ml = [m for m in ('pandas', 'numpy', 'sklearn', 'xgboost', 'evidently') if importlib.util.find_spec(m)]\n"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': list(bag.import_errors), 'ml': ml}))\n"
    )
    output = harness.client.containers.run(
        f"mindpulse/airflow:{TAG}", ["python", "-c", script], network_mode="none", remove=True, stderr=False
    )
    found = json.loads(output.decode().strip().splitlines()[-1])
    dag_ids = ["evidently_reporting_pipeline", "mindpulse_maintenance", "ml_retrain_pipeline", "model_rollback"]
    assert found == {"dags": dag_ids, "errors": [], "ml": []}


WEBHOOK = "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    ("dag_id", "task_id", "environment", "network", "read_only", "outcome"),
    [
        # Reads /data only; with no production data it skips (exit 99).
        ("ml_retrain_pipeline", "check_production_data", {}, "none", {"/data"}, "DockerContainerFailedSkipException"),
        # Writes /reports, and with a webhook Connection it is one of the two steps that get a network.
        (
            "evidently_reporting_pipeline",
            "send_report_summary",
            {"AIRFLOW_CONN_MINDPULSE_WEBHOOK": json.dumps({"conn_type": "http", "host": "hooks", "password": WEBHOOK})},
            "bridge",
            {"/data", "/models"},
            "success",
        ),
    ],
)
def test_task_containers_reach_the_engine_locked_down(
    harness: Harness,
    dag_id: str,
    task_id: str,
    environment: dict[str, str],
    network: str,
    read_only: set[str],
    outcome: str,
) -> None:
    """What the engine was asked for when the DAG's own operator ran: the provider's code path, not our
    reading of it, so a provider upgrade that stops passing the lockdown on fails here."""
    volumes = harness.new_volumes(f"lockdown-{task_id.replace('_', '-')}")
    container = f"{harness.prefix}-{task_id.replace('_', '-')}"
    try:
        assert harness.execute_task(dag_id, task_id, container, volumes.environment() | environment) == outcome
        inspected = harness.client.api.inspect_container(container)
    finally:
        harness.client.api.remove_container(container, force=True)

    host = inspected["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["Tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,size=256m"}
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert host["Privileged"] is False
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] > 0
    assert host["Memory"] > 0
    assert host["NetworkMode"] == network
    assert {mount["Type"] for mount in host["Mounts"]} == {"volume"}
    assert {mount["Target"] for mount in host["Mounts"] if mount.get("ReadOnly")} == read_only
    container_environment = dict(line.split("=", 1) for line in inspected["Config"]["Env"])
    assert container_environment["MINDPULSE_IMAGE"] == f"{catalog.step(task_id).image_name}:{TAG}"
    # The webhook comes from the Connection, read when the task runs, and only to the step that posts.
    assert container_environment.get("WEBHOOK_URL") == (WEBHOOK if network == "bridge" else None)
    # The image's own user (MINDPULSE_TASK_USER is unset), which is not root.
    assert inspected["Config"]["User"] == "mindpulse"
