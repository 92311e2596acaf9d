"""The compose stack end to end, the way a user runs it: `docker compose up airflow-init`,
`docker compose up -d`, the README's commands, both DAGs through the REST API, the reports on the
host, and the UI in a headless Chromium.

The stack is a throwaway one that can run next to a user's: its own project name, container-name
prefix, volume names, shared folder and host port, and `docker compose down -v` at the end. It needs
the images of ./build_images.sh and Debian's `chromium` (`.ci/run` provides both).
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mindpulse import catalog
from tests.e2e import alert_receiver
from tests.images.image_secrets import URL_CREDENTIALS, secret_settings
from tests.integration.airflow_harness import RETRAIN_STEPS

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()

RETRAIN = "ml_retrain_pipeline"
REPORTING = "evidently_reporting_pipeline"

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SEEDED_ROWS = 1500
# Generous: a 2-core machine seeds 100k reference rows and trains three candidate models first.
STACK_TIMEOUT = 1500
# In the webhook URL's path, as a real token is: it must appear in no log and no component's environment.
WEBHOOK_TOKEN = "e2e-webhook-token"
RUN_TIMEOUT = 1200

# Seconds each phase took, printed at the end of the module.
TIMINGS: dict[str, float] = {}


def _clean_environment() -> dict[str, str]:
    """The caller's environment without anything the compose file reads, so nothing leaks in."""
    prefixes = ("AIRFLOW", "MINDPULSE", "POSTGRES", "COMPOSE_", "DOCKER_GID", "DOCKER_SOCKET")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


def _run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the compose file as written -------------------------------------------------------------


