"""A throwaway compose stack, for the layers that start one (tests/e2e, tests/cluster).

Each stack has its own project name, container-name prefix, volume names, shared folder and host ports, so it
runs next to a user's stack and next to the other layer's; `docker compose down -v` removes only its parts.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mindpulse.paths import VOLUME_DIRS

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()

RETRAIN = "ml_retrain_pipeline"
REPORTING = "evidently_reporting_pipeline"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
# Generous: a 2-core machine seeds 100k reference rows and trains three candidate models first.
STACK_TIMEOUT = 1500
RUN_TIMEOUT = 1200
# On a loaded 2-core machine the API server may take longer than 30 s to answer.
API_TIMEOUT = 120


def clean_environment() -> dict[str, str]:
    """The caller's environment without anything the compose file reads, so nothing leaks in."""
    prefixes = ("AIRFLOW", "MINDPULSE", "POSTGRES", "COMPOSE_", "DOCKER_GID", "DOCKER_SOCKET")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


def run_command(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Stack:
    project: str
    shared: Path
    port: int
    settings: dict[str, str]
    env: dict[str, str] = field(repr=False)
    env_file: Path
    # The checkout whose compose files the stack runs (a fresh clone of this one for the cluster).
    repo: Path = REPO
    # The compose files the stack is made of, in `repo`; a subclass adds its own.
    files: ClassVar[tuple[str, ...]] = (COMPOSE_FILE.name,)

    @classmethod
    def create(
        cls,
        tmp_path_factory: pytest.TempPathFactory,
        kind: str,
        extra: Callable[[str], dict[str, str]],
    ) -> Stack:
        """A stack's folders, ports and .env, not yet started; `extra(project)` adds the layer's settings."""
        project = f"mindpulse-{kind}-{uuid.uuid4().hex[:8]}"
        root = tmp_path_factory.mktemp(kind)
        shared = root / "shared_volumes"
        for folder in ("data", "models", "reports"):
            (shared / folder).mkdir(parents=True)
        port = free_port()
        settings = {
            # The non-root path the README's users take: uid 50000 plus the socket's group.
            "AIRFLOW_UID": "50000",
            "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
            "AIRFLOW_PORT": str(port),
            "MINDPULSE_IMAGE_TAG": TAG,
            "MINDPULSE_SHARED_DIR": str(shared),
            "MINDPULSE_CONTAINER_PREFIX": f"{project}-",
            **{f"MINDPULSE_{volume.upper()}_VOLUME": f"{project}_{volume}" for volume in VOLUME_DIRS},
            "EVIDENTLY_UI_PORT": str(free_port()),
            **extra(project),
        }
        env_file = root / ".env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return cls(project, shared, port, settings, {**clean_environment(), **settings}, env_file)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        command = ["docker", "compose", "--project-name", self.project, "--env-file", str(self.env_file)]
        command += [item for name in self.files for item in ("--file", str(self.repo / name))]
        return run_command([*command, *args], env=self.env, timeout=timeout)

    @functools.cached_property
    def tag(self) -> str:
        """The step images' tag the DAGs resolve, as the scheduler has it."""
        printed = self.exec("airflow-scheduler", "printenv", "MINDPULSE_IMAGE_TAG")
        assert printed.returncode == 0 and printed.stdout.strip(), printed.stderr
        return printed.stdout.strip()

    def container(self, name: str) -> str:
        return self.settings.get("MINDPULSE_CONTAINER_PREFIX", "") + name

    def exec(self, container: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_command(["docker", "exec", self.container(container), *args], timeout=timeout)

    def health(self, service: str) -> str:
        container_id = self.compose("ps", "--quiet", service).stdout.strip()
        if not container_id:
            return "not running"
        status = run_command(["docker", "inspect", "--format", "{{.State.Health.Status}}", container_id])
        return status.stdout.strip()

    def wait_healthy(self, services: tuple[str, ...]) -> None:
        deadline = time.monotonic() + STACK_TIMEOUT
        while waiting := [service for service in services if self.health(service) != "healthy"]:
            assert time.monotonic() < deadline, f"not healthy: {waiting}\n{self.logs(*waiting)}"
            time.sleep(5)

    def logs(self, *services: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "80", *services).stdout

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """The REST call, patient: reads are tried again after a timeout; a write is sent once."""
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        data = None if body is None else json.dumps(body).encode()
        attempts = 3 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=API_TIMEOUT) as response:
                    payload = response.read()
                return json.loads(payload) if payload else None
            except TimeoutError:
                if attempt == attempts:
                    raise
        return None

    def token(self, username: str = "admin", password: str = "admin") -> str:
        return self.api("POST", "/auth/token", {"username": username, "password": password})["access_token"]

    def unpause(self, token: str, dag_id: str) -> None:
        self._on_dag(token, f"unpausing {dag_id}", "PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, token: str, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        return str(
            self._on_dag(token, f"triggering {dag_id}", "POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]
        )

    def _on_dag(self, token: str, what: str, method: str, path: str, body: dict[str, Any]) -> Any:
        """One call on a DAG. A 404 is waited out for up to 300 s, saying why: the DAG processor may still be parsing
        the files, or Airflow marked the DAG stale (and refuses it) after a parse of its file failed, which the next
        parse undoes; on the test machine two stacks share two cores, and a parse can exceed the import timeout."""
        deadline = time.monotonic() + 300
        while True:
            try:
                return self.api(method, path, body, token)
            except urllib.error.HTTPError as error:
                errors = self.api("GET", "/api/v2/importErrors", token=token)["import_errors"]
                why = f"{what}: {error} {error.read().decode(errors='replace')}; import errors {errors}"
                print(why)
                assert error.code == 404 and time.monotonic() < deadline, why
                time.sleep(5)

    def runs(self, token: str, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", token=token)["dag_runs"]

    def instances(self, token: str, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The task instances of one run, by task id."""
        quoted = urllib.parse.quote(run_id, safe="")
        listed = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances", token=token)
        return {ti["task_id"]: ti for ti in listed["task_instances"]}

    def wait_for_runs(self, token: str, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every run of the DAG, once `run_id` and every other (scheduled, asset-triggered) have finished."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            runs = self.runs(token, dag_id)
            unfinished = [run for run in runs if run["state"] not in ("success", "failed")]
            if not unfinished and any(run["dag_run_id"] == run_id for run in runs):
                return runs
            assert time.monotonic() < deadline, f"{dag_id} runs unfinished after {RUN_TIMEOUT} s: {unfinished}"
            time.sleep(5)
