"""The cluster section of the benchmark: the retrain and reporting DAGs triggered at the same moment on the
cluster stack (docker-compose.cluster.yml), wall time until both have finished, with one worker host
consuming both queues versus two.

`measure()` starts a throwaway cluster of its own (own project, ports, volumes, shared folder; removed at the
end).
The data are modest on purpose: REFERENCE_ROWS reference rows, PRODUCTION_ROWS production rows, the retrain
forced each time. Measured on a shared 2-core machine: measure(repeats=1) took 9.5 minutes, most of it starting
the cluster and the unmeasured first pair of runs (scheduled runs, image pulls); each further pair costs ~2 min.
On such a machine the two worker hosts share the same two cores: a second worker host buys overlap of
waiting (pulls, Airflow's own scheduling and start-up of each task) but no extra CPU.
A section of bench/benchmark.py (`--sections cluster_scaling`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.figures import Figure, bars
from bench.harness import REPO, Run, span, spread

TITLE = "Cluster: both DAGs at once on one worker host versus two"

FILES = ("--file", str(REPO / "docker-compose.yml"), "--file", str(REPO / "docker-compose.cluster.yml"))
DAGS = ("ml_retrain_pipeline", "evidently_reporting_pipeline")
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
REFERENCE_ROWS = 10_000
PRODUCTION_ROWS = 1_500
TIMEOUT_S = 1200
# The Celery workers of the two worker hosts (docker-compose.cluster.yml) and the queue each consumes.
WORKER_QUEUES = {"worker-1": "default", "heavy-worker-1": "heavy", "worker-2": "default", "heavy-worker-2": "heavy"}


# Where the registry reads its password (docker-compose.cluster.yml, scripts/init-secrets.sh).
REGISTRY_PASSWORD = "/run/secrets/registry/password"


class Compose:
    """The compose commands of one cluster."""

    def __init__(self, project: str, env_file: Path) -> None:
        self.project, self.env_file = project, env_file
        self.settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)

    def __call__(self, *args: str, timeout: float = 900) -> str:
        command = ["docker", "compose", "--project-name", self.project, "--env-file", str(self.env_file), *FILES]
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"docker compose {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def container(self, name: str) -> str:
        return self.settings.get("MINDPULSE_CONTAINER_PREFIX", "") + name

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        url = f"http://127.0.0.1:{self.settings.get('AIRFLOW_PORT', '8083')}{path}"
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=30) as answer:
            payload = answer.read()
        return json.loads(payload) if payload else None

    def queues(self, worker: str, action: str, queue: str) -> None:
        target = f"celery@{self.container(worker)}"
        command = ["celery", "--app", CELERY_APP, "control", action, queue, "--destination", target]
        subprocess.run(["docker", "exec", self.container(worker), *command], capture_output=True, timeout=120)


def concurrencies(compose: Compose) -> tuple[int, int]:
    """How many default-queue and heavy-queue steps each host runs at once, as compose rendered the workers
    (the stack's own defaults included)."""
    services = json.loads(compose("config", "--format", "json"))["services"]
    heavy = services["heavy-worker-1"]["command"]
    default = services["worker-1"]["environment"]["AIRFLOW__CELERY__WORKER_CONCURRENCY"]
    return int(default), int(heavy[heavy.index("--concurrency") + 1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_cluster(root: Path, tag: str) -> Compose:
    """A throwaway cluster under `root`, images pushed, healthy."""
    project = f"mindpulse-bench-{uuid.uuid4().hex[:8]}"
    for kind in ("data", "models", "reports"):
        (root / "shared" / kind).mkdir(parents=True)
    settings = {
        "AIRFLOW_UID": "50000",
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        "AIRFLOW_PORT": str(_free_port()),
        "MINDPULSE_REGISTRY_PORT": str(_free_port()),
        "EVIDENTLY_UI_PORT": str(_free_port()),
        "MINDPULSE_IMAGE_TAG": tag,
        "MINDPULSE_SHARED_DIR": str(root / "shared"),
        "MINDPULSE_CONTAINER_PREFIX": f"{project}-",
        **{f"MINDPULSE_{kind}_VOLUME": f"{project}_{kind.lower()}" for kind in ("DATA", "MODELS", "REPORTS")},
        "MINDPULSE_DEMO_REFERENCE_ROWS": str(REFERENCE_ROWS),
        "MINDPULSE_DEMO_ROWS": str(PRODUCTION_ROWS),
    }
    env_file = root / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    compose = Compose(project, env_file)
    compose("up", "--detach", "--wait", "registry")
    registry = f"127.0.0.1:{settings['MINDPULSE_REGISTRY_PORT']}"
    password = compose("run", "--rm", "--no-deps", "-T", "--entrypoint", "cat", "registry", REGISTRY_PASSWORD)
    push = [str(REPO / "build_images.sh"), "--tag", tag, "--push", registry, "--password-stdin"]
    subprocess.run(push, input=password, text=True, check=True, capture_output=True)
    compose("up", "airflow-init")
    compose("up", "--detach")
    # Container names: the API server's container keeps the README's name, airflow-webserver.
    _wait_healthy(compose, ("airflow-webserver", "airflow-scheduler", "airflow-dag-processor", *WORKER_QUEUES))
    return compose


def _wait_healthy(compose: Compose, services: tuple[str, ...]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    for service in services:
        while True:
            status = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.Health.Status}}", compose.container(service)],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if status == "healthy":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} not healthy after {TIMEOUT_S} s")
            time.sleep(5)


def both_dags_once(compose: Compose, token: str) -> float:
    """Seconds from triggering both DAGs together until both runs have finished; raises when one failed."""
    started = time.monotonic()
    runs = {}
    for dag_id in DAGS:
        conf = {"force": True} if dag_id == DAGS[0] else {}
        body = {"logical_date": None, "conf": conf}
        runs[dag_id] = compose.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body, token)["dag_run_id"]
    for dag_id, run_id in runs.items():
        while True:
            run = compose.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", token=token)
            if run["state"] in ("success", "failed"):
                break
            if time.monotonic() - started > TIMEOUT_S:
                raise RuntimeError(f"{dag_id} run {run_id} unfinished after {TIMEOUT_S} s")
            time.sleep(2)
        if run["state"] != "success":
            raise RuntimeError(f"{dag_id} run {run_id} failed")
    return time.monotonic() - started


