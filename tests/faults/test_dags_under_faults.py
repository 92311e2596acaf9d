"""Faults around the orchestrator, with real `airflow dags test` runs of the DAGs.

- Both DAGs at once, two processes (each with its own Airflow home: two `dags test` on one SQLite file would
  fight over its lock) on the same volumes. Both succeed; a witness container reads the live model
  (checksum verified), reference_data.csv and prod_data.csv the whole time and only ever sees the complete
  files of one state or the next (no torn read); and it writes a report of its own under mindpulse.atomic's
  temporary name for as long as the DAGs run, so cleanup_old_reports runs while a report is being written:
  cleanup deletes exactly the old reports beyond the newest ten, and the report being written is published
  intact afterwards.
- The orchestrator dies mid-run: the `airflow dags test` process is SIGKILLed while train_new_model's
  container runs. The container carries on and finishes (nothing stops it). When it has (a retry waits
  retry_delay, a minute), the run goes on as a restarted scheduler continues it: the tasks that had
  finished stay so, the interrupted one is tried again, then the rest run. `dags test` cannot resume a run,
  so it runs the DAG again with the finished tasks marked successful (--mark-success-pattern). The retried
  train_new_model finds the version its orphaned first try registered, and the registry ends as after an
  uninterrupted run, every production row archived once. Restarting the scheduler of the compose stack
  instead would test the same steps at several times the cost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from docker.models.containers import Container

from tests.faults.conftest import RETRAIN_CONF, Baseline
from tests.faults.fault_harness import FaultHarness, State
from tests.integration.airflow_harness import TOOL_IMAGE, Volumes, airflow_executable

pytestmark = [pytest.mark.airflow, pytest.mark.docker]

RETRAIN, REPORTING = "ml_retrain_pipeline", "evidently_reporting_pipeline"
REPORT_KINDS = ("data_quality", "data_drift", "model_performance")
OLD_STAMPS = [f"202601{day:02d}_000000" for day in range(1, 12)]  # eleven, one more than cleanup keeps
KEPT = 10  # cleanup_old_reports' default max_reports
WITNESS_STAMP = "20991231_235959"
STOP_FILE = "/reports/.witness-stop"

# Runs in the base image with /data and /models read-only, /reports writable. Until STOP_FILE appears it
# writes a data drift report through mindpulse.atomic, a few kB at a time, and between writes reads the
# live model (registry.verified_model_path), reference_data.csv and prod_data.csv (under the append lock,
# as the steps do), each of which must be the complete bytes of one of the states ALLOWED_* lists.
WITNESS_SCRIPT = r"""
import hashlib, json, os, time
from mindpulse import atomic, production, registry
from mindpulse.paths import Layout

layout = Layout.from_env()
allowed = {name: set(os.environ[f"ALLOWED_{name.upper()}"].split()) for name in ("reference", "production")}
seen = {"versions": set(), "reference": set(), "production": set()}
reads, failures = 0, []

def look():
    global reads
    try:
        seen["versions"].add(registry.verified_model_path(layout).parent.name)
        for name, content in (
            ("reference", layout.reference_data.read_bytes()),
            ("production", production.read_snapshot(layout)),
        ):
            digest = hashlib.sha256(content).hexdigest()
            seen[name].add(digest)
            if digest not in allowed[name]:
                failures.append(f"{name}: {len(content)} bytes that are no complete version of it")
        reads += 1
    except Exception as error:
        failures.append(f"{type(error).__name__}: {error}")

def write_slowly(path):
    with open(path, "wb") as handle:
        print("writing", flush=True)
        while not os.path.exists(os.environ["STOP_FILE"]):
            handle.write(b"<p>written while both pipelines run</p>\n" * 100)
            handle.flush()
            look()
            time.sleep(0.05)

