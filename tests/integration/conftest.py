"""Fixtures of the Airflow integration tests, shared by every module here: one Airflow home and one seeded set
of volumes per session (the bootstrap trains a model, so it runs once); each scenario copies the seed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from tests.integration.airflow_harness import REPO, TAG, Harness, Volumes

REFERENCE_ROWS = "20000"


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        pytest.fail(f"no Docker engine answers: {error}")
    listed = subprocess.run([str(REPO / "build_images.sh"), "--list", "--tag", TAG], capture_output=True, text=True)
    missing = []
    for image in listed.stdout.split():
        try:
            client.images.get(image)
        except ImageNotFound:
            missing.append(image)
    if listed.returncode != 0 or missing:
        pytest.fail(f"images missing, run ./build_images.sh first: {', '.join(missing) or listed.stderr}")
    harness = Harness(client, tmp_path_factory.mktemp("airflow-home"))
    harness.airflow("db", "migrate")
    try:
        yield harness
    finally:
        harness.remove_volumes()
        client.close()


@pytest.fixture(scope="session")
def seeded(harness: Harness) -> Volumes:
    """Reference data and a first model (v0001), no production data: the start of every scenario."""
    volumes = harness.new_volumes("seed")
    harness.run_step("bootstrap", volumes, REFERENCE_ROWS=REFERENCE_ROWS, SEED="42")
    return volumes
