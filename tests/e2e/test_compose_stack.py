"""The compose stack end to end, the way a user runs it: `docker compose up airflow-init`,
`docker compose up -d`, the README's commands, both DAGs through the REST API, the reports on the
host, and the UI in headless Chromium, driven by Playwright.

The stack is a throwaway one that can run next to a user's (tests/e2e/compose_stack.py). It needs the
images of ./build_images.sh and Debian's `chromium` (`.ci/run` provides both; tests/e2e/browser.py).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from mindpulse import catalog
from mindpulse.paths import VOLUME_DIRS
from tests.e2e import alert_receiver
from tests.e2e.browser import chromium_page
from tests.e2e.compose_stack import (
    AIRFLOW_SERVICES,
    REPO,
    REPORTING,
    RETRAIN,
    RUN_TIMEOUT,
    STACK_TIMEOUT,
    TAG,
    Stack,
    run_command,
)
from tests.e2e.engine_attacks import DEFAULT_PASSWORD_REFUSAL, GUARD_REFUSALS, attack_engine
from tests.e2e.model_attacks import MODEL_ANSWERS, attack_live_model
from tests.integration.airflow_harness import RETRAIN_STEPS, decoded_xcom

SEEDED_ROWS = 1500
# In the webhook URL's path, as a real token is: it must appear in no log and no component's environment.
WEBHOOK_TOKEN = "e2e-webhook-token"

# Seconds each phase took, printed at the end of the module.
TIMINGS: dict[str, float] = {}


def _timed(label: str, started: float) -> None:
    TIMINGS[label] = time.monotonic() - started


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    missing = [
        name
        for name in ("airflow", "postgres", "guard", "bootstrap", "simulate-traffic", "check-production-data")
        if run_command(["docker", "image", "inspect", f"mindpulse/{name}:{TAG}"]).returncode
    ]
    if missing:
        pytest.fail(f"images not built (run ./build_images.sh): {', '.join(missing)}")

    def settings(project: str) -> dict[str, str]:
        return {
            # airflow-init stores it in the Connection mindpulse_webhook; the receiver starts once the network
            # exists.
            "MINDPULSE_WEBHOOK_URL": f"http://{project}-alert-receiver:{alert_receiver.PORT}/hooks/{WEBHOOK_TOKEN}",
            # Missed for sure: the retrain run triggered while its DAG is paused waits longer than this.
            "MINDPULSE_RETRAIN_DEADLINE": "1",
        }

    stack = Stack.create(tmp_path_factory, "e2e", settings)
    receiver = stack.container("alert-receiver")
    try:
        started = time.monotonic()
        init = stack.compose("up", "airflow-init", timeout=STACK_TIMEOUT)
        _timed("docker compose up airflow-init", started)
        init_id = stack.compose("ps", "--all", "--quiet", "airflow-init").stdout.strip()
        exit_code = run_command(["docker", "inspect", "--format", "{{.State.ExitCode}}", init_id]).stdout.strip()
        assert init.returncode == 0 and exit_code == "0", init.stdout[-3000:] + init.stderr[-3000:]
        alert_receiver.start(receiver, f"{stack.project}_default", f"mindpulse/family-base:{TAG}")

        up_started = time.monotonic()
        up = stack.compose("up", "-d", timeout=STACK_TIMEOUT)
        _timed("docker compose up -d (includes demo seeding)", up_started)
        assert up.returncode == 0, up.stderr[-3000:] + stack.logs("airflow-init", "demo-bootstrap", "demo-traffic")

        stack.wait_healthy(AIRFLOW_SERVICES)
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
        for volume in (stack.settings[f"MINDPULSE_{kind.upper()}_VOLUME"] for kind in VOLUME_DIRS):
            leftovers = run_command(["docker", "ps", "--all", "--quiet", "--filter", f"volume={volume}"]).stdout.split()
            if leftovers:
                run_command(["docker", "rm", "--force", *leftovers])
        stack.compose("down", "--volumes", timeout=300)
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            for label, seconds in TIMINGS.items():
                reporter.write_line(f"e2e timing: {label}: {seconds:.0f} s")


def _unpause_and_trigger(stack: Stack, dag_id: str) -> list[dict[str, Any]]:
    """The REST way a client runs a DAG; returns every run of the DAG once all have finished."""
    token = stack.token()
    stack.unpause(token, dag_id)
    started = time.monotonic()
    run_id = stack.trigger(token, dag_id)
    runs = stack.wait_for_runs(token, dag_id, run_id)
    _timed(f"{dag_id}: triggered run and the runs before it", started)
    failed = {}
    for run in runs:
        states = {task: ti["state"] for task, ti in stack.instances(token, dag_id, run["dag_run_id"]).items()}
        if "failed" in states.values():
            failed[run["dag_run_id"]] = states
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
import json, os
from airflow.configuration import conf
print(json.dumps({
    "fernet_key": conf.get("core", "fernet_key"),
    "jwt_secret": conf.get("api_auth", "jwt_secret"),
    "api_secret_key": conf.get("api", "secret_key"),
    "sql_alchemy_conn": conf.get("database", "sql_alchemy_conn"),
    "jwt volume": os.path.exists("/opt/airflow/jwt"),
}))
"""
# The components that sign task tokens, the only ones that read the JWT secret (docker-compose.yml, x-signing-env).
SIGNERS = ("airflow-webserver", "airflow-scheduler")


