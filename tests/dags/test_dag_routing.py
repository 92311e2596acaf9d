"""Where the tasks run on a cluster (orchestrator/dags/mindpulse_cluster.py): each step's Celery queue, derived
from its image family and changeable by settings alone, the images' registry prefix, and the retry delay.
The DAGs are loaded by describe_dags.py under the Airflow venv, like tests/dags/test_dag_integrity.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mindpulse import catalog
from tests.dags.test_dag_integrity import DAG_FILES, describe

HEAVY_FAMILIES = {"ml", "evidently"}
CLUSTER_SETTINGS = {
    "MINDPULSE_REGISTRY": "registry.internal:5000/ml",
    "MINDPULSE_DEFAULT_QUEUE": "light",
    "MINDPULSE_HEAVY_QUEUE": "big",
    "MINDPULSE_QUEUES": "detect_drift=light, send_report_summary=notify",
    "MINDPULSE_TASK_RETRY_SECONDS": "7",
}


def _tasks(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task_id: task for dag in described["dags"].values() for task_id, task in dag["tasks"].items()}


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return describe(tmp_path_factory.mktemp("routed"), **CLUSTER_SETTINGS)


def test_by_default_training_and_the_evidently_steps_go_to_heavy_and_the_rest_to_default(
    tmp_path: Path,
) -> None:
    tasks = _tasks(describe(tmp_path))
    expected = {
        step.name: "heavy" if step.family in HEAVY_FAMILIES else "default"
        for step in catalog.STEPS
        if step.pipeline.dag_id
    }
    assert {task_id: task["queue"] for task_id, task in tasks.items() if task_id in expected} == expected
    assert [name for name, queue in expected.items() if queue == "heavy"] == [
        "detect_drift",
        "train_new_model",
        "generate_data_quality_report",
        "generate_data_drift_report",
        "generate_model_performance_report",
    ]
    assert tasks["train_new_model"]["image"] == f"{catalog.step('train_new_model').image_name}:{_tag(tasks)}"


def _tag(tasks: dict[str, dict[str, Any]]) -> str:
    return tasks["train_new_model"]["image"].rpartition(":")[2]


def test_queue_names_routing_registry_and_retry_delay_change_by_settings_alone(routed: dict[str, Any]) -> None:
    tasks = _tasks(routed)
    assert routed["import_errors"] == {}
    assert tasks["train_new_model"]["queue"] == "big"
    assert tasks["generate_data_drift_report"]["queue"] == "big"
    assert tasks["detect_drift"]["queue"] == "light"
    assert tasks["send_report_summary"]["queue"] == "notify"
    assert tasks["merge_production_data"]["queue"] == "light"
    for task_id, task in tasks.items():
        if "image" in task:
            image = f"registry.internal:5000/ml/{catalog.step(task_id).image_name}:"
            assert task["image"].startswith(image), task_id
            assert task["rendered"]["environment"]["MINDPULSE_IMAGE"] == task["image"], task_id
    assert {task["retry_delay_s"] for task in tasks.values()} == {7.0}


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("MINDPULSE_QUEUES", "train_model=heavy", "'train_model=heavy' is not step=queue"),
        ("MINDPULSE_QUEUES", "train_new_model", "'train_new_model' is not step=queue"),
        ("MINDPULSE_HEAVY_QUEUE", "big queue", "MINDPULSE_HEAVY_QUEUE: 'big queue' is not a queue name"),
        ("MINDPULSE_REGISTRY", "http://registry:5000", "MINDPULSE_REGISTRY='http://registry:5000'"),
    ],
)
def test_a_bad_cluster_setting_is_an_import_error_that_names_it(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    broken = describe(tmp_path, **{setting: value})
    assert broken["dags"] == {}
    assert set(broken["import_errors"]) == DAG_FILES
    assert all(named in error for error in broken["import_errors"].values()), broken["import_errors"]