stamp = os.environ["STAMP"]
html = layout.report_file("data_drift", stamp, "html")
atomic.write_with(html, write_slowly)
atomic.write_json(layout.report_file("data_drift", stamp, "json"), {"kind": "data_drift", "stamp": stamp})
print(json.dumps({
    "reads": reads, "failures": failures[:10], "failed": len(failures),
    "seen": {name: sorted(values) for name, values in seen.items()},
    "html_sha256": hashlib.sha256(html.read_bytes()).hexdigest(),
}))
"""


def _start_dag_test(faults: FaultHarness, dag_id: str, volumes: Volumes, log: Path) -> subprocess.Popen:
    """`airflow dags test` in the background, in a process group of its own (so that it can be killed whole),
    its output to `log`."""
    conf = ["--conf", json.dumps(RETRAIN_CONF)] if dag_id == RETRAIN else []
    with open(log, "w") as output:
        return subprocess.Popen(
            [str(airflow_executable()), "dags", "test", dag_id, *conf],
            env=faults.airflow_environment(volumes.environment()),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(process: subprocess.Popen, log: Path, timeout: float = 900) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"dags test did not finish in {timeout} s:\n{log.read_text()[-4000:]}") from None
    assert process.returncode == 0, log.read_text()[-4000:]


def _overlap(first: tuple[datetime, datetime], second: tuple[datetime, datetime]) -> float:
    return (min(first[1], second[1]) - max(first[0], second[0])).total_seconds()


def _span(times: dict[str, tuple[datetime | None, datetime | None]], *tasks: str) -> tuple[datetime, datetime]:
    starts = [times[task][0] for task in tasks if times[task][0]]
    ends = [times[task][1] for task in tasks if times[task][1]]
    return min(starts), max(ends)


def _assert_consumed_once(final: State, baseline: Baseline) -> None:
    """Every production row of the seed is archived exactly once, none is left, nothing is half-written."""
    assert final.problems == [], final.problems
    assert final.model.startswith("loaded"), final.model
    assert final.production_rows == []
    assert final.archived() == Counter(baseline.seed_state.production_rows)
    assert "/data/consumption.json" not in final.files


def test_retrain_and_reporting_at_once_read_whole_files_and_keep_the_report_being_written(
    faults: FaultHarness, baseline: Baseline, tmp_path: Path
) -> None:
    volumes = faults.copy_of(baseline.seed, "together")
    faults.shell(
        volumes,
        " && ".join(
            f"echo '<html>old</html>' > /reports/{kind}_report_{stamp}.html"
            f' && echo \'{{"kind": "{kind}", "stamp": "{stamp}"}}\' > /reports/{kind}_report_{stamp}.json'
            for kind in REPORT_KINDS
            for stamp in OLD_STAMPS
        ),
    )
    seed, trained = baseline.seed_state, baseline.state_after("train_new_model")
    archived = baseline.state_after("archive_production_data")
    witness: Container = faults.client.containers.run(
        TOOL_IMAGE,
        ["python", "-c", WITNESS_SCRIPT],
        detach=True,
        environment={
            "STAMP": WITNESS_STAMP,
            "STOP_FILE": STOP_FILE,
            "ALLOWED_REFERENCE": " ".join(
                {seed.files["/data/reference_data.csv"], trained.files["/data/reference_data.csv"]}
            ),
            "ALLOWED_PRODUCTION": " ".join({seed.files["/data/prod_data.csv"], archived.files["/data/prod_data.csv"]}),
        },
        volumes=volumes.binds("ro") | {volumes.reports: {"bind": "/reports", "mode": "rw"}},
        network_mode="none",
    )
    try:
        reporting_home = tmp_path / "reporting-home"
        reporting_home.mkdir()
        (reporting_home / "airflow.db").write_bytes((faults.airflow_home / "airflow.db").read_bytes())
        reporting_faults = FaultHarness.sharing(faults, airflow_home=reporting_home)
        started = time.monotonic()
        retrain = _start_dag_test(faults, RETRAIN, volumes, tmp_path / "retrain.log")
        reporting = _start_dag_test(reporting_faults, REPORTING, volumes, tmp_path / "reporting.log")
        _wait(retrain, tmp_path / "retrain.log")
        _wait(reporting, tmp_path / "reporting.log")
        print(f"both DAGs at once: {time.monotonic() - started:.0f} s")
        faults.shell(volumes, f"touch {STOP_FILE}")
        assert witness.wait(timeout=120)["StatusCode"] == 0, witness.logs().decode()[-3000:]
        seen = json.loads(witness.logs(stderr=False).decode().strip().splitlines()[-1])
    finally:
        witness.remove(force=True)

    retrain_run, reporting_run = faults.last_run(RETRAIN), reporting_faults.last_run(REPORTING)
    assert (retrain_run.state, reporting_run.state) == ("success", "success"), (retrain_run.tasks, reporting_run.tasks)
    assert retrain_run.tasks["archive_production_data"] == "success"
    # A production report is skipped, not failed, when the archive step emptied prod_data.csv before it read.
    written = {kind for kind in REPORT_KINDS if reporting_run.tasks[f"generate_{kind}_report"] == "success"}
    assert reporting_run.tasks["generate_data_quality_report"] == "success", reporting_run.tasks
    assert set(reporting_run.tasks.values()) <= {"success", "skipped"}, reporting_run.tasks
    writes = _span(retrain_run.times, "backup_current_model", "archive_production_data")
    reads = _span(reporting_run.times, *reporting_run.tasks)
    print(f"retrain wrote {writes[0]:%H:%M:%S}-{writes[1]:%H:%M:%S}, reporting {reads[0]:%H:%M:%S}-{reads[1]:%H:%M:%S}")
    assert _overlap(writes, reads) > 0, "the DAGs did not overlap: nothing was tested"

    assert seen["failed"] == 0, seen["failures"]
    assert seen["reads"] >= 10, seen
    print(f"witness: {seen['reads']} reads of model, reference and production data; saw {seen['seen']['versions']}")

    # Eleven old reports of each kind, plus this run's where it wrote one; cleanup keeps the newest ten.
    deleted = {kind: len(OLD_STAMPS) + (kind in written) - KEPT for kind in REPORT_KINDS}
    assert reporting_run.results["cleanup_old_reports"]["deleted"] == deleted, reporting_run.results
    (final,) = faults.inspect(volumes, load_model=True)
    reports = {Path(path).name for path in final.final() if path.startswith("/reports/")}
    stamp = reporting_run.run_after.strftime("%Y%m%d_%H%M%S")
    for kind in REPORT_KINDS:
        gone, kept = OLD_STAMPS[: deleted[kind]], OLD_STAMPS[deleted[kind] :]
        assert {f"{kind}_report_{old}.{suffix}" for old in gone for suffix in ("html", "json")}.isdisjoint(reports)
        assert {f"{kind}_report_{old}.{suffix}" for old in kept for suffix in ("html", "json")} <= reports
        assert (f"{kind}_report_{stamp}.html" in reports) == (kind in written)
    witness_report = f"/reports/data_drift_report_{WITNESS_STAMP}.html"
    assert final.files[witness_report] == seen["html_sha256"], "the report written during the cleanup was lost"
    _assert_consumed_once(final, baseline)


def _started_container(
    faults: FaultHarness, process: subprocess.Popen, name: str, volume: str, timeout: float = 900
) -> Container:
    """The container whose name starts with `name` and that mounts `volume`, once it has printed a line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "dags test ended before the container started"
        for container in faults.client.containers.list(filters={"name": name, "volume": volume}):
            if container.logs(stdout=True, stderr=False).strip():
                return container
        time.sleep(0.1)
    raise AssertionError(f"no container {name}* on {volume} printed anything in {timeout} s")


