"""DAG integrity: both DAGs import, and their tasks, order, trigger rules, schedules, parameters and
containers are exactly what the step contract says. No database, no Docker engine, no images needed.

Run from the repository root with the test venv:
    .venv/bin/python -m pytest tests/dags
The DAGs are loaded by tests/dags/describe_dags.py under the Airflow venv's python: .venv-airflow/bin/python,
or the interpreter named by MINDPULSE_AIRFLOW_PYTHON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "orchestrator" / "dags"
DESCRIBER = Path(__file__).with_name("describe_dags.py")

RO, RW = True, False
DATA, MODELS, REPORTS, TRUST, SIGNING = "/data", "/models", "/reports", "/trust", "/signing"

# task id -> (upstream task ids, trigger rule, mounts {target: read_only}); from the step contract.
RETRAIN: dict[str, tuple[set[str], str, dict[str, bool]]] = {
    "check_production_data": (set(), "all_success", {DATA: RO}),
    "detect_drift": (set(), "all_success", {DATA: RO}),
    "backup_current_model": (
        {"check_production_data", "detect_drift"},
        "none_failed_min_one_success",
        {MODELS: RW, TRUST: RO},
    ),
    "merge_production_data": ({"backup_current_model"}, "all_success", {DATA: RW}),
    "train_new_model": (
        {"merge_production_data"},
        "all_success",
        {DATA: RW, MODELS: RW, TRUST: RO, SIGNING: RO},
    ),
    "archive_production_data": ({"train_new_model"}, "all_success", {DATA: RW}),
    "notify_retrain_success": ({"archive_production_data"}, "all_success", {DATA: RO, MODELS: RO, REPORTS: RW}),
}
REPORTS_OF_A_RUN = {"generate_data_quality_report", "generate_data_drift_report", "generate_model_performance_report"}
REPORTING: dict[str, tuple[set[str], str, dict[str, bool]]] = {
    "check_data_availability": (set(), "all_success", {DATA: RO, MODELS: RO}),
    "generate_data_quality_report": ({"check_data_availability"}, "all_success", {DATA: RO, MODELS: RO, REPORTS: RW}),
    "generate_data_drift_report": ({"check_data_availability"}, "all_success", {DATA: RO, MODELS: RO, REPORTS: RW}),
    "generate_model_performance_report": (
        {"check_data_availability"},
        "all_success",
        {DATA: RO, MODELS: RO, REPORTS: RW},
    ),
    "cleanup_old_reports": (REPORTS_OF_A_RUN, "none_failed", {REPORTS: RW}),
    "send_report_summary": ({"cleanup_old_reports"}, "none_failed", {DATA: RO, MODELS: RO, REPORTS: RW}),
}
MAINTENANCE: dict[str, tuple[set[str], str, dict[str, bool]]] = {
    "apply_retention": (set(), "all_success", {DATA: RW, MODELS: RW, REPORTS: RW}),
}
ROLLBACK: dict[str, tuple[set[str], str, dict[str, bool]]] = {
    "rollback_model": (set(), "all_success", {MODELS: RW, TRUST: RO})
}
CONTRACT = {
    "ml_retrain_pipeline": RETRAIN,
    "evidently_reporting_pipeline": REPORTING,
    "model_rollback": ROLLBACK,
    "mindpulse_maintenance": MAINTENANCE,
}
DAG_FILES = {f"{dag_id}.py" for dag_id in CONTRACT}
# The tasks that are Airflow's own work, not a step image: mindpulse_maintenance's upkeep of Airflow itself.
AIRFLOW_TASKS = {"mindpulse_maintenance": {"clean_airflow_database", "trim_task_logs"}}
DEFAULT_VOLUMES = {path: f"mindpulse{path.replace('/', '_')}" for path in (DATA, MODELS, REPORTS, TRUST, SIGNING)}
NOTIFYING_STEPS = {"notify_retrain_success", "send_report_summary"}

WEBHOOK = "http://hooks.example.test/T0/B0/secret"
OVERRIDES = {
    "MINDPULSE_RETRAIN_SCHEDULE": "30 2 * * *",
    "MINDPULSE_REPORTING_SCHEDULE": "15 */3 * * *",
    "MINDPULSE_RETRAIN_THRESHOLD": "500",
    # The Airflow Variable (here from its environment form) wins over MINDPULSE_DRIFT_THRESHOLD.
    "MINDPULSE_DRIFT_THRESHOLD": "0.2",
    "AIRFLOW_VAR_MINDPULSE_DRIFT_THRESHOLD": "0.45",
    "MINDPULSE_SELECTION_METRIC": "f1",
    "MINDPULSE_FORCE": "true",
    "MINDPULSE_MAX_REPORTS": "4",
    # Ignored: the webhook comes from the Connection (here from its environment form), read at run time.
    "MINDPULSE_WEBHOOK_URL": "http://hooks.example.test/T0/B0/from-the-environment",
    "AIRFLOW_CONN_MINDPULSE_WEBHOOK": json.dumps({"conn_type": "http", "host": "hooks", "password": WEBHOOK}),
    "MINDPULSE_RETRAIN_DEADLINE": "30",
    "MINDPULSE_REPORTING_DEADLINE": "0",
    "MINDPULSE_MAINTENANCE_SCHEDULE": "45 4 * * 0",
    "MINDPULSE_AIRFLOW_DB_KEEP_DAYS": "90",
    "MINDPULSE_TASK_USER": "1234:1234",
    "MINDPULSE_TASK_RETRIES": "0",
    "MINDPULSE_IMAGE_TAG": "9.9.9",
    "MINDPULSE_DATA_VOLUME": "other_data",
    "DOCKER_HOST": "tcp://docker-socket-proxy:2375",
}


def step_tasks(described: dict[str, Any], dag_id: str) -> dict[str, Any]:
    """The tasks of `dag_id` that run a step image."""
    tasks = described["dags"][dag_id]["tasks"]
    return {task_id: task for task_id, task in tasks.items() if task_id not in AIRFLOW_TASKS.get(dag_id, set())}


def _clean_environment() -> dict[str, str]:
    """The caller's environment without anything that configures the DAGs or the image tag."""
    names = ("MINDPULSE_", "AIRFLOW_VAR_MINDPULSE_", "AIRFLOW__", "AIRFLOW_HOME", "DOCKER_HOST")
    return {name: value for name, value in os.environ.items() if not name.startswith(names)}


