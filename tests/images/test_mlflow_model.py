"""A version is an MLflow model that MLflow itself loads and serves. The bootstrap image trains and registers the
first version; real MLflow, installed in a throwaway venv from that version's own requirements.txt (never in an
image), loads models/current with `mlflow.pyfunc.load_model`, predicts on its input_example.json what the step
recorded, and `mlflow models serve --env-manager local` answers scoring requests with the same predictions."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mindpulse.paths import INPUT_EXAMPLE_FILE, METADATA_FILE, REQUIREMENTS_FILE
from mindpulse.retrain.model_file import EXAMPLE_PREDICTIONS
from tests.images.docker_steps import REPO, TAG, Volumes
from tests.images.docker_steps import WRITABLE as RW

TEST_REQUIREMENTS = REPO / "tests" / "requirements.txt"
# The MLflow the host tests pin, and the versions of what it pulls in (pinned there too, for a reproducible venv).
MLFLOW = next(line for line in TEST_REQUIREMENTS.read_text().splitlines() if line.startswith("mlflow-skinny=="))


@pytest.fixture(scope="module")
def models(module_volumes: Volumes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The models volume after the bootstrap image registered v0001, copied out as it is (symlink included)."""
    bootstrap = module_volumes.run("bootstrap", {"REFERENCE_ROWS": "3000", "SEED": "5"}, data=RW, models=RW)
    assert bootstrap.code == 0, bootstrap.stderr
    command = ["docker", "run", "--rm", "--network", "none", "--mount", module_volumes.mount("models") + ",readonly"]
    command += ["--entrypoint", "tar", f"mindpulse/family-base:{TAG}", "-C", "/models", "-cf", "-", "."]
    archive = subprocess.run(command, capture_output=True, check=True, timeout=120).stdout
    folder = tmp_path_factory.mktemp("models")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="tar")
    return folder


@pytest.fixture(scope="module")
def mlflow_venv(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("mlflow-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pins = tmp_path_factory.mktemp("pins") / "test-pins.txt"
    pins.write_text("".join(f"{line}\n" for line in TEST_REQUIREMENTS.read_text().splitlines() if "==" in line))
    constraints = ["-c", str(REPO / "tasks" / "requirements" / "constraints.txt"), "-c", str(pins)]
    requirements = ["-r", str(models / "current" / REQUIREMENTS_FILE)]
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", *constraints, MLFLOW, *requirements],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def recorded_labels(models: Path) -> list[int]:
    labels: list[int] = json.loads((models / "current" / METADATA_FILE).read_text())[EXAMPLE_PREDICTIONS]["labels"]
    return labels


def test_mlflow_loads_the_live_version_and_predicts_what_the_step_recorded(models: Path, mlflow_venv: Path) -> None:
    script = (
        "import json, sys\n"
        "import mlflow.pyfunc\n"
        "from mlflow.models import Model\n"
        "path = sys.argv[1]\n"
        "model = mlflow.pyfunc.load_model(path)\n"
        "example = Model.load(path).load_input_example(path)\n"
        "print(json.dumps({'flavors': sorted(Model.load(path).flavors), "
        "'predictions': [int(p) for p in model.predict(example)]}))\n"
    )
    done = subprocess.run(
        [str(mlflow_venv / "bin" / "python"), "-c", script, str(models / "current")],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["flavors"] == ["python_function", "sklearn"]
    assert found["predictions"] == recorded_labels(models)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(models: Path, mlflow_venv: Path, tmp_path: Path) -> Iterator[str]:
    """`mlflow models serve` on models/current, as the MLflow docs start it; its address once /ping answers."""
    port = free_port()
    log = tmp_path / "serve.log"
    command = [str(mlflow_venv / "bin" / "mlflow"), "models", "serve", "-m", str(models / "current")]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    # As in an activated venv: MLflow starts the server as `uvicorn ...` through the PATH.
    environment = {**os.environ, "PATH": f"{mlflow_venv / 'bin'}:{os.environ['PATH']}"}
    with open(log, "wb") as output:
        server = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=environment
        )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"mlflow models serve exited: {log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{address}/ping", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, f"mlflow models serve did not answer /ping: {log.read_text()[-3000:]}"
            time.sleep(1)
        yield address
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def score(address: str, frame: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{address}/invocations",
        json.dumps({"dataframe_split": frame}).encode(),
        {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_mlflow_models_serve_answers_a_scoring_request_with_the_steps_predictions(models: Path, served: str) -> None:
    example = json.loads((models / "current" / INPUT_EXAMPLE_FILE).read_text())

    status, answer = score(served, example)

    assert status == 200, answer
    assert answer["predictions"] == recorded_labels(models)
    # The signature is enforced by the server: a request without a column the model needs is refused, naming it.
    missing = {"columns": example["columns"][1:], "data": [row[1:] for row in example["data"]]}
    status, answer = score(served, missing)
    assert status == 400 and example["columns"][0] in json.dumps(answer)