def test_a_killed_orchestrator_and_a_retry_of_the_dag_run(
    faults: FaultHarness, baseline: Baseline, tmp_path: Path
) -> None:
    volumes = faults.copy_of(baseline.seed, "orchestrator-killed")
    process = _start_dag_test(faults, RETRAIN, volumes, tmp_path / "killed.log")
    container = _started_container(faults, process, "mindpulse-train-new-model-", volumes.models)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    container.reload()
    assert container.status == "running", "the step had finished before the orchestrator was killed"
    killed = faults.last_run(RETRAIN)
    assert killed.state == "running" and killed.tasks["train_new_model"] == "running", killed.tasks
    assert container.wait(timeout=900)["StatusCode"] == 0, "the orphaned train_new_model did not finish its work"
    container.remove(force=True)

    # As a restarted scheduler goes on with the run: what had finished stays finished, the rest runs.
    finished = sorted(task for task, state in killed.tasks.items() if state in ("success", "skipped"))
    started = time.monotonic()
    faults.airflow(
        "dags",
        "test",
        RETRAIN,
        "--conf",
        json.dumps(RETRAIN_CONF),
        "--mark-success-pattern",
        f"^({'|'.join(finished)})$",
        environment=volumes.environment(),
    )
    run = faults.last_run(RETRAIN)
    print(f"retry of the DAG run after {', '.join(finished)}: {time.monotonic() - started:.0f} s")

    assert run.state == "success", run.tasks
    assert run.tasks["train_new_model"] == run.tasks["archive_production_data"] == "success"
    (final,) = faults.inspect(volumes, load_model=True)
    _assert_consumed_once(final, baseline)
    # The retried train_new_model found the version its orphaned first try registered.
    assert (final.live, final.versions, final.audit) == (
        baseline.final.live,
        baseline.final.versions,
        baseline.final.audit,
    )
