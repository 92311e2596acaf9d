"""Leftovers of killed tries: a task start removes its deployment's stopped step containers, and only those.

Runs the DAG's own operator (execute_task.py), so the labels are those the provider really sets."""

from __future__ import annotations

import contextlib

import docker
import pytest
from docker.models.containers import Container

from tests.integration.airflow_harness import TOOL_IMAGE, Harness

STEP, DAG, DEPLOYMENT = "org.mindpulse.step", "org.mindpulse.dag", "org.mindpulse.deployment"


def sleeper(harness: Harness, name: str, labels: dict[str, str], kill: bool) -> Container:
    container = harness.client.containers.run(
        TOOL_IMAGE,
        "300",
        entrypoint="sleep",
        name=f"{harness.prefix}-{name}",
        labels=labels,
        network_mode="none",
        detach=True,
    )
    if kill:
        container.kill(signal="SIGKILL")
        container.wait()
    container.reload()
    return container


def test_a_task_start_removes_only_its_deployments_stopped_containers(harness: Harness) -> None:
    volumes = harness.new_volumes("leftovers")
    mine = {DEPLOYMENT: volumes.data, STEP: "train_new_model", DAG: "ml_retrain_pipeline"}
    killed = sleeper(harness, "killed", mine, kill=True)
    running = sleeper(harness, "running", mine, kill=False)
    unlabelled = sleeper(harness, "unlabelled", {}, kill=True)
    elsewhere = sleeper(harness, "elsewhere", mine | {DEPLOYMENT: f"{volumes.data}-other"}, kill=True)
    task = f"{harness.prefix}-cleanup-task"
    try:
        assert killed.attrs["State"]["ExitCode"] == 137  # the kill landed

        outcome = harness.execute_task(
            "evidently_reporting_pipeline",
            "cleanup_old_reports",
            task,
            volumes.environment() | {"MINDPULSE_LEFTOVER_CONTAINER_HOURS": "0"},
        )

        assert outcome == "success"
        with pytest.raises(docker.errors.NotFound):
            harness.client.containers.get(killed.id)
        running.reload()
        assert running.status == "running"
        for bystander in (unlabelled, elsewhere):
            assert harness.client.containers.get(bystander.id).status == "exited"
        labels = harness.client.containers.get(task).labels
        assert {key: labels.get(key) for key in (STEP, DAG, DEPLOYMENT)} == {
            STEP: "cleanup_old_reports",
            DAG: "evidently_reporting_pipeline",
            DEPLOYMENT: volumes.data,
        }
    finally:
        for container in (running, unlabelled, elsewhere):
            container.remove(force=True)
        for name in (killed.id, task):
            with contextlib.suppress(docker.errors.NotFound):
                harness.client.containers.get(name).remove(force=True)