@pytest.fixture(scope="module")
def default_config() -> dict[str, Any]:
    """`docker compose config` with no .env and no variables: what the README's commands meet."""
    result = _run(
        ["docker", "compose", "--file", str(COMPOSE_FILE), "--env-file", os.devnull, "config", "--format", "json"],
        env=_clean_environment(),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_defaults_match_the_documented_commands(default_config: dict[str, Any]) -> None:
    services = default_config["services"]
    assert services["airflow-apiserver"]["container_name"] == "airflow-webserver"
    assert services["airflow-scheduler"]["container_name"] == "airflow-scheduler"
    (port,) = services["airflow-apiserver"]["ports"]
    assert (port["host_ip"], port["published"], port["target"]) == ("127.0.0.1", "8083", 8080)
    for kind in ("data", "models", "reports"):
        volume = default_config["volumes"][f"mindpulse_{kind}"]
        assert volume["name"] == f"mindpulse_{kind}"
        assert volume["driver_opts"]["o"] == "bind"
        assert volume["driver_opts"]["device"] == str(REPO / "shared_volumes" / kind)


def test_airflow_components_share_secrets_without_any_value_in_the_file(default_config: dict[str, Any]) -> None:
    services = default_config["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-webserver:8080/execution/"
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert environment["AIRFLOW__API_AUTH__JWT_SECRET_CMD"] == "cat /opt/airflow/secrets/jwt_secret"
        assert environment["AIRFLOW__CORE__FERNET_KEY_CMD"] == "cat /opt/airflow/secrets/fernet_key"
        assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] == "cat /opt/airflow/secrets/sql_alchemy_conn"
        assert "AIRFLOW__API_AUTH__JWT_SECRET" not in environment
        assert "AIRFLOW__CORE__FERNET_KEY" not in environment
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in environment
    for name in AIRFLOW_SERVICES:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


# The one secret the stack ships, documented in .env.example and the README and warned about by
# airflow-init and quickstart.sh: the first admin user's password.
DEV_LOGIN = {"AIRFLOW_ADMIN_PASSWORD": "admin"}


def _env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_compose_file_and_env_example_ship_no_secret_but_the_dev_login(default_config: dict[str, Any]) -> None:
    shipped = {
        "compose " + name: service.get("environment") or {} for name, service in default_config["services"].items()
    }
    shipped[".env.example"] = _env_example()
    for source, environment in shipped.items():
        values = {name: str(value) for name, value in environment.items() if name not in DEV_LOGIN}
        assert secret_settings(values) == [], source
        assert [name for name, value in values.items() if URL_CREDENTIALS.search(value.encode())] == [], source
        assert {name: environment[name] for name in DEV_LOGIN.keys() & environment.keys()} == {
            name: DEV_LOGIN[name] for name in DEV_LOGIN.keys() & environment.keys()
        }, source
    assert {"POSTGRES_PASSWORD", *DEV_LOGIN} <= set(shipped[".env.example"])


def test_each_secret_volume_reaches_only_its_readers(default_config: dict[str, Any]) -> None:
    services = default_config["services"]

    def mounts(volume: str) -> dict[str, bool]:
        return {
            name: bool(mount.get("read_only"))
            for name, service in services.items()
            for mount in service.get("volumes", [])
            if mount.get("source") == volume
        }

    assert mounts("airflow-secrets") == {"secrets-init": False, "airflow-init": True} | dict.fromkeys(
        AIRFLOW_SERVICES, True
    )
    assert mounts("postgres-secrets") == {"secrets-init": False, "postgres": True}
    assert services["secrets-init"]["network_mode"] == "none"
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert postgres["depends_on"]["secrets-init"]["condition"] == "service_completed_successfully"


def test_only_the_scheduler_gets_the_docker_socket(default_config: dict[str, Any]) -> None:
    services = default_config["services"]

    def mounts_socket(name: str) -> bool:
        return any(v.get("target") == "/var/run/docker.sock" for v in services[name].get("volumes", []))

    assert mounts_socket("airflow-scheduler")
    assert services["airflow-scheduler"]["group_add"]
    for name in ("airflow-apiserver", "airflow-dag-processor", "airflow-triggerer"):
        assert not mounts_socket(name), name


# --- the PostgreSQL image ----------------------------------------------------------------------


def _wait_for_postgres(container: str, user: str, database: str) -> None:
    deadline = time.monotonic() + 120
    while _run(["docker", "exec", container, "pg_isready", "-h", "127.0.0.1", "-U", user, "-d", database]).returncode:
        running = _run(["docker", "inspect", "--format", "{{.State.Running}}", container]).stdout.strip()
        assert running == "true" and time.monotonic() < deadline, _run(["docker", "logs", container]).stderr
        time.sleep(1)


@pytest.mark.docker
def test_postgres_image_initialises_like_the_official_one() -> None:
    image = f"mindpulse/postgres:{TAG}"
    if _run(["docker", "image", "inspect", image]).returncode:
        pytest.fail(f"{image} not built (run ./build_images.sh)")
    name = f"mindpulse-test-pg-{uuid.uuid4().hex[:8]}"
    env = ["-e", "POSTGRES_USER=meta", "-e", "POSTGRES_PASSWORD=s3cret", "-e", "POSTGRES_DB=metadb"]
    started = _run(["docker", "run", "-d", "--name", name, *env, image])
    assert started.returncode == 0, started.stderr
    try:
        _wait_for_postgres(name, "meta", "metadb")

        def query(password: str) -> subprocess.CompletedProcess:
            sql = ["psql", "-h", "127.0.0.1", "-U", "meta", "-d", "metadb", "-tAc", "select current_user"]
            return _run(["docker", "exec", "-e", f"PGPASSWORD={password}", name, *sql])

        assert query("s3cret").stdout.strip() == "meta"
        assert "password authentication failed" in query("wrong").stderr
        assert _run(["docker", "exec", name, "id", "-u"]).stdout.strip() != "0"
    finally:
        _run(["docker", "rm", "-f", "-v", name])

    refused = _run(["docker", "run", "--rm", image])
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr


@pytest.mark.docker
def test_postgres_image_takes_the_password_from_a_file(tmp_path: Path) -> None:
    """POSTGRES_PASSWORD_FILE, as compose passes the generated password (the official image has it too)."""
    image = f"mindpulse/postgres:{TAG}"
    (tmp_path / "password").write_text("from-a-file\n")
    # Readable by the server's uid 999, as secrets-init makes it.
    tmp_path.chmod(0o755)
    (tmp_path / "password").chmod(0o644)
    name = f"mindpulse-test-pg-{uuid.uuid4().hex[:8]}"
    secret = ["-v", f"{tmp_path}:/run/secrets/pg:ro", "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/pg/password"]
    started = _run(["docker", "run", "-d", "--name", name, *secret, "-e", "POSTGRES_USER=meta", image])
    assert started.returncode == 0, started.stderr
    try:
        _wait_for_postgres(name, "meta", "meta")
        sql = ["psql", "-h", "127.0.0.1", "-U", "meta", "-d", "meta", "-tAc", "select current_user"]
        assert _run(["docker", "exec", "-e", "PGPASSWORD=from-a-file", name, *sql]).stdout.strip() == "meta"
    finally:
        _run(["docker", "rm", "-f", "-v", name])


# --- the running stack -------------------------------------------------------------------------


@dataclass
class Stack:
    project: str
    shared: Path
    port: int
    settings: dict[str, str]
    env: dict[str, str] = field(repr=False)
    env_file: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        command = ["docker", "compose", "--project-name", self.project, "--env-file", str(self.env_file)]
        return _run([*command, "--file", str(COMPOSE_FILE), *args], env=self.env, timeout=timeout)

    def container(self, name: str) -> str:
        return self.settings["MINDPULSE_CONTAINER_PREFIX"] + name

    def exec(self, container: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return _run(["docker", "exec", self.container(container), *args], timeout=timeout)

    def health(self, service: str) -> str:
        container_id = self.compose("ps", "--quiet", service).stdout.strip()
        if not container_id:
            return "not running"
        status = _run(["docker", "inspect", "--format", "{{.State.Health.Status}}", container_id])
        return status.stdout.strip()

    def logs(self, *services: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "80", *services).stdout

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def token(self, username: str = "admin", password: str = "admin") -> str:
        return self.api("POST", "/auth/token", {"username": username, "password": password})["access_token"]


def _timed(label: str, started: float) -> None:
    TIMINGS[label] = time.monotonic() - started


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    missing = [
        name
        for name in ("airflow", "postgres", "bootstrap", "simulate-traffic", "check-production-data")
        if _run(["docker", "image", "inspect", f"mindpulse/{name}:{TAG}"]).returncode
    ]
    if missing:
        pytest.fail(f"images not built (run ./build_images.sh): {', '.join(missing)}")

    project = f"mindpulse-e2e-{uuid.uuid4().hex[:8]}"
    root = tmp_path_factory.mktemp("stack")
    shared = root / "shared_volumes"
    for kind in ("data", "models", "reports"):
        (shared / kind).mkdir(parents=True)
    port = _free_port()
    receiver = f"{project}-alert-receiver"
    settings = {
        # The non-root path the README's users take: uid 50000 plus the socket's group.
        "AIRFLOW_UID": "50000",
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        "AIRFLOW_PORT": str(port),
        "MINDPULSE_IMAGE_TAG": TAG,
        "MINDPULSE_SHARED_DIR": str(shared),
        "MINDPULSE_CONTAINER_PREFIX": f"{project}-",
        "MINDPULSE_DATA_VOLUME": f"{project}_data",
        "MINDPULSE_MODELS_VOLUME": f"{project}_models",
        "MINDPULSE_REPORTS_VOLUME": f"{project}_reports",
        # airflow-init stores it in the Connection mindpulse_webhook; the receiver starts once the network exists.
        "MINDPULSE_WEBHOOK_URL": f"http://{receiver}:{alert_receiver.PORT}/hooks/{WEBHOOK_TOKEN}",
        # Missed for sure: the retrain run triggered while its DAG is paused waits longer than this.
        "MINDPULSE_RETRAIN_DEADLINE": "1",
        "EVIDENTLY_UI_PORT": str(_free_port()),
    }
    env_file = root / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    stack = Stack(project, shared, port, settings, {**_clean_environment(), **settings}, env_file)

    try:
        started = time.monotonic()
        init = stack.compose("up", "airflow-init", timeout=STACK_TIMEOUT)
        _timed("docker compose up airflow-init", started)
        init_id = stack.compose("ps", "--all", "--quiet", "airflow-init").stdout.strip()
        exit_code = _run(["docker", "inspect", "--format", "{{.State.ExitCode}}", init_id]).stdout.strip()
        assert init.returncode == 0 and exit_code == "0", init.stdout[-3000:] + init.stderr[-3000:]
        alert_receiver.start(receiver, f"{project}_default", f"mindpulse/family-base:{TAG}")

        up_started = time.monotonic()
        up = stack.compose("up", "-d", timeout=STACK_TIMEOUT)
        _timed("docker compose up -d (includes demo seeding)", up_started)
        assert up.returncode == 0, up.stderr[-3000:] + stack.logs("airflow-init", "demo-bootstrap", "demo-traffic")

        deadline = time.monotonic() + STACK_TIMEOUT
        while True:
            waiting = [service for service in AIRFLOW_SERVICES if stack.health(service) != "healthy"]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert not waiting, f"not healthy: {waiting}\n{stack.logs(*waiting)}"
        _timed("stack up to healthy (from the first command)", started)
        yield stack
    finally:
        if request.session.testsfailed:
            print(stack.compose("ps", "--all").stdout)
            print(stack.logs())
        alert_receiver.stop(receiver)  # before `down`: it is attached to the stack's network
        stack.compose("down", "--remove-orphans", timeout=300)
        # Step containers are the engine's, not the project's: one still running (a run cut short)
        # would hold the volumes.
        for volume in (settings[f"MINDPULSE_{kind}_VOLUME"] for kind in ("DATA", "MODELS", "REPORTS")):
            leftovers = _run(["docker", "ps", "--all", "--quiet", "--filter", f"volume={volume}"]).stdout.split()
            if leftovers:
                _run(["docker", "rm", "--force", *leftovers])
        stack.compose("down", "--volumes", timeout=300)
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            for label, seconds in TIMINGS.items():
                reporter.write_line(f"e2e timing: {label}: {seconds:.0f} s")


def _wait_for_runs(stack: Stack, token: str, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Wait until `run_id` and every other run of the DAG (scheduled, asset-triggered) has finished."""
    path = f"/api/v2/dags/{dag_id}/dagRuns"
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = stack.api("GET", path, token=token)["dag_runs"]
        unfinished = [run for run in runs if run["state"] not in ("success", "failed")]
        if not unfinished and any(run["dag_run_id"] == run_id for run in runs):
            return runs
        assert time.monotonic() < deadline, f"{dag_id} runs unfinished after {RUN_TIMEOUT} s: {unfinished}"
        time.sleep(5)


def _task_states(stack: Stack, token: str, dag_id: str, run_id: str) -> dict[str, str]:
    quoted = urllib.parse.quote(run_id, safe="")
    instances = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances", token=token)
    return {ti["task_id"]: ti["state"] for ti in instances["task_instances"]}


def _unpause(stack: Stack, token: str, dag_id: str) -> None:
    deadline = time.monotonic() + 300
    while True:  # the DAG processor may still be parsing the files
        try:
            stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}, token)
            return
        except urllib.error.HTTPError as error:
            assert error.code == 404 and time.monotonic() < deadline, f"unpausing {dag_id}: {error}"
            time.sleep(5)


def _unpause_and_trigger(stack: Stack, dag_id: str) -> list[dict[str, Any]]:
    """The REST way a client runs a DAG; returns every run of the DAG once all have finished."""
    token = stack.token()
    _unpause(stack, token, dag_id)
    started = time.monotonic()
    run_id = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None}, token)["dag_run_id"]
    runs = _wait_for_runs(stack, token, dag_id, run_id)
    _timed(f"{dag_id}: triggered run and the runs before it", started)
    failed = {run["dag_run_id"]: _task_states(stack, token, dag_id, run["dag_run_id"]) for run in runs}
    failed = {run_id: states for run_id, states in failed.items() if "failed" in states.values()}
    assert all(run["state"] == "success" for run in runs), f"{failed}\n{stack.logs('airflow-scheduler')}"
    return runs


@pytest.mark.e2e
def test_stack_comes_up_healthy_and_seeded(stack: Stack) -> None:
    health = stack.api("GET", "/api/v2/monitor/health")
    assert {part: health[part]["status"] for part in health} == dict.fromkeys(health, "healthy")
    assert set(health) >= {"metadatabase", "scheduler", "triggerer", "dag_processor"}
    assert stack.health("postgres") == "healthy"

    data = stack.shared / "data"
    assert (data / "reference_data.csv").stat().st_size > 0
    assert len((data / "prod_data.csv").read_text().splitlines()) == SEEDED_ROWS + 1
    assert (stack.shared / "models" / "current" / "model.joblib").is_file()
    assert not (data / ".demo-seed-pending").exists()


# Prints what every Airflow component reads for its secrets (through the *_CMD settings).
SECRETS_SCRIPT = """
import json
from airflow.configuration import conf
print(json.dumps({
    "fernet_key": conf.get("core", "fernet_key"),
    "jwt_secret": conf.get("api_auth", "jwt_secret"),
    "api_secret_key": conf.get("api", "secret_key"),
    "sql_alchemy_conn": conf.get("database", "sql_alchemy_conn"),
}))
"""


def _repository_text() -> str:
    listed = _run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"]).stdout.split()
    files = [REPO / path for path in listed if (REPO / path).is_file()]
    return "\n".join(path.read_bytes().decode(errors="replace") for path in files if path.stat().st_size < 1 << 20)


@pytest.mark.e2e
def test_secrets_are_generated_shared_and_found_nowhere_else(stack: Stack) -> None:
    seen = {}
    for service in ("airflow-webserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        printed = stack.exec(service, "python", "-c", SECRETS_SCRIPT)
        assert printed.returncode == 0, printed.stderr[-2000:]
        seen[service] = json.loads(printed.stdout.strip().splitlines()[-1])
    # Every component must have the same values: a JWT signed by one is checked by the others.
    first = seen["airflow-webserver"]
    assert all(values == first for values in seen.values()), "the Airflow components read different secrets"

    password = urllib.parse.urlsplit(first["sql_alchemy_conn"]).password or ""
    generated = {name: first[name] for name in ("fernet_key", "jwt_secret", "api_secret_key")}
    generated["postgres password"] = urllib.parse.unquote(password)
    assert len(base64.urlsafe_b64decode(generated["fernet_key"])) == 32, "not a Fernet key"
    for name, value in generated.items():
        assert len(value) >= 32, f"{name} is empty or short"
    repository = _repository_text()
    found = [name for name, value in generated.items() if value in repository]
    assert found == [], f"secrets that are in the repository: {found}"
    # Not handed around in the environment either: only the files of the secret volumes hold them.
    for service in (*AIRFLOW_SERVICES, "postgres", "secrets-init", "airflow-init"):
        container_id = stack.compose("ps", "--all", "--quiet", service).stdout.strip()
        environment = _run(["docker", "inspect", "--format", "{{json .Config.Env}}", container_id]).stdout
        assert [name for name, value in generated.items() if value in environment] == [], service


def _warnings(printed: subprocess.CompletedProcess) -> list[str]:
    """The warning lines a command printed. Both streams: Airflow's structlog prints its warnings on stdout."""
    return [line for line in (printed.stdout + printed.stderr).splitlines() if "warning" in line.lower()]


def _step_test(stack: Stack, *date: str) -> dict[str, Any]:
    """The README's debugging command on check_production_data; its result (stdout is that line alone).

    Runs the real step container, so it must be the scheduler: it holds the Docker socket."""
    started = time.monotonic()
    tested = stack.exec("airflow-scheduler", "mindpulse-step-test", RETRAIN, "check_production_data", *date)
    _timed(f"mindpulse-step-test check_production_data {' '.join(date)}", started)
    assert tested.returncode in (0, 99), tested.stdout[-3000:] + tested.stderr[-3000:]
    assert _warnings(tested) == []
    (line,) = tested.stdout.splitlines()
    return json.loads(line)


@pytest.mark.e2e
def test_documented_cli_commands_work(stack: Stack) -> None:
    for command in (("airflow", "version"), ("airflow", "dags", "list"), ("airflow", "dags", "list-import-errors")):
        printed = stack.exec("airflow-webserver", *command)
        assert printed.returncode == 0, printed.stderr
        assert _warnings(printed) == [], command
    assert RETRAIN in printed.stdout or "No data found" in printed.stdout
    listed = stack.exec("airflow-webserver", "airflow", "dags", "list")
    assert RETRAIN in listed.stdout and REPORTING in listed.stdout

    result = _step_test(stack, "2026-02-09")
    assert (result["step"], result["labelled_rows"]) == ("check_production_data", SEEDED_ROWS)

    created = stack.exec(
        "airflow-webserver", "airflow", "users", "create", "--username", "analyst", "--password", "e2e-pass",
        "--firstname", "Ana", "--lastname", "Lyst", "--email", "analyst@example.com", "--role", "Admin",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert stack.token("analyst", "e2e-pass")

    token = stack.token()
    assert stack.exec("airflow-webserver", "airflow", "dags", "pause", REPORTING).returncode == 0
    assert stack.api("GET", f"/api/v2/dags/{REPORTING}", token=token)["is_paused"] is True
    assert stack.exec("airflow-webserver", "airflow", "dags", "unpause", REPORTING).returncode == 0
    assert stack.api("GET", f"/api/v2/dags/{REPORTING}", token=token)["is_paused"] is False

    # The retrain DAG is still paused: the run waits, and runs in the retrain test below.
    triggered = stack.exec("airflow-webserver", "airflow", "dags", "trigger", RETRAIN)
    assert triggered.returncode == 0, triggered.stderr
    runs = stack.api("GET", f"/api/v2/dags/{RETRAIN}/dagRuns", token=token)["dag_runs"]
    assert [run["state"] for run in runs] == ["queued"]


@pytest.mark.e2e
def test_reporting_dag_writes_reports_the_host_can_open(stack: Stack) -> None:
    _unpause_and_trigger(stack, REPORTING)

    reports = stack.shared / "reports"
    for kind in ("data_quality", "data_drift", "model_performance"):
        pages = list(reports.glob(f"{kind}_report_*.html"))
        assert pages and all(page.stat().st_size > 0 for page in pages), kind
    assert "<html" in (reports / "index.html").read_text().lower()
    assert list(reports.glob("report_summary_*.json"))
    # apply_retention ran on the real volumes, and the summary measured them for the dashboard.
    newest = sorted(reports.glob("report_summary_*.json"))[-1]
    assert set(json.loads(newest.read_text())["volumes"]) == {"data", "models", "reports"}
    assert "<h2>Volumes</h2>" in (reports / "index.html").read_text()


@pytest.mark.e2e
def test_retrain_dag_promotes_a_model_and_refreshes_the_reports(stack: Stack) -> None:
    _unpause_and_trigger(stack, RETRAIN)

    models = stack.shared / "models"
    versions = sorted(path.name for path in (models / "versions").iterdir())
    assert len(versions) >= 2
    assert (models / "current").resolve().name == versions[-1]
    summaries = list((stack.shared / "reports").glob("retrain_summary_*.json"))
    assert any(json.loads(path.read_text())["winner"]["version"] == versions[-1] for path in summaries)
    assert list((stack.shared / "data" / "archive").iterdir())

    # The promotion updates the model asset, which schedules the reporting DAG: it must run, and succeed.
    token = stack.token()
    deadline = time.monotonic() + 120
    while True:
        runs = stack.api("GET", f"/api/v2/dags/{REPORTING}/dagRuns", token=token)["dag_runs"]
        triggered = [run["dag_run_id"] for run in runs if run["run_type"] == "asset_triggered"]
        if triggered:
            break
        assert time.monotonic() < deadline, f"no asset-triggered reporting run: {runs}"
        time.sleep(5)
    runs = _wait_for_runs(stack, token, REPORTING, triggered[0])
    assert all(run["state"] == "success" for run in runs), runs


def _alerts(stack: Stack, event: str, dag_id: str) -> list[dict[str, Any]]:
    """The alerts of `event` for `dag_id` the receiver got, once it got at least one (bounded wait)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        found = [
            request["body"]["summary"]
            for request in alert_receiver.received(stack.container("alert-receiver"))
            if request["body"]["summary"].get("event") == event and request["body"]["summary"]["dag_id"] == dag_id
        ]
        if found:
            return found
        assert time.monotonic() < deadline, f"no {event} alert for {dag_id}\n{stack.logs('airflow-dag-processor')}"
        time.sleep(5)


@pytest.mark.e2e
def test_a_failed_run_sends_one_alert_and_a_late_run_a_deadline_alert(stack: Stack) -> None:
    token = stack.token()
    stack.api("PATCH", "/api/v2/dags/model_rollback", {"is_paused": False}, token)
    conf = {"to_version": "v0999", "reason": "e2e: a version that does not exist"}
    run_id = stack.api("POST", "/api/v2/dags/model_rollback/dagRuns", {"logical_date": None, "conf": conf}, token)[
        "dag_run_id"
    ]
    runs = _wait_for_runs(stack, token, "model_rollback", run_id)
    assert [run["state"] for run in runs if run["dag_run_id"] == run_id] == ["failed"]

    # Sent by the DAG processor, after the run failed: wait for it, then check it came once.
    (alert,) = _alerts(stack, "run_failed", "model_rollback")
    assert alert["run_id"] == run_id and alert["task_id"] == "rollback_model"
    assert alert["error"] == "ERROR: /models/versions/v0999: no such model version"
    run_path = urllib.parse.quote(run_id)
    assert (
        alert["log_url"]
        == f"http://localhost:{stack.port}/dags/model_rollback/runs/{run_path}/tasks/rollback_model?try_number=1"
    )

    # The retrain run triggered in test_documented_cli_commands_work waited, queued, longer than its deadline.
    late = _alerts(stack, "deadline_missed", RETRAIN)
    assert {alert["run_id"] for alert in late} <= {run["dag_run_id"] for run in _runs(stack, token, RETRAIN)}

    # The webhook URL is only in the Connection: in no component's environment, no log.
    for service in (*AIRFLOW_SERVICES, "airflow-init"):
        container_id = stack.compose("ps", "--all", "--quiet", service).stdout.strip()
        environment = _run(["docker", "inspect", "--format", "{{json .Config.Env}}", container_id]).stdout
        assert (WEBHOOK_TOKEN in environment) == (service == "airflow-init"), service
    assert WEBHOOK_TOKEN not in stack.compose("logs", "--no-color").stdout


def _runs(stack: Stack, token: str, dag_id: str) -> list[dict[str, Any]]:
    return stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", token=token)["dag_runs"]


# sha256 of every file of the data and models volumes (links followed).
SNAPSHOT = """
import hashlib, json, os
files = {}
for root in ("/data", "/models"):
    for folder, dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                files[path] = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps(files))
"""


def _history(stack: Stack, token: str) -> dict[str, Any]:
    """Every run of the retrain DAG and every task instance of every run, with their states and tries."""
    runs = stack.api("GET", f"/api/v2/dags/{RETRAIN}/dagRuns", token=token)["dag_runs"]
    instances = stack.api("GET", f"/api/v2/dags/{RETRAIN}/dagRuns/~/taskInstances", token=token)["task_instances"]
    return {
        "runs": sorted((run["dag_run_id"], run["run_type"], run["state"]) for run in runs),
        "task instances": sorted((ti["dag_run_id"], ti["task_id"], ti["state"], ti["try_number"]) for ti in instances),
    }


@pytest.mark.e2e
def _wait_until_the_scheduler_has_nothing_due(stack: Stack, token: str, dag_id: str) -> None:
    """Wait until every run of `dag_id` has finished and its next scheduled run is not due for a while: the
    scheduled run an unpause creates for the latest cron tick may start after the runs a test waited for."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns", token=token)["dag_runs"]
        next_run = stack.api("GET", f"/api/v2/dags/{dag_id}", token=token)["next_dagrun_run_after"]
        due_soon = next_run is None or datetime.fromisoformat(next_run) < datetime.now(UTC) + timedelta(minutes=10)
        if not due_soon and all(run["state"] in ("success", "failed") for run in runs):
            return
        assert time.monotonic() < deadline, f"{dag_id}: runs {runs}, next run after {next_run}"
        time.sleep(5)


def test_step_test_on_a_live_stack_runs_that_step_only(stack: Stack) -> None:
    """apache/airflow#35994 and PR #72656: `airflow tasks test` on an unpaused DAG made the scheduler run the
    other steps of its temporary run, and without a date deleted the manual runs from the history. The
    README's command runs the one step and leaves Airflow's database and the volumes as they were."""
    token = stack.token()
    assert stack.api("GET", f"/api/v2/dags/{RETRAIN}", token=token)["is_paused"] is False
    _wait_until_the_scheduler_has_nothing_due(stack, token, RETRAIN)
    before = _history(stack, token)
    assert ("manual", "success") in {(run_type, state) for _, run_type, state in before["runs"]}, before
    volumes = ["-v", f"{stack.settings['MINDPULSE_DATA_VOLUME']}:/data:ro"]
    volumes += ["-v", f"{stack.settings['MINDPULSE_MODELS_VOLUME']}:/models:ro"]
    snapshot = ["docker", "run", "--rm", "--network", "none", *volumes, f"mindpulse/family-base:{TAG}"]
    files = _run([*snapshot, "python", "-c", SNAPSHOT]).stdout
    assert "/data/reference_data.csv" in files

    since = _run(["date", "+%s"]).stdout.strip()
    results = [_step_test(stack), _step_test(stack, "2026-02-09")]
    until = _run(["date", "+%s"]).stdout.strip()

    assert [(result["step"], result["labelled_rows"]) for result in results] == [("check_production_data", 0)] * 2
    # Every container the engine created meanwhile for a retrain step: the two the commands ran. (Each
    # command takes far longer than a scheduler loop, so a run the scheduler had been handed shows here.)
    # Only this stack's step containers (labelled with its deployment, the data volume's name): the other test
    # layers run beside this one on the same engine, with the same images.
    deployment = f"label=org.mindpulse.deployment={stack.settings['MINDPULSE_DATA_VOLUME']}"
    events = ["docker", "events", "--since", since, "--until", until, "--filter", "event=create"]
    events += ["--filter", deployment]
    created = _run([*events, "--format", "{{.Actor.Attributes.image}}"]).stdout.split()
    retrain_images = {f"{catalog.step(name).image_name}:{TAG}" for name in RETRAIN_STEPS}
    assert [image for image in created if image in retrain_images] == [f"mindpulse/check-production-data:{TAG}"] * 2
    assert _history(stack, token) == before
    assert _run([*snapshot, "python", "-c", SNAPSHOT]).stdout == files


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): no extra package."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1000",
        "--remote-debugging-pipe",
    )

    def __init__(self, profile: Path) -> None:
        command_read, self._command_write = os.pipe()
        self._reply_read, reply_write = os.pipe()

        def wire_pipes() -> None:
            # Duplicated first: a pipe end may already be fd 3 or 4 and must not be closed by dup2.
            command, reply = os.dup(command_read), os.dup(reply_write)
            os.dup2(command, 3)
            os.dup2(reply, 4)

        self.process = subprocess.Popen(
            ["chromium", *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire_pipes,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(command_read)
        os.close(reply_write)
        self._buffer = b""
        self._last_id = 0
        self._events: list[dict[str, Any]] = []
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        self.send("Page.enable", session=True)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._reply_read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._reply_read, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._command_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._last_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self._events.append(reply)

    def wait_for_load(self) -> None:
        deadline = time.monotonic() + 60
        while not any(event.get("method") == "Page.loadEventFired" for event in self._events):
            self._events.append(self._receive(deadline))
        self._events.clear()

    def open(self, url: str) -> None:
        self._events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_for_load()

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self._command_write)
            os.close(self._reply_read)


@pytest.mark.e2e
def test_ui_login_and_retrain_graph_in_headless_chromium(stack: Stack, tmp_path: Path) -> None:
    if _run(["sh", "-c", "command -v chromium"]).returncode:
        pytest.fail("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    artifacts = Path(os.environ.get("MINDPULSE_E2E_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    browser = Chromium(Path(tempfile.mkdtemp(dir=tmp_path)))
    try:
        browser.open(f"{stack.base_url}/auth/login/")
        browser.evaluate(
            "document.getElementById('username').value = 'admin';"
            "document.getElementById('password').value = 'admin';"
            "document.forms['login'].submit();"
        )
        browser.wait_for_load()
        assert "/auth/login" not in browser.evaluate("location.href"), "the login form did not accept admin/admin"

        # The DAG page shows the graph instead of the grid when this UI preference says so.
        browser.evaluate("localStorage.setItem('default_dag_view', JSON.stringify('graph'))")
        browser.open(f"{stack.base_url}/dags/{RETRAIN}")
        nodes: list[str] = []
        deadline = time.monotonic() + 60
        while set(nodes) < set(RETRAIN_STEPS) and time.monotonic() < deadline:
            time.sleep(1)
            nodes = browser.evaluate("[...document.querySelectorAll('.react-flow__node')].map(n => n.dataset.id)") or []
        time.sleep(2)  # the graph fits itself into the view after the nodes appear
        shot = artifacts / "ml_retrain_pipeline_graph.png"
        browser.screenshot(shot)
        page_text = browser.evaluate("document.body.innerText")
    finally:
        browser.close()
    assert set(nodes) >= set(RETRAIN_STEPS), f"graph nodes {nodes}; screenshot {shot}"
    assert RETRAIN in page_text
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


EVIDENTLY_PANELS = ("Drift share", "Accuracy")
# The data points of each dashboard panel: the UI draws each as an SVG circle of the panel's chart.
PANEL_POINTS = """titles => JSON.stringify(Object.fromEntries(titles.map(title => {
  const heading = [...document.querySelectorAll('body *')].find(e => !e.childElementCount && e.textContent === title);
  let panel = heading;
  while (panel && !panel.querySelector('svg')) panel = panel.parentElement;
  return [title, panel ? panel.querySelectorAll('svg circle.MuiMarkElement-root').length : 0];
})))"""


def _wait_for_http(url: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError) as error:
            assert time.monotonic() < deadline, f"{url}: {error}"
            time.sleep(3)


@pytest.mark.e2e
def test_evidently_ui_profile_shows_drift_and_accuracy_over_time(stack: Stack, tmp_path: Path) -> None:
    """After a third reporting run with fresh traffic (the retrain archived the seeded rows, so the
    asset-triggered run had none), the drift and performance reports have two runs each."""
    data, models = stack.settings["MINDPULSE_DATA_VOLUME"], stack.settings["MINDPULSE_MODELS_VOLUME"]
    traffic = _run(
        ["docker", "run", "--rm", "--network", "none", "-e", "ROWS=300", "-e", "SEED=21", "-v", f"{data}:/data",
         "-v", f"{models}:/models:ro", f"mindpulse/simulate-traffic:{TAG}"]
    )  # fmt: skip
    assert traffic.returncode == 0, traffic.stderr
    _unpause_and_trigger(stack, REPORTING)

    profile = ("--profile", "evidently-ui")
    up = stack.compose(*profile, "up", "-d", "evidently-ui")
    assert up.returncode == 0, up.stderr[-3000:]
    artifacts = Path(os.environ.get("MINDPULSE_E2E_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "evidently_ui_dashboard.png"
    try:
        container = stack.container("evidently-ui")
        inspected = json.loads(_run(["docker", "inspect", container]).stdout)[0]
        assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"]
        assert [mount["RW"] for mount in inspected["Mounts"]] == [False], "the UI only reads the workspace"
        (binding,) = inspected["HostConfig"]["PortBindings"]["8000/tcp"]
        assert binding["HostIp"] == "127.0.0.1"

        ui = f"http://127.0.0.1:{stack.settings['EVIDENTLY_UI_PORT']}"
        (project,) = _wait_for_http(f"{ui}/api/projects")
        assert project["name"] == "MindPulse"
        browser = Chromium(Path(tempfile.mkdtemp(dir=tmp_path)))
        try:
            browser.open(f"{ui}/projects/{project['id']}")
            points: dict[str, int] = {}
            deadline = time.monotonic() + 60
            while min(points.values(), default=0) < 2 and time.monotonic() < deadline:
                time.sleep(1)
                points = json.loads(browser.evaluate(f"({PANEL_POINTS})({json.dumps(EVIDENTLY_PANELS)})"))
            time.sleep(1)  # the charts' entry animation
            browser.screenshot(shot)
        finally:
            browser.close()
    finally:
        stack.compose(*profile, "rm", "--stop", "--force", "evidently-ui")
    assert all(points[title] >= 2 for title in EVIDENTLY_PANELS), f"points per panel {points}; screenshot {shot}"
    print(f"screenshot: {shot}")


@pytest.mark.e2e
def test_starting_again_does_not_seed_again(stack: Stack) -> None:
    data = stack.shared / "data"
    before = {path.name: path.read_bytes() for path in data.glob("*.csv")}
    up = stack.compose("up", "-d", timeout=STACK_TIMEOUT)
    assert up.returncode == 0, up.stderr[-3000:]
    assert {path.name: path.read_bytes() for path in data.glob("*.csv")} == before
    assert "nothing to seed" in stack.logs("demo-bootstrap") and "nothing to seed" in stack.logs("demo-traffic")
