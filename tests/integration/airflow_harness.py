"""The harness of the Airflow integration tests: `airflow dags test` on the host, every task a container of
the built step images, on throwaway named volumes and a throwaway AIRFLOW_HOME with SQLite.

Airflow comes from .venv-airflow/bin/airflow, or the one next to the interpreter named by
MINDPULSE_AIRFLOW_PYTHON. The fixtures that build a Harness are in conftest.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from mindpulse import catalog
from mindpulse.paths import VOLUME_DIRS

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()
TOOL_IMAGE = f"mindpulse/family-base:{TAG}"
# The tasks of ml_retrain_pipeline in the order they run.
RETRAIN_STEPS = tuple(step.name for step in catalog.steps_of(catalog.RETRAIN))
EXECUTE_TASK = Path(__file__).with_name("execute_task.py")

# Lists every file of the three volumes (mounted read-only) as path -> sha256, or "-> target" for a link.
SNAPSHOT_SCRIPT = """
import hashlib, json, os
files = {}
for root in ("/data", "/models", "/reports", "/trust", "/signing"):
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
    """One named volume per volume of the steps (mindpulse.paths.VOLUME_DIRS), in that order."""

    data: str
    models: str
    reports: str
    trust: str
    signing: str

    @property
    def names(self) -> dict[str, str]:
        return {volume: getattr(self, volume) for volume in VOLUME_DIRS}

    def environment(self) -> dict[str, str]:
        """What tells the DAGs (and this test's containers) to use these volumes."""
        return {f"MINDPULSE_{volume.upper()}_VOLUME": name for volume, name in self.names.items()}

    def binds(self, mode: str) -> dict[str, dict[str, str]]:
        return {name: {"bind": VOLUME_DIRS[volume], "mode": mode} for volume, name in self.names.items()}

    def copy_script(self) -> str:
        """Copies every volume's files from /from/<volume> (see `sources`) to its mount point."""
        return " && ".join(f"cp -a /from/{volume}/. {VOLUME_DIRS[volume]}/" for volume in VOLUME_DIRS)

    def sources(self) -> dict[str, dict[str, str]]:
        """These volumes, read-only at /from/<volume>: what `copy_script` copies from."""
        return {name: {"bind": f"/from/{volume}", "mode": "ro"} for volume, name in self.names.items()}


@dataclass(frozen=True)
class DagRun:
    state: str
    run_after: datetime
    tasks: dict[str, str]
    results: dict[str, dict[str, Any]]
    promoted_asset_events: int
    # task id -> (start, end) in UTC, None where the task never started or ended
    times: dict[str, tuple[datetime | None, datetime | None]]
    # what `airflow dags test` printed, the task logs among it (set by Harness.dag_test)
    output: str = ""


