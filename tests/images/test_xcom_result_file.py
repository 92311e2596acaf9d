"""The result on Kubernetes: a step image run with a folder at /airflow/xcom (where KubernetesPodOperator's
XCom sidecar reads from) writes its result line to return.json there, whole, only when it succeeds; a skipped
step writes none, as a skipped DockerOperator task pushes no XCom. Real images, `docker run`, a host folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mindpulse.protocol import SKIP_EXIT_CODE, XCOM_DIR, XCOM_FILE
from tests.images.docker_steps import READ_ONLY as RO
from tests.images.docker_steps import Volumes

STEP = "check_production_data"  # on an empty data volume: skipped, or with FORCE a success


@pytest.fixture
def xcom_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "xcom"
    folder.mkdir()
    os.chmod(folder, 0o777)  # an emptyDir is writable by the pod's user, here the image's uid 10001
    return folder


def with_xcom(folder: Path, *, read_only: bool = False) -> tuple[str, ...]:
    return ("--mount", f"type=bind,src={folder},dst={XCOM_DIR}" + (",readonly" if read_only else ""))


def test_a_step_that_succeeds_writes_its_result_line_as_return_json(volumes: Volumes, xcom_folder: Path) -> None:
    run = volumes.run(STEP, {"FORCE": "true"}, data=RO, options=with_xcom(xcom_folder))

    assert run.code == 0, run.stderr
    assert run.result["status"] == "success"
    written = (xcom_folder / XCOM_FILE).read_text()
    assert written == run.stdout.splitlines()[-1] + "\n"
    assert json.loads(written) == run.result
    # Written through a temporary file and renamed: nothing else is left in the folder.
    assert sorted(path.name for path in xcom_folder.iterdir()) == [XCOM_FILE]


def test_a_skipped_step_writes_no_result_file(volumes: Volumes, xcom_folder: Path) -> None:
    run = volumes.run(STEP, data=RO, options=with_xcom(xcom_folder))

    assert run.code == SKIP_EXIT_CODE, run.stderr
    assert run.result["status"] == "skipped"
    assert list(xcom_folder.iterdir()) == []


def test_a_result_that_cannot_be_written_fails_the_step_with_one_line(volumes: Volumes, xcom_folder: Path) -> None:
    run = volumes.run(STEP, {"FORCE": "true"}, data=RO, options=with_xcom(xcom_folder, read_only=True))

    assert run.code == 1
    errors = run.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {XCOM_DIR}/"), run.stderr
    assert "Read-only file system" in errors[0]
    # No result line: the pod fails rather than succeeding without its XCom.
    assert '"status"' not in run.stdout
    assert list(xcom_folder.iterdir()) == []