def consume(compose: Compose, hosts: int) -> None:
    """Let the first `hosts` worker hosts take tasks from both queues, and the others none (their engines
    stay up, idle)."""
    for worker, queue in WORKER_QUEUES.items():
        host = int(worker.rpartition("-")[2])
        compose.queues(worker, "add_consumer" if host <= hosts else "cancel_consumer", queue)


def measure(run: Run) -> dict[str, Any]:
    """Wall time of both DAGs at once with two worker hosts and with one, alternating, on a throwaway cluster
    of its own. A first pair of runs pulls the images and is not counted."""
    scratch = tempfile.TemporaryDirectory(prefix="mindpulse-bench-cluster-")
    compose = start_cluster(Path(scratch.name), run.tag)
    samples: dict[int, list[float]] = {1: [], 2: []}
    try:
        token = compose.api("POST", "/auth/token", {"username": "admin", "password": "admin"})["access_token"]
        for dag_id in DAGS:
            for _ in range(60):  # the DAG processor may still be parsing the files
                try:
                    compose.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}, token)
                    break
                except urllib.error.HTTPError:
                    time.sleep(5)
        consume(compose, 2)
        both_dags_once(compose, token)

        def one_repeat(index: int) -> float:
            for hosts in (2, 1) if index % 2 == 0 else (1, 2):
                consume(compose, hosts)
                samples[hosts].append(both_dags_once(compose, token))
            return max(samples[hosts][-1] for hosts in samples)

        run.repeat(one_repeat)
        concurrency, heavy_concurrency = concurrencies(compose)
    finally:
        compose("down", "--volumes", "--remove-orphans")
        scratch.cleanup()
    return {
        "reference_rows": REFERENCE_ROWS,
        "production_rows": PRODUCTION_ROWS,
        "cpu_cores": os.cpu_count(),
        "worker_concurrency": concurrency,
        "heavy_concurrency": heavy_concurrency,
        "one_worker_s": spread(samples[1]),
        "two_workers_s": spread(samples[2]),
    }


def render(result: dict[str, Any]) -> str:
    """The Markdown section of `result`."""
    one, two = result["one_worker_s"], result["two_workers_s"]
    return "\n".join(
        [
            f"Retrain (forced) and reporting triggered together, {result['reference_rows']:,} reference rows, "
            f"{result['production_rows']:,} production rows, {result['cpu_cores']} CPU cores shared by every "
            f"container; each host runs {result['worker_concurrency']} default-queue steps and "
            f"{result['heavy_concurrency']} heavy step at once. Wall time until both runs finished, "
            "median (min-max); one and two hosts alternate.",
            "",
            "| worker hosts | wall time s |",
            "|---|---|",
            f"| 1 | {span(one, 1)} |",
            f"| 2 | {span(two, 1)} |",
            "",
            f"Two hosts take {two['median'] / one['median']:.2f}x the time of one. Here both hosts share the same "
            "cores, so the second one adds task slots, not CPU: what it can win is the overlap of waiting "
            "(scheduling, task start-up, image pulls). On separate machines the heavy steps would get cores of "
            "their own.",
        ]
    )


def figures(result: dict[str, Any]) -> list[Figure]:
    title = "Retrain and reporting together on the cluster"
    groups = [
        ("1 worker host", [("wall time", result["one_worker_s"])]),
        ("2 worker hosts", [("wall time", result["two_workers_s"])]),
    ]
    return [
        Figure(
            "cluster_scaling",
            f"{title}: wall time until both finished (median, min-max)",
            bars(title, "seconds", groups),
        )
    ]