def _airflow_python() -> Path:
    configured = os.environ.get("MINDPULSE_AIRFLOW_PYTHON")
    python = Path(configured) if configured else REPO / ".venv-airflow" / "bin" / "python"
    if not python.is_file():
        pytest.fail(f"no Airflow interpreter at {python}: create .venv-airflow or set MINDPULSE_AIRFLOW_PYTHON")
    return python


def describe(tmp_path: Path, script: Path = DESCRIBER, **environment: str) -> dict[str, Any]:
    """What `script` (describe_dags.py, or describe_pods.py) reports about orchestrator/dags under `environment`."""
    airflow_home = tmp_path / "airflow"
    airflow_home.mkdir()
    output = tmp_path / "dags.json"
    env = _clean_environment() | {"AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    completed = subprocess.run(
        [str(_airflow_python()), str(script), str(DAGS_FOLDER), str(output)],
        env=env | environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, f"{script.name} failed:\n{completed.stderr[-3000:]}"
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def dags(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return describe(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return describe(tmp_path_factory.mktemp("configured"), **OVERRIDES)


@pytest.fixture(scope="module")
def built_images() -> set[str]:
    listed = subprocess.run(
        [str(REPO / "build_images.sh"), "--list"], env=_clean_environment(), capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split())


def test_both_dags_import_without_errors(dags: dict[str, Any]) -> None:
    assert dags["import_errors"] == {}
    assert set(dags["dags"]) == set(CONTRACT)
    assert {dag["file"] for dag in dags["dags"].values()} == DAG_FILES


def test_loading_the_dags_imports_no_ml_library(dags: dict[str, Any]) -> None:
    assert dags["ml_modules_loaded"] == []


@pytest.mark.parametrize("dag_id", sorted(CONTRACT))
def test_task_ids_dependencies_and_trigger_rules(dags: dict[str, Any], dag_id: str) -> None:
    tasks = dags["dags"][dag_id]["tasks"]
    assert set(tasks) == set(CONTRACT[dag_id]) | AIRFLOW_TASKS.get(dag_id, set())
    for task_id, (upstream, trigger_rule, _) in CONTRACT[dag_id].items():
        assert set(tasks[task_id]["upstream"]) == upstream, task_id
        assert tasks[task_id]["trigger_rule"] == trigger_rule, task_id


@pytest.mark.parametrize("dag_id", sorted(CONTRACT))
def test_every_task_runs_an_image_that_build_images_builds(
    dags: dict[str, Any], built_images: set[str], dag_id: str
) -> None:
    tag = (REPO / "VERSION").read_text().strip()
    for task_id, task in step_tasks(dags, dag_id).items():
        assert task["operator"] == "LockedDownDockerOperator", task_id
        assert task["image"] == f"mindpulse/{task_id.replace('_', '-')}:{tag}"
        assert task["image"] in built_images, f"{task['image']} is not in ./build_images.sh --list"
        # The step records the image that produced what it writes (train_new_model: model metadata).
        assert task["rendered"]["environment"]["MINDPULSE_IMAGE"] == task["image"], task_id


@pytest.mark.parametrize("dag_id", sorted(CONTRACT))
def test_mounts_are_the_named_volumes_read_only_where_the_step_only_reads(dags: dict[str, Any], dag_id: str) -> None:
    for task_id, (_, _, mounts) in CONTRACT[dag_id].items():
        actual = dags["dags"][dag_id]["tasks"][task_id]["mounts"]
        assert {target: mount["read_only"] for target, mount in actual.items()} == mounts, task_id
        for target, mount in actual.items():
            assert (mount["type"], mount["source"]) == ("volume", DEFAULT_VOLUMES[target]), task_id


@pytest.mark.parametrize("dag_id", sorted(CONTRACT))
def test_containers_follow_the_step_protocol(dags: dict[str, Any], dag_id: str) -> None:
    for task_id, task in step_tasks(dags, dag_id).items():
        assert task["network_mode"] == "none", task_id
        assert task["mount_tmp_dir"] is False, task_id
        assert task["auto_remove"] == "success", task_id
        assert task["skip_on_exit_code"] == [99], task_id
        assert task["do_xcom_push"] is True, task_id
        assert task["execution_timeout_s"] and task["execution_timeout_s"] > 0, task_id
        assert task["mem_limit"], task_id
        # A rollback without a version undoes the last change: a retry would undo the undo.
        assert task["retries"] == (0 if dag_id == "model_rollback" else 2) and task["retry_delay_s"] > 0, task_id
        assert task["user"] is None, task_id
        assert task["docker_url"] == "unix://var/run/docker.sock", task_id
        assert task["private_environment"] == {}, task_id
        # Unique per try, so a kept failed container never blocks the retry.
        assert task["rendered"]["container_name"] == f"mindpulse-{task_id.replace('_', '-')}-stub-ti-id"


def _assert_locked_down(task_id: str, host_config: dict[str, Any], network: str) -> None:
    """The container of `task_id` as Docker gets it: nothing it can change or escalate outside its volumes."""
    assert host_config["ReadonlyRootfs"] is True, task_id
    tmp_options = host_config["Tmpfs"]["/tmp"].split(",")
    assert {"rw", "noexec", "nosuid", "nodev"} <= set(tmp_options), task_id
    assert any(option.startswith("size=") for option in tmp_options), f"{task_id}: /tmp must be bounded"
    assert list(host_config["Tmpfs"]) == ["/tmp"], task_id
    assert host_config["CapDrop"] == ["ALL"], task_id
    assert not host_config.get("CapAdd"), task_id
    assert not host_config.get("Privileged"), task_id
    assert host_config["SecurityOpt"] == ["no-new-privileges"], task_id
    assert host_config["Memory"] > 0, task_id
    assert host_config["PidsLimit"] > 0, task_id
    assert host_config["NetworkMode"] == network, task_id
    # Only the named volumes, no bind mount of a host path, and read-only wherever the step only reads.
    assert {mount["Type"] for mount in host_config["Mounts"]} == {"volume"}, task_id


@pytest.mark.parametrize("dag_id", sorted(CONTRACT))
def test_every_container_is_locked_down(dags: dict[str, Any], dag_id: str) -> None:
    for task_id, (_, _, mounts) in CONTRACT[dag_id].items():
        host_config = dags["dags"][dag_id]["tasks"][task_id]["host_config"]
        _assert_locked_down(task_id, host_config, network="none")
        assert {mount["Target"]: mount["ReadOnly"] for mount in host_config["Mounts"]} == mounts, task_id


def test_with_a_webhook_only_the_notifying_steps_get_a_network_and_stay_locked_down(
    configured: dict[str, Any],
) -> None:
    for dag_id in configured["dags"]:
        for task_id, task in step_tasks(configured, dag_id).items():
            network = "bridge" if task_id in NOTIFYING_STEPS else "none"
            _assert_locked_down(task_id, task["at_run_time"]["host_config"], network)


def test_schedules_and_run_settings(dags: dict[str, Any]) -> None:
    retrain, reporting = dags["dags"]["ml_retrain_pipeline"], dags["dags"]["evidently_reporting_pipeline"]
    assert retrain["schedule"] == {
        "type": "CronTriggerTimetable",
        "cron": "0 0 * * *",
        "timezone": "UTC",
        "asset": None,
    }
    # Every six hours, and whenever the live model changes (a promotion or a rollback).
    assert reporting["schedule"] == {
        "type": "AssetOrTimeSchedule",
        "cron": "0 */6 * * *",
        "timezone": "UTC",
        "asset": "mindpulse_current_model",
    }
    # Through an alias: the steps emit an event for the model asset only when they changed the live model.
    producers = {
        task_id: task["outlets"]
        for dag in dags["dags"].values()
        for task_id, task in dag["tasks"].items()
        if task["outlets"]
    }
    assert producers == {"train_new_model": ["mindpulse_model_changes"], "rollback_model": ["mindpulse_model_changes"]}
    assert dags["dags"]["model_rollback"]["schedule"]["type"] == "NullTimetable", "triggered by people only"
    assert dags["dags"]["mindpulse_maintenance"]["schedule"] == {
        "type": "CronTriggerTimetable",
        "cron": "0 3 * * *",
        "timezone": "UTC",
        "asset": None,
    }
    for dag_id, dag in dags["dags"].items():
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert "mindpulse" in dag["tags"], dag_id
        assert dag_id in dag["doc_md"] and all(task_id in dag["doc_md"] for task_id in dag["tasks"]), dag_id


def test_params_and_their_defaults(dags: dict[str, Any]) -> None:
    retrain = dags["dags"]["ml_retrain_pipeline"]["params"]
    reporting = dags["dags"]["evidently_reporting_pipeline"]["params"]
    assert {name: param["value"] for name, param in retrain.items()} == {
        "retrain_threshold": 1000,
        "drift_threshold": 0.3,
        "selection_metric": "accuracy",
        "promotion_tolerance": 0.01,
        "force": False,
        "force_promote": False,
        "max_quarantine_share": 0.01,
        "promotion_min_score": 0.0,
        "max_training_rows": 200_000,
    }
    assert (
        retrain["max_training_rows"]["schema"] | {"minimum": 1000, "maximum": 10_000_000}
        == (retrain["max_training_rows"]["schema"])
    )
    assert retrain["selection_metric"]["schema"]["enum"] == ["accuracy", "f1", "precision", "recall", "roc_auc"]
    assert retrain["force"]["schema"]["type"] == "boolean"
    assert {name: param["value"] for name, param in reporting.items()} == {
        "max_reports": 10,
        "drift_threshold": 0.3,
        "max_quarantine_share": 0.01,
        "disk_alert_share": 0.9,
        "dashboard_days": 30,
    }
    maintenance = dags["dags"]["mindpulse_maintenance"]["params"]
    assert {name: param["value"] for name, param in maintenance.items()} == {
        "keep_versions": 10,
        "keep_files": 30,
        "keep_days": 30,
        "dry_run": False,
        "airflow_db_keep_days": 30,
        "task_log_keep_days": 30,
    }
    assert maintenance["airflow_db_keep_days"]["schema"]["minimum"] == 1
    # The form refuses what the step refuses: a drift share of 1 cannot be exceeded, so it is out of bounds.
    assert retrain["drift_threshold"]["schema"]["exclusiveMaximum"] == 1.0


def image_of(task_id: str) -> dict[str, str]:
    """The MINDPULSE_IMAGE entry every step's environment has, with the default tag."""
    tag = (REPO / "VERSION").read_text().strip()
    return {"MINDPULSE_IMAGE": f"mindpulse/{task_id.replace('_', '-')}:{tag}"}


def test_params_reach_the_containers_as_the_contract_env_vars(dags: dict[str, Any]) -> None:
    retrain = {
        task_id: task["rendered"]["environment"]
        for task_id, task in dags["dags"]["ml_retrain_pipeline"]["tasks"].items()
    }
    assert retrain["check_production_data"] == {
        "RETRAIN_THRESHOLD": "1000",
        "FORCE": "false",
        "MAX_QUARANTINE_SHARE": "0.01",
    } | image_of("check_production_data")
    assert retrain["detect_drift"] == {
        "DRIFT_THRESHOLD": "0.3",
        "FORCE": "false",
        "MAX_QUARANTINE_SHARE": "0.01",
    } | image_of("detect_drift")
    assert retrain["train_new_model"] == {
        "SELECTION_METRIC": "accuracy",
        "PROMOTION_TOLERANCE": "0.01",
        "PROMOTION_MIN_SCORE": "0.0",
        "FORCE_PROMOTE": "false",
    } | image_of("train_new_model")
    rollback = dags["dags"]["model_rollback"]["tasks"]["rollback_model"]["rendered"]["environment"]
    assert rollback == {"TO_VERSION": "", "REASON": "None", "REQUESTED_BY": "ana"} | image_of("rollback_model")
    reporting = {
        task_id: task["rendered"]["environment"]
        for task_id, task in dags["dags"]["evidently_reporting_pipeline"]["tasks"].items()
    }
    assert reporting["cleanup_old_reports"] == {"MAX_REPORTS": "10"} | image_of("cleanup_old_reports")
    assert reporting["generate_data_drift_report"]["DRIFT_THRESHOLD"] == "0.3"
    assert reporting["send_report_summary"]["DRIFT_THRESHOLD"] == "0.3"
    assert reporting["send_report_summary"]["DASHBOARD_DAYS"] == "30"
    maintenance = dags["dags"]["mindpulse_maintenance"]["tasks"]
    assert maintenance["apply_retention"]["rendered"]["environment"] == {
        "KEEP_VERSIONS": "10",
        "KEEP_FILES": "30",
        "KEEP_DAYS": "30",
        "DRY_RUN": "false",
    } | image_of("apply_retention")
    assert reporting["send_report_summary"]["DISK_ALERT_SHARE"] == "0.9"


@pytest.mark.parametrize(
    ("dag_id", "writers"),
    [
        ("evidently_reporting_pipeline", REPORTS_OF_A_RUN | {"send_report_summary"}),
        ("ml_retrain_pipeline", {"backup_current_model", "merge_production_data", "notify_retrain_success"}),
    ],
)
def test_one_run_stamp_for_every_file_a_run_writes(dags: dict[str, Any], dag_id: str, writers: set[str]) -> None:
    tasks = dags["dags"][dag_id]["tasks"]
    stamped = {task_id for task_id, task in tasks.items() if "RUN_STAMP" in task["rendered"]["environment"]}
    assert stamped == writers
    # describe_dags.py renders with dag_run.run_after = 2026-02-09 06:00:00 UTC.
    assert {tasks[task_id]["rendered"]["environment"]["RUN_STAMP"] for task_id in stamped} == {"20260209_060000"}


def test_notify_gets_every_earlier_result_and_null_for_the_missing_ones(dags: dict[str, Any]) -> None:
    environment = dags["dags"]["ml_retrain_pipeline"]["tasks"]["notify_retrain_success"]["rendered"]["environment"]
    results = json.loads(environment["STEP_RESULTS"])
    earlier = set(RETRAIN) - {"notify_retrain_success"}
    assert set(results) == earlier
    # describe_dags.py: detect_drift has no XCom (skipped), merge_production_data's last line is not JSON.
    assert results["detect_drift"] is None
    assert results["merge_production_data"] is None
    for task_id in earlier - {"detect_drift", "merge_production_data"}:
        assert results[task_id] == {"step": task_id, "status": "success"}


def test_schedules_and_param_defaults_follow_environment_and_variables(configured: dict[str, Any]) -> None:
    assert configured["import_errors"] == {}
    retrain, reporting = configured["dags"]["ml_retrain_pipeline"], configured["dags"]["evidently_reporting_pipeline"]
    assert retrain["schedule"]["cron"] == "30 2 * * *"
    assert (reporting["schedule"]["cron"], reporting["schedule"]["asset"]) == (
        "15 */3 * * *",
        "mindpulse_current_model",
    )
    assert {name: param["value"] for name, param in retrain["params"].items()} == {
        "retrain_threshold": 500,
        "drift_threshold": 0.45,
        "selection_metric": "f1",
        "promotion_tolerance": 0.01,
        "force": True,
        "force_promote": False,
        "max_quarantine_share": 0.01,
        "promotion_min_score": 0.0,
        "max_training_rows": 200_000,
    }
    assert {name: param["value"] for name, param in reporting["params"].items()} == {
        "max_reports": 4,
        "drift_threshold": 0.45,
        "max_quarantine_share": 0.01,
        "disk_alert_share": 0.9,
        "dashboard_days": 30,
    }
    maintenance = configured["dags"]["mindpulse_maintenance"]
    assert maintenance["schedule"]["cron"] == "45 4 * * 0"
    assert maintenance["params"]["airflow_db_keep_days"]["value"] == 90
    assert retrain["tasks"]["check_production_data"]["rendered"]["environment"] == {
        "RETRAIN_THRESHOLD": "500",
        "FORCE": "true",
        "MAX_QUARANTINE_SHARE": "0.01",
        "MINDPULSE_IMAGE": "mindpulse/check-production-data:9.9.9",
    }


def test_containers_follow_tag_volume_user_retry_and_engine_settings(configured: dict[str, Any]) -> None:
    for dag_id in configured["dags"]:
        for task_id, task in step_tasks(configured, dag_id).items():
            assert task["image"].endswith(":9.9.9"), task_id
            assert task["user"] == "1234:1234", task_id
            assert task["retries"] == 0, task_id
            assert task["docker_url"] == "tcp://docker-socket-proxy:2375", task_id
            if DATA in task["mounts"]:
                assert task["mounts"][DATA]["source"] == "other_data", task_id


def test_only_notifying_steps_get_a_network_and_the_webhook_from_the_connection_at_run_time(
    configured: dict[str, Any], dags: dict[str, Any]
) -> None:
    for dag_id in configured["dags"]:
        for task_id, task in step_tasks(configured, dag_id).items():
            # Parsed, no task holds the webhook or a network, whatever the environment says.
            assert (task["network_mode"], task["private_environment"]) == ("none", {}), task_id
            assert "WEBHOOK_URL" not in task["rendered"]["environment"], task_id
            at_run_time = task["at_run_time"]
            if task_id in NOTIFYING_STEPS:
                # Private: the URL carries a token and rendered templates are visible in the UI.
                assert at_run_time == at_run_time | {
                    "network_mode": "bridge",
                    "private_environment": {"WEBHOOK_URL": WEBHOOK},
                }
            else:
                assert (at_run_time["network_mode"], at_run_time["private_environment"]) == ("none", {}), task_id
            # Without the Connection, no step gets a network or a webhook.
            unconfigured = dags["dags"][dag_id]["tasks"][task_id]["at_run_time"]
            assert (unconfigured["network_mode"], unconfigured["private_environment"]) == ("none", {}), task_id


def test_every_dag_alerts_once_per_failed_run_and_the_scheduled_ones_when_late(
    dags: dict[str, Any], configured: dict[str, Any]
) -> None:
    def deadline(minutes: int) -> list[dict[str, Any]]:
        return [
            {
                "reference": "DagRunQueuedAtDeadline",
                "interval_s": minutes * 60.0,
                "callback": "mindpulse_alerts.WebhookNotifier",
                "callback_type": "AsyncCallback",
            }
        ]

    for described in (dags, configured):
        assert {dag["on_failure_callback"] for dag in described["dags"].values()} == {"WebhookNotifier"}
    expected = {
        "ml_retrain_pipeline": deadline(120),
        "evidently_reporting_pipeline": deadline(60),
        "model_rollback": [],
        "mindpulse_maintenance": deadline(60),
    }
    assert {dag_id: dag["deadlines"] for dag_id, dag in dags["dags"].items()} == expected
    # MINDPULSE_RETRAIN_DEADLINE=30, MINDPULSE_REPORTING_DEADLINE=0 (none)
    configured_deadlines = {dag_id: dag["deadlines"] for dag_id, dag in configured["dags"].items()}
    assert configured_deadlines == {
        "ml_retrain_pipeline": deadline(30),
        "evidently_reporting_pipeline": [],
        "model_rollback": [],
        "mindpulse_maintenance": deadline(60),
    }


def test_a_deadline_that_is_no_number_of_minutes_is_an_import_error_that_names_it(tmp_path: Path) -> None:
    broken = describe(tmp_path, MINDPULSE_REPORTING_DEADLINE="1h")
    assert set(broken["import_errors"]) == {"evidently_reporting_pipeline.py"}
    assert "MINDPULSE_REPORTING_DEADLINE" in broken["import_errors"]["evidently_reporting_pipeline.py"]


def test_an_invalid_setting_is_an_import_error_that_names_it(tmp_path: Path) -> None:
    broken = describe(tmp_path, MINDPULSE_RETRAIN_THRESHOLD="lots")
    assert set(broken["import_errors"]) == {"ml_retrain_pipeline.py"}
    assert "mindpulse_retrain_threshold" in broken["import_errors"]["ml_retrain_pipeline.py"]
    assert "'lots'" in broken["import_errors"]["ml_retrain_pipeline.py"]
    # The other DAG does not use that setting and still loads.
    assert set(broken["dags"]) == {"evidently_reporting_pipeline", "model_rollback", "mindpulse_maintenance"}


def test_the_maintenance_dags_airflow_tasks_run_in_the_worker_on_the_light_queue(dags: dict[str, Any]) -> None:
    tasks = dags["dags"]["mindpulse_maintenance"]["tasks"]
    for task_id in AIRFLOW_TASKS["mindpulse_maintenance"]:
        assert tasks[task_id]["operator"] == "_PythonDecoratedOperator", task_id
        assert tasks[task_id]["queue"] == "default", task_id
        assert tasks[task_id]["upstream"] == [], "each runs whether or not the others succeed"
    assert tasks["clean_airflow_database"]["callable"].endswith("mindpulse_maintenance.clean_database")