def _repository_text() -> str:
    listed = run_command(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"]
    ).stdout.split()
    files = [REPO / path for path in listed if (REPO / path).is_file()]
    return "\n".join(path.read_bytes().decode(errors="replace") for path in files if path.stat().st_size < 1 << 20)


@pytest.mark.e2e
def test_secrets_are_generated_shared_and_found_nowhere_else(stack: Stack) -> None:
    seen = {}
    for service in ("airflow-webserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        printed = stack.exec(service, "python", "-c", SECRETS_SCRIPT)
        assert printed.returncode == 0, printed.stderr[-2000:]
        seen[service] = json.loads(printed.stdout.strip().splitlines()[-1])
    # Every component must have the same values; the JWT secret only the two that sign and check task tokens.
    first = seen["airflow-webserver"]
    shared = ("fernet_key", "api_secret_key", "sql_alchemy_conn")
    assert all(
        {name: values[name] for name in shared} == {name: first[name] for name in shared} for values in seen.values()
    )
    for service, values in seen.items():
        signs = service in SIGNERS
        assert (values["jwt_secret"] == first["jwt_secret"], values["jwt volume"]) == (signs, signs), service

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
        environment = run_command(["docker", "inspect", "--format", "{{json .Config.Env}}", container_id]).stdout
        assert [name for name, value in generated.items() if value in environment] == [], service


@pytest.mark.e2e
def test_the_scheduler_reaches_the_engine_only_through_the_guard_which_refuses_every_attack(stack: Stack) -> None:
    victim = stack.compose("ps", "--quiet", "postgres").stdout.strip()
    # The target is there: PostgreSQL runs, and the engine itself would let its owner exec into it.
    assert run_command(["docker", "exec", victim, "true"]).returncode == 0
    results = attack_engine(stack, "airflow-scheduler", victim)
    assert results.pop("engine socket mounted") is False
    expected = {
        name: "403 mindpulse-guard: refused " + line.replace("{victim}", victim)
        for name, line in GUARD_REFUSALS.items()
    }
    assert results == expected
    guard_log = run_command(["docker", "logs", stack.container("docker-guard")]).stderr
    for line in expected.values():
        assert line.removeprefix("403 mindpulse-guard: ") in guard_log
    # The other components hold no engine at all: the API server faces the network.
    results = attack_engine(stack, "airflow-webserver", victim)
    assert results["engine socket mounted"] is False and results["engine"].startswith("unreachable"), results


@pytest.mark.e2e
def test_publishing_the_ui_beyond_this_machine_with_the_default_password_is_refused(stack: Stack) -> None:
    assert stack.token()  # admin/admin logs in: the stack, on 127.0.0.1, still has the demo password
    refused = stack.compose("run", "--rm", "--no-deps", "-e", "AIRFLOW_BIND_ADDRESS=0.0.0.0", "airflow-init")
    printed = refused.stdout + refused.stderr
    assert refused.returncode != 0, printed[-3000:]
    assert DEFAULT_PASSWORD_REFUSAL in printed, printed[-3000:]


def _warnings(printed: subprocess.CompletedProcess) -> list[str]:
    """The warning lines a command printed. Both streams: Airflow's structlog prints its warnings on stdout."""
    return [line for line in (printed.stdout + printed.stderr).splitlines() if "warning" in line.lower()]


# The README's debugging command, and the one people type anyway, which the image's `airflow` routes to it.
STEP_TEST = ("mindpulse-step-test",)
TASKS_TEST = ("airflow", "tasks", "test")


def _step_test(stack: Stack, *date: str, command: tuple[str, ...] = STEP_TEST) -> dict[str, Any]:
    """A debugging command on check_production_data; its result (stdout is that line alone).

    Runs the real step container, so it must be the scheduler: it holds the Docker socket."""
    started = time.monotonic()
    tested = stack.exec("airflow-scheduler", *command, RETRAIN, "check_production_data", *date)
    _timed(f"{' '.join(command)} check_production_data {' '.join(date)}", started)
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
    runs = stack.runs(token, RETRAIN)
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
    assert "index.html" in (reports / "history.html").read_text(), "the full history links back to the window"
    # The summary measured the real volumes for the dashboard.
    newest = sorted(reports.glob("report_summary_*.json"))[-1]
    assert set(json.loads(newest.read_text())["volumes"]) == {"data", "models", "reports"}
    assert "<h2>Volumes</h2>" in (reports / "index.html").read_text()


@pytest.mark.e2e
def test_maintenance_dag_cleans_airflow_and_the_volumes_and_keeps_the_live_model(stack: Stack) -> None:
    """On the stack's PostgreSQL, with the foreign keys SQLite does not enforce: Airflow's own db clean, its logs,
    and the project's retention, each reporting what it removed."""
    live = (stack.shared / "models" / "current").readlink()
    (run,) = [run for run in _unpause_and_trigger(stack, "mindpulse_maintenance") if run["run_type"] == "manual"]
    token = stack.token()
    quoted = urllib.parse.quote(run["dag_run_id"], safe="")
    results = {
        task_id: stack.api(
            "GET",
            f"/api/v2/dags/mindpulse_maintenance/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/return_value",
            token=token,
        )["value"]
        for task_id in ("apply_retention", "clean_airflow_database", "trim_task_logs")
    }
    cleaned, trimmed, retained = (
        decoded_xcom(results[task_id]) for task_id in ("clean_airflow_database", "trim_task_logs", "apply_retention")
    )
    assert isinstance(cleaned["deleted_rows"], dict) and cleaned["older_than"]
    assert trimmed["kept_files"] > 0, "this run's own logs and the earlier runs' are younger than 30 days"
    assert retained["dry_run"] is False
    assert (stack.shared / "models" / "current").readlink() == live


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
        runs = stack.runs(token, REPORTING)
        triggered = [run["dag_run_id"] for run in runs if run["run_type"] == "asset_triggered"]
        if triggered:
            break
        assert time.monotonic() < deadline, f"no asset-triggered reporting run: {runs}"
        time.sleep(5)
    runs = stack.wait_for_runs(token, REPORTING, triggered[0])
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
    stack.unpause(token, "model_rollback")
    conf = {"to_version": "v0999", "reason": "e2e: a version that does not exist"}
    run_id = stack.trigger(token, "model_rollback", conf)
    runs = stack.wait_for_runs(token, "model_rollback", run_id)
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
    assert {alert["run_id"] for alert in late} <= {run["dag_run_id"] for run in stack.runs(token, RETRAIN)}

    # The webhook URL is only in the Connection: in no component's environment, no log.
    for service in (*AIRFLOW_SERVICES, "airflow-init"):
        container_id = stack.compose("ps", "--all", "--quiet", service).stdout.strip()
        environment = run_command(["docker", "inspect", "--format", "{{json .Config.Env}}", container_id]).stdout
        assert (WEBHOOK_TOKEN in environment) == (service == "airflow-init"), service
    assert WEBHOOK_TOKEN not in stack.compose("logs", "--no-color").stdout


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
    runs = stack.runs(token, RETRAIN)
    instances = stack.api("GET", f"/api/v2/dags/{RETRAIN}/dagRuns/~/taskInstances", token=token)["task_instances"]
    return {
        "runs": sorted((run["dag_run_id"], run["run_type"], run["state"]) for run in runs),
        "task instances": sorted((ti["dag_run_id"], ti["task_id"], ti["state"], ti["try_number"]) for ti in instances),
    }


def _wait_until_the_scheduler_has_nothing_due(stack: Stack, token: str, dag_id: str) -> None:
    """Wait until every run of `dag_id` has finished and its next scheduled run is not due for a while: the
    scheduled run an unpause creates for the latest cron tick may start after the runs a test waited for."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        runs = stack.runs(token, dag_id)
        next_run = stack.api("GET", f"/api/v2/dags/{dag_id}", token=token)["next_dagrun_run_after"]
        due_soon = next_run is None or datetime.fromisoformat(next_run) < datetime.now(UTC) + timedelta(minutes=10)
        if not due_soon and all(run["state"] in ("success", "failed") for run in runs):
            return
        assert time.monotonic() < deadline, f"{dag_id}: runs {runs}, next run after {next_run}"
        time.sleep(5)


@contextmanager
def _containers_created(label: str) -> Iterator[list[str]]:
    """The images of the containers with `label` the engine creates while the block runs, in order.

    Watched as they happen: the engine replays only its last 256 events, and the layers running alongside on a
    busy engine make more than that while a block of a minute runs (CI once lost the first of two creates)."""
    command = ["docker", "events", "--since", f"{time.time():.3f}", "--filter", "event=create", "--filter"]
    command += [f"label={label}", "--format", "{{.Actor.Attributes.image}}"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as watcher:
        created: list[str] = []
        try:
            yield created
            time.sleep(2)  # the last create's event is on its way
        finally:
            watcher.terminate()
            created += watcher.communicate(timeout=30)[0].split()


@pytest.mark.e2e
def test_step_test_on_a_live_stack_runs_that_step_only(stack: Stack) -> None:
    """apache/airflow#35994 and PR #72656: `airflow tasks test` on an unpaused DAG made the scheduler run the
    other steps of its temporary run, and without a date deleted the manual runs from the history. The
    README's command, and both forms of `airflow tasks test` (the seed's), run the one step and leave Airflow's
    database and the volumes as they were."""
    token = stack.token()
    assert stack.api("GET", f"/api/v2/dags/{RETRAIN}", token=token)["is_paused"] is False
    _wait_until_the_scheduler_has_nothing_due(stack, token, RETRAIN)
    before = _history(stack, token)
    assert ("manual", "success") in {(run_type, state) for _, run_type, state in before["runs"]}, before
    volumes = ["-v", f"{stack.settings['MINDPULSE_DATA_VOLUME']}:/data:ro"]
    volumes += ["-v", f"{stack.settings['MINDPULSE_MODELS_VOLUME']}:/models:ro"]
    snapshot = ["docker", "run", "--rm", "--network", "none", *volumes, f"mindpulse/family-base:{TAG}"]
    files = run_command([*snapshot, "python", "-c", SNAPSHOT]).stdout
    assert "/data/reference_data.csv" in files

    # Only this stack's step containers (labelled with its deployment, the data volume's name): the other test
    # layers run beside this one on the same engine, with the same images.
    with _containers_created(f"org.mindpulse.deployment={stack.settings['MINDPULSE_DATA_VOLUME']}") as created:
        results = [
            _step_test(stack, *date, command=command)
            for command in (STEP_TEST, TASKS_TEST)
            for date in ((), ("2026-02-09",))
        ]

    assert [(result["step"], result["labelled_rows"]) for result in results] == [("check_production_data", 0)] * 4
    # Every container the engine created meanwhile for a retrain step: the four the commands ran. (Each
    # command takes far longer than a scheduler loop, so a run the scheduler had been handed shows here.)
    retrain_images = {f"{catalog.step(name).image_name}:{TAG}" for name in RETRAIN_STEPS}
    assert [image for image in created if image in retrain_images] == [f"mindpulse/check-production-data:{TAG}"] * 4
    assert _history(stack, token) == before
    assert run_command([*snapshot, "python", "-c", SNAPSHOT]).stdout == files


@pytest.mark.e2e
def test_a_crafted_model_with_its_checksum_recomputed_is_refused_and_never_unpickled(stack: Stack) -> None:
    """Issue 20's model attack: the keys airflow-init made, the real step image, the README's `docker run`."""
    found = attack_live_model(stack)

    planted, version = found["planted"], found["planted"]["version"]
    assert found["unverified"] == {"checksum_holds": True, "pickle_ran": True}, "the attack did not land"
    [answer, trust_answer] = MODEL_ANSWERS.values()
    assert found["exit_code"] == 1 and found["stderr"] == [answer.format(version=version)], found
    assert found["data_unchanged"] and not found["pickle_ran_in_step"]
    assert planted["trust"] == trust_answer
    assert stack.exec("airflow-scheduler", "true").returncode == 0  # the stack is still there for the next tests


# The ids of the DAG graph's nodes, and whether every step is among them.
GRAPH_NODES = "() => [...document.querySelectorAll('.react-flow__node')].map(node => node.dataset.id)"
EVERY_STEP_SHOWN = f"steps => {{ const shown = ({GRAPH_NODES})(); return steps.every(step => shown.includes(step)); }}"


def _wait_until(page: Page, predicate: str, argument: Any, seconds: float = 60) -> None:
    """Wait until the JavaScript `predicate` holds, or give up quietly: the assertion after it says what showed."""
    with suppress(PlaywrightTimeoutError):
        page.wait_for_function(predicate, arg=argument, timeout=seconds * 1000)


@pytest.mark.e2e
def test_ui_login_and_retrain_graph_in_headless_chromium(stack: Stack, tmp_path: Path) -> None:
    artifacts = Path(os.environ.get("MINDPULSE_E2E_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "ml_retrain_pipeline_graph.png"
    with chromium_page() as page:
        page.goto(f"{stack.base_url}/auth/login/")
        page.fill("#username", "admin")
        page.fill("#password", "admin")
        page.press("#password", "Enter")
        page.wait_for_url(lambda url: "/auth/login" not in url)

        # The DAG page shows the graph instead of the grid when this UI preference says so.
        page.evaluate("localStorage.setItem('default_dag_view', JSON.stringify('graph'))")
        page.goto(f"{stack.base_url}/dags/{RETRAIN}")
        _wait_until(page, EVERY_STEP_SHOWN, list(RETRAIN_STEPS))
        page.wait_for_timeout(2000)  # the graph fits itself into the view after the nodes appear
        page.screenshot(path=shot)
        nodes = page.evaluate(GRAPH_NODES)
        page_text = page.inner_text("body")
    assert set(nodes) >= set(RETRAIN_STEPS), f"graph nodes {nodes}; screenshot {shot}"
    assert RETRAIN in page_text
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


EVIDENTLY_PANELS = ("Drift share", "Accuracy")
# The data points of each dashboard panel: the UI draws each as an SVG circle of the panel's chart.
PANEL_POINTS = """titles => Object.fromEntries(titles.map(title => {
  const heading = [...document.querySelectorAll('body *')].find(e => !e.childElementCount && e.textContent === title);
  let panel = heading;
  while (panel && !panel.querySelector('svg')) panel = panel.parentElement;
  return [title, panel ? panel.querySelectorAll('svg circle.MuiMarkElement-root').length : 0];
}))"""
EVERY_PANEL_HAS_TWO_POINTS = f"titles => Object.values(({PANEL_POINTS})(titles)).every(points => points >= 2)"


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
    trust = stack.settings["MINDPULSE_TRUST_VOLUME"]
    traffic = run_command(
        ["docker", "run", "--rm", "--network", "none", "-e", "ROWS=300", "-e", "SEED=21", "-v", f"{data}:/data",
         "-v", f"{models}:/models:ro", "-v", f"{trust}:/trust:ro", f"mindpulse/simulate-traffic:{TAG}"]
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
        inspected = json.loads(run_command(["docker", "inspect", container]).stdout)[0]
        assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"]
        assert [mount["RW"] for mount in inspected["Mounts"]] == [False], "the UI only reads the workspace"
        (binding,) = inspected["HostConfig"]["PortBindings"]["8000/tcp"]
        assert binding["HostIp"] == "127.0.0.1"

        ui = f"http://127.0.0.1:{stack.settings['EVIDENTLY_UI_PORT']}"
        (project,) = _wait_for_http(f"{ui}/api/projects")
        assert project["name"] == "MindPulse"
        with chromium_page() as page:
            page.goto(f"{ui}/projects/{project['id']}")
            _wait_until(page, EVERY_PANEL_HAS_TWO_POINTS, list(EVIDENTLY_PANELS))
            page.wait_for_timeout(1000)  # the charts' entry animation
            page.screenshot(path=shot)
            points = page.evaluate(PANEL_POINTS, list(EVIDENTLY_PANELS))
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
