"""MINDPULSE_RUNNER=python: the benchmark's peer (the seed's design) is the same DAGs, task for task, with
every step called in-process by a PythonOperator that gets exactly the parameter texts its container would.
Loaded by tests/dags/describe_dags.py in the Airflow venv, like tests/dags/test_dag_integrity.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.peer import RUNNER_FOLDER
from tests.dags.test_dag_integrity import AIRFLOW_TASKS, DAG_FILES, describe

SHARED = ("upstream", "trigger_rule", "retries", "execution_timeout_s", "outlets", "do_xcom_push")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return {
        "docker": describe(tmp_path_factory.mktemp("docker"), MINDPULSE_RUNNER="docker"),
        # As the benchmark runs the peer: its runner's folder on the Python path.
        "python": describe(tmp_path_factory.mktemp("python"), MINDPULSE_RUNNER="python", PYTHONPATH=str(RUNNER_FOLDER)),
    }


def test_the_peer_dags_are_the_same_dags_with_in_process_tasks(both: dict[str, dict[str, Any]]) -> None:
    docker, python = both["docker"], both["python"]
    assert python["import_errors"] == {} and set(python["dags"]) == set(docker["dags"])
    assert python["ml_modules_loaded"] == [], "parsing the peer DAGs needs no step library either"
    for dag_id, dag in docker["dags"].items():
        peer = python["dags"][dag_id]
        assert set(peer["tasks"]) == set(dag["tasks"]) and peer["params"] == dag["params"]
        for task_id, task in dag["tasks"].items():
            twin = peer["tasks"][task_id]
            if task_id in AIRFLOW_TASKS.get(dag_id, set()):
                assert twin == task, "the DAG's own Airflow tasks are the same on both runners"
                continue
            assert twin["operator"] == "PythonOperator" and twin["step_name"] == task_id
            assert twin["callable"] == "mindpulse_python_runner.call_step"
            assert {key: twin[key] for key in SHARED} == {key: task[key] for key in SHARED}, task_id
            assert twin["rendered"]["environment"] == task["rendered"]["environment"], task_id


def test_the_peer_runner_is_not_among_the_dags(tmp_path: Path) -> None:
    """Where the benchmark does not put it on the path, as in every deployment, the peer's runner is one error."""
    described = describe(tmp_path, MINDPULSE_RUNNER="python")
    errors = list(described["import_errors"].values())
    assert described["dags"] == {} and len(errors) == len(DAG_FILES)
    assert all("MINDPULSE_RUNNER='python': cannot import mindpulse_python_runner" in error for error in errors)


def test_an_unknown_runner_is_one_error_naming_the_setting(tmp_path: Path) -> None:
    described = describe(tmp_path, MINDPULSE_RUNNER="celery")
    assert described["dags"] == {}
    errors = list(described["import_errors"].values())
    assert len(errors) == len(DAG_FILES) and all("MINDPULSE_RUNNER='celery'" in error for error in errors)
