"""Both DAGs run for real: `airflow dags test` on the host, every task a container of the built step images.

Needs a Docker engine, the images of ./build_images.sh and the Airflow venv. Run from the repository root:
    .venv/bin/python -m pytest tests/integration/test_dags_with_airflow.py
Airflow comes from .venv-airflow/bin/airflow, or the one next to the interpreter named by
MINDPULSE_AIRFLOW_PYTHON. Airflow gets a throwaway AIRFLOW_HOME with SQLite; the DAGs get throwaway
named volumes (removed afterwards), seeded once by the bootstrap image and copied for every scenario.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

pytestmark = [pytest.mark.airflow, pytest.mark.docker]

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()
TOOL_IMAGE = f"mindpulse/family-base:{TAG}"
REFERENCE_ROWS = "20000"
RETRAIN_AFTER_CHECKS = (
    "backup_current_model",
    "merge_production_data",
    "train_new_model",
    "archive_production_data",
    "notify_retrain_success",
)

# Lists every file of the three volumes (mounted read-only) as path -> sha256, or "-> target" for a link.
SNAPSHOT_SCRIPT = """
import hashlib, json, os
files = {}
for root in ("/data", "/models", "/reports"):
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                files[path] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    files[path] = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps(files))
"""


@dataclass(frozen=True)
class Volumes:
    data: str
    models: str
    reports: str

    def environment(self) -> dict[str, str]:
        """What tells the DAGs (and this test's containers) to use these volumes."""
        return {
            "MINDPULSE_DATA_VOLUME": self.data,
            "MINDPULSE_MODELS_VOLUME": self.models,
            "MINDPULSE_REPORTS_VOLUME": self.reports,
        }

    def binds(self, mode: str) -> dict[str, dict[str, str]]:
        return {
            self.data: {"bind": "/data", "mode": mode},
            self.models: {"bind": "/models", "mode": mode},
            self.reports: {"bind": "/reports", "mode": mode},
        }


@dataclass(frozen=True)
class DagRun:
    state: str
    run_after: datetime
    tasks: dict[str, str]
    results: dict[str, dict[str, Any]]
    promoted_asset_events: int


class Harness:
    """Throwaway volumes and an Airflow home; everything it creates goes when the module is done."""

    def __init__(self, client: docker.DockerClient, airflow_home: Path) -> None:
        self.client = client
        self.airflow_home = airflow_home
        self.prefix = f"mindpulse-it-{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    # --- volumes --------------------------------------------------------------------------------
    def new_volumes(self, name: str) -> Volumes:
        volumes = Volumes(*(f"{self.prefix}-{name}-{kind}" for kind in ("data", "models", "reports")))
        for volume in (volumes.data, volumes.models, volumes.reports):
            self.client.volumes.create(volume)
            self.created.append(volume)
        return volumes

    def copy_of(self, source: Volumes, name: str) -> Volumes:
        """New volumes with the files of `source`. Mounted at the images' /data, /models and /reports, so a
        new volume starts out owned by the step user, as in production."""
        target = self.new_volumes(name)
        sources = {
            source.data: {"bind": "/from/data", "mode": "ro"},
            source.models: {"bind": "/from/models", "mode": "ro"},
            source.reports: {"bind": "/from/reports", "mode": "ro"},
        }
        self.client.containers.run(
            TOOL_IMAGE,
            [
                "sh",
                "-c",
                "cp -a /from/data/. /data/ && cp -a /from/models/. /models/ && cp -a /from/reports/. /reports/",
            ],
            volumes=target.binds("rw") | sources,
            user="root",
            network_mode="none",
            remove=True,
        )
        return target

    def run_step(self, image: str, volumes: Volumes, **environment: str) -> dict[str, Any]:
        """Run a step image like the DAGs do; its result line as a dict."""
        output = self.client.containers.run(
            f"mindpulse/{image}:{TAG}",
            environment=environment,
            volumes=volumes.binds("rw"),
            network_mode="none",
            remove=True,
        )
        return json.loads(output.decode().strip().splitlines()[-1])

    def snapshot(self, volumes: Volumes) -> dict[str, str]:
        output = self.client.containers.run(
            TOOL_IMAGE, ["python", "-c", SNAPSHOT_SCRIPT], volumes=volumes.binds("ro"), network_mode="none", remove=True
        )
        return json.loads(output)

    def read(self, volumes: Volumes, path: str) -> str:
        output = self.client.containers.run(
            TOOL_IMAGE, ["cat", path], volumes=volumes.binds("ro"), network_mode="none", remove=True
        )
        return output.decode()

    def remove_volumes(self) -> None:
        for volume in self.created:
            self.client.volumes.get(volume).remove(force=True)

    # --- Airflow --------------------------------------------------------------------------------
    def airflow(self, *arguments: str, environment: dict[str, str] | None = None) -> None:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AIRFLOW__", "AIRFLOW_VAR_", "MINDPULSE_"))
        }
        env |= {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestrator" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "MINDPULSE_IMAGE_TAG": TAG,
            # A failing step fails the test at once instead of after two retries five minutes apart.
            "MINDPULSE_TASK_RETRIES": "0",
        }
        completed = subprocess.run(
            [str(_airflow_executable()), *arguments],
            env=env | (environment or {}),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert completed.returncode == 0, f"airflow {' '.join(arguments)} failed:\n{completed.stdout[-6000:]}"

    def dag_test(self, dag_id: str, volumes: Volumes, conf: dict[str, Any] | None = None) -> DagRun:
        arguments = ["dags", "test", dag_id] + (["--conf", json.dumps(conf)] if conf else [])
        self.airflow(*arguments, environment=volumes.environment())
        return self.last_run(dag_id)

    def last_run(self, dag_id: str) -> DagRun:
        with sqlite3.connect(self.airflow_home / "airflow.db") as db:
            run_id, state, run_after = db.execute(
                "SELECT run_id, state, run_after FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            where = {"dag_id": dag_id, "run_id": run_id}
            tasks = dict(
                db.execute(
                    "SELECT task_id, state FROM task_instance WHERE dag_id = :dag_id AND run_id = :run_id", where
                )
            )
            # An XCom is stored as JSON; the DockerOperator's is the step's last line, itself JSON.
            results = {
                task_id: json.loads(json.loads(value))
                for task_id, value in db.execute(
                    "SELECT task_id, value FROM xcom WHERE dag_id = :dag_id AND run_id = :run_id"
                    " AND key = 'return_value'",
                    where,
                )
            }
            (events,) = db.execute(
                "SELECT COUNT(*) FROM asset_event JOIN asset ON asset.id = asset_event.asset_id"
                " WHERE asset.name = 'mindpulse_current_model' AND source_dag_id = :dag_id AND source_run_id = :run_id",
                where,
            ).fetchone()
        return DagRun(state, datetime.fromisoformat(run_after), tasks, results, events)


def _airflow_executable() -> Path:
    configured = os.environ.get("MINDPULSE_AIRFLOW_PYTHON")
    airflow = Path(configured).with_name("airflow") if configured else REPO / ".venv-airflow" / "bin" / "airflow"
    if not airflow.is_file():
        pytest.fail(f"no Airflow at {airflow}: create .venv-airflow or set MINDPULSE_AIRFLOW_PYTHON")
    return airflow


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        pytest.fail(f"no Docker engine answers: {error}")
    listed = subprocess.run([str(REPO / "build_images.sh"), "--list", "--tag", TAG], capture_output=True, text=True)
    missing = []
    for image in listed.stdout.split():
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    if listed.returncode != 0 or missing:
        pytest.fail(f"images missing, run ./build_images.sh first: {', '.join(missing) or listed.stderr}")
    harness = Harness(client, tmp_path_factory.mktemp("airflow-home"))
    harness.airflow("db", "migrate")
    try:
        yield harness
    finally:
        harness.remove_volumes()
        client.close()


@pytest.fixture(scope="module")
def seeded(harness: Harness) -> Volumes:
    """Reference data and a first model (v0001), no production data: the start of every scenario."""
    volumes = harness.new_volumes("seed")
    harness.run_step("bootstrap", volumes, REFERENCE_ROWS=REFERENCE_ROWS, SEED="42")
    return volumes


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
    harness.run_step("simulate-traffic", volumes, ROWS="1500", SEED="1")
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


def test_few_rows_without_drift_skip_the_retrain_and_touch_nothing(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "quiet")
    harness.run_step("simulate-traffic", volumes, ROWS="200", SEED="2")
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
    harness.run_step("simulate-traffic", volumes, ROWS="300", SEED="3", COVARIATE_SHIFT="2.0")
    before = harness.snapshot(volumes)

    started = time.monotonic()
    run = harness.dag_test("ml_retrain_pipeline", volumes)
    print(f"retrain on 300 drifted rows: {time.monotonic() - started:.0f} s")

    assert run.state == "success"
    assert run.tasks == {
        "check_production_data": "skipped",
        "detect_drift": "success",
        **dict.fromkeys(RETRAIN_AFTER_CHECKS, "success"),
    }
    assert run.results["detect_drift"]["share"] > 0.3
    _assert_retrained(harness, volumes, before, run)


def test_reporting_with_production_data_writes_three_reports_and_the_index(harness: Harness, seeded: Volumes) -> None:
    volumes = harness.copy_of(seeded, "reports")
    harness.run_step("simulate-traffic", volumes, ROWS="1500", SEED="4")

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
    assert {f"report_summary_{stamp}.json", "index.html"} <= reports


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
    reports = {Path(path).name for path in _under(harness.snapshot(volumes), "/reports/")}
    assert reports == {
        f"data_quality_report_{stamp}.html",
        f"data_quality_report_{stamp}.json",
        f"report_summary_{stamp}.json",
        "history.jsonl",
        "index.html",
    }


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
    assert found == {"dags": ["evidently_reporting_pipeline", "ml_retrain_pipeline"], "errors": [], "ml": []}