class Harness:
    """Throwaway volumes and an Airflow home; everything it creates goes when the module is done."""

    def __init__(self, client: docker.DockerClient, airflow_home: Path) -> None:
        self.client = client
        self.airflow_home = airflow_home
        self.prefix = f"mindpulse-it-{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    # --- volumes --------------------------------------------------------------------------------
    def new_volumes(self, name: str) -> Volumes:
        volumes = Volumes(*(f"{self.prefix}-{name}-{kind}" for kind in VOLUME_DIRS))
        for volume in volumes.names.values():
            self.client.volumes.create(volume)
            self.created.append(volume)
        return volumes

    def copy_of(self, source: Volumes, name: str) -> Volumes:
        """New volumes with the files of `source`. Mounted at the images' mount points (/data, ...), so a
        new volume starts out owned by the step user, as in production."""
        target = self.new_volumes(name)
        self.client.containers.run(
            TOOL_IMAGE,
            ["sh", "-c", target.copy_script()],
            volumes=target.binds("rw") | source.sources(),
            user="root",
            network_mode="none",
            remove=True,
        )
        return target

    def run_step(self, step: str, volumes: Volumes, **environment: str) -> dict[str, Any]:
        """Run a step image like the DAGs do; its result line as a dict."""
        output = self.client.containers.run(
            f"{catalog.step(step).image_name}:{TAG}",
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
    def airflow_environment(self, environment: dict[str, str] | None) -> dict[str, str]:
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
            # No deadline alerts: Airflow 3.3.2's `dags test` crashes when a run of a DAG with one succeeds (it
            # looks the in-memory alerts up as database ids: 'dict' object has no attribute 'hex'), and its runs
            # are never queued, so there is no time to count from. tests/dags and tests/e2e cover the deadlines.
            "MINDPULSE_RETRAIN_DEADLINE": "0",
            "MINDPULSE_REPORTING_DEADLINE": "0",
            "MINDPULSE_MAINTENANCE_DEADLINE": "0",
        }
        return env | (environment or {})

    def airflow(self, *arguments: str, environment: dict[str, str] | None = None, check: bool = True) -> str:
        """Run the Airflow CLI; its stdout and stderr."""
        completed = subprocess.run(
            [str(airflow_executable()), *arguments],
            env=self.airflow_environment(environment),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if check:
            assert completed.returncode == 0, f"airflow {' '.join(arguments)} failed:\n{completed.stdout[-6000:]}"
        return completed.stdout + completed.stderr

    def execute_task(self, dag_id: str, task_id: str, container: str, environment: dict[str, str] | None = None) -> str:
        """Run the DAG's own operator of `task_id` and keep its container as `container` (execute_task.py);
        the outcome: "success" or the exception class the operator raised."""
        completed = subprocess.run(
            [str(airflow_executable().with_name("python")), str(EXECUTE_TASK), dag_id, task_id, container],
            env=self.airflow_environment(environment),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert completed.returncode == 0, f"execute_task.py {dag_id} {task_id} failed:\n{completed.stderr[-6000:]}"
        return json.loads(completed.stdout.strip().splitlines()[-1])["outcome"]

    def dag_test(self, dag_id: str, volumes: Volumes, conf: dict[str, Any] | None = None, check: bool = True) -> DagRun:
        """One run of the DAG; with check=False a failing run is returned too, its state says how it ended."""
        arguments = ["dags", "test", dag_id] + (["--conf", json.dumps(conf)] if conf else [])
        output = self.airflow(*arguments, environment=volumes.environment(), check=check)
        return replace(self.last_run(dag_id), output=output)

    def last_run(self, dag_id: str) -> DagRun:
        with sqlite3.connect(self.airflow_home / "airflow.db") as db:
            run_id, state, run_after = db.execute(
                "SELECT run_id, state, run_after FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            where = {"dag_id": dag_id, "run_id": run_id}
            rows = db.execute(
                "SELECT task_id, state, start_date, end_date FROM task_instance"
                " WHERE dag_id = :dag_id AND run_id = :run_id",
                where,
            ).fetchall()
            tasks = {task_id: state for task_id, state, _, _ in rows}
            times = {task_id: (_utc(start), _utc(end)) for task_id, _, start, end in rows}
            # An XCom is stored as JSON; the DockerOperator's is the step's last line, itself JSON, an Airflow
            # task's (mindpulse_maintenance's own) the object it returned.
            results = {
                task_id: decoded_xcom(value)
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
        return DagRun(state, datetime.fromisoformat(run_after), tasks, results, events, times)


def decoded_xcom(value: Any) -> Any:
    """An XCom as stored or as the REST API returns it: JSON text (a step's last line) or, for an Airflow task, the
    object, possibly as JSON text itself."""
    while isinstance(value, str):
        value = json.loads(value)
    return value


def _utc(stored: str | None) -> datetime | None:
    """A time of the metadata DB: SQLite keeps them as naive UTC strings."""
    return None if stored is None else datetime.fromisoformat(stored).replace(tzinfo=UTC)


def airflow_executable() -> Path:
    configured = os.environ.get("MINDPULSE_AIRFLOW_PYTHON")
    airflow = Path(configured).with_name("airflow") if configured else REPO / ".venv-airflow" / "bin" / "airflow"
    if not airflow.is_file():
        pytest.fail(f"no Airflow at {airflow}: create .venv-airflow or set MINDPULSE_AIRFLOW_PYTHON")
    return airflow
