"""The real guard image in front of the real engine: a step runs through it as the DockerOperator runs one, and
each attack is refused with its exact reason while the same request sent straight to the engine shows that its
target was there. Needs the images built by ./build_images.sh."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import APIError
from docker.types import Mount

from mindpulse import catalog, image_lock, sandbox
from mindpulse.paths import VOLUME_DIRS
from tests.e2e.engine_attacks import LOCK_REFUSALS, STEP_ANSWERS

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()
DRIFT = catalog.step("detect_drift")
# Every container a request of this module would create carries this label, so a test sees exactly its own.
ATTACK, RUN = "org.mindpulse.attack", uuid.uuid4().hex


class Guard:
    def __init__(self, name: str, socket: Path, volumes: dict[str, str]) -> None:
        self.name = name
        self.socket = socket
        self.volumes = volumes
        self.client = docker.APIClient(base_url=f"unix://{socket}", timeout=60)

    def logs(self) -> str:
        return subprocess.run(["docker", "logs", self.name], capture_output=True, text=True).stderr


def start_guard(folder: Path, tag: str, lock: Path, volumes: dict[str, str]) -> Guard:
    """The guard image, started as docker-compose.yml starts it for `tag` with the image lock `lock`, its socket
    in `folder`."""
    os.chmod(folder, 0o777)  # the guard's uid creates its socket here
    name = f"mindpulse-guard-test-{uuid.uuid4().hex[:8]}"
    started = subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges", "--group-add", str(os.stat("/var/run/docker.sock").st_gid),
         "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", f"{folder}:/run/mindpulse-guard",
         "-v", f"{lock}:{image_lock.MOUNTED}:ro", "-e", f"MINDPULSE_IMAGE_TAG={tag}",
         *(arg for v, n in volumes.items() for arg in ("-e", f"MINDPULSE_{v.upper()}_VOLUME={n}")),
         f"mindpulse/guard:{TAG}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 30
    while not (folder / "docker.sock").exists():
        logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr
        assert time.monotonic() < deadline, logs
        time.sleep(0.2)
    return Guard(name, folder / "docker.sock", volumes)


@pytest.fixture(scope="module")
def volumes() -> Iterator[dict[str, str]]:
    run = uuid.uuid4().hex[:8]
    names = {volume: f"mindpulse-guard-test-{run}-{volume}" for volume in VOLUME_DIRS}
    for name in names.values():
        subprocess.run(["docker", "volume", "create", name], capture_output=True, check=True)
    yield names
    subprocess.run(["docker", "volume", "rm", "-f", *names.values()], capture_output=True)


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory, volumes: dict[str, str]) -> Iterator[Guard]:
    """The guard in front of the images ./build_images.sh built, with the image lock it recorded."""
    lock = REPO / "image-locks" / image_lock.file_name(TAG)
    guard = start_guard(tmp_path_factory.mktemp("guard"), TAG, lock, volumes)
    try:
        yield guard
    finally:
        subprocess.run(["docker", "rm", "-f", guard.name], capture_output=True)


@pytest.fixture(scope="module")
def engine() -> docker.APIClient:
    return docker.APIClient(base_url="unix:///var/run/docker.sock", timeout=60)


@pytest.fixture
def bystander(engine: docker.APIClient) -> Iterator[str]:
    """A running container that is not a step (as Airflow's PostgreSQL is), started on the engine directly."""
    container = engine.create_container(
        f"mindpulse/guard:{TAG}", entrypoint=["sleep", "300"], name=f"bystander-{uuid.uuid4().hex[:8]}"
    )
    engine.start(container["Id"])
    try:
        yield container["Id"]
    finally:
        engine.remove_container(container["Id"], force=True)


def step_config(client: docker.APIClient, guard: Guard, *, tag: str = TAG, **host: Any) -> dict[str, Any]:
    """detect_drift's container as the DAG creates it (mindpulse_docker.docker_step); `host` overrides."""
    mounts = [Mount(VOLUME_DIRS[v], guard.volumes[v], type="volume", read_only=True) for v in DRIFT.volumes]
    host_config = client.create_host_config(
        **{"mounts": mounts, "network_mode": "none", "mem_limit": DRIFT.memory, **sandbox.host_config(), **host}
    )
    return {
        "image": f"{DRIFT.image_name}:{tag}",
        "command": ["--help"],
        "labels": {sandbox.STEP_LABEL: DRIFT.name, sandbox.DEPLOYMENT_LABEL: guard.volumes["data"], ATTACK: RUN},
        "host_config": host_config,
    }


def created(engine: docker.APIClient) -> list[str]:
    """The containers this module's requests created on the engine (other tests create theirs meanwhile)."""
    return [item["Id"] for item in engine.containers(all=True, filters={"label": f"{ATTACK}={RUN}"})]


def test_a_step_runs_through_the_guard_as_the_dag_runs_it(guard: Guard) -> None:
    client = guard.client
    assert client.ping()
    assert client.images(name=f"{DRIFT.image_name}:{TAG}")
    client.inspect_volume(guard.volumes["data"])
    created = client.create_container(**step_config(client, guard))
    stream = client.attach(created["Id"], stdout=True, stderr=True, stream=True)
    client.start(created["Id"])
    streamed = b"".join(stream).decode()
    assert client.wait(created["Id"])["StatusCode"] == 0
    assert "usage" in client.logs(created["Id"]).decode().lower()
    assert "usage" in streamed.lower()
    client.remove_container(created["Id"])


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ({"privileged": True}, "privileged containers are not allowed"),
        ({"binds": ["/:/host"]}, "a bind mount of '/' is not allowed: a step mounts only its named volumes"),
        ({"cap_add": ["SYS_ADMIN"]}, "adding capabilities (SYS_ADMIN) is not allowed"),
        ({"network_mode": "host"}, "network mode 'host' is not allowed for detect_drift (allowed: ['none'])"),
    ],
)
def test_an_escape_from_the_sandbox_is_refused_and_creates_nothing(
    guard: Guard, engine: docker.APIClient, host: dict[str, Any], reason: str
) -> None:
    with pytest.raises(APIError) as refused:
        guard.client.create_container(**step_config(guard.client, guard, **host))
    assert refused.value.response.status_code == 403
    line = f"mindpulse-guard: refused POST /containers/create: {reason}"
    assert refused.value.explanation == line
    assert created(engine) == []
    assert line.removeprefix("mindpulse-guard: ") in guard.logs()
    # The same request, straight to the engine, is taken: the refusal is the guard's.
    direct = engine.create_container(**step_config(engine, guard, **host))
    assert created(engine) == [direct["Id"]]
    engine.remove_container(direct["Id"], force=True)


def test_an_image_that_is_not_a_step_is_refused(guard: Guard, engine: docker.APIClient) -> None:
    config = {**step_config(guard.client, guard), "image": f"mindpulse/guard:{TAG}"}
    assert engine.inspect_image(config["image"])  # it is there to be run
    with pytest.raises(APIError, match=f"image 'mindpulse/guard:{TAG}' is not a MindPulse step image"):
        guard.client.create_container(**config)


def test_exec_logs_and_inspect_of_another_container_are_refused(
    guard: Guard, engine: docker.APIClient, bystander: str
) -> None:
    assert engine.inspect_container(bystander)["State"]["Running"]
    with pytest.raises(APIError, match=f"refused POST /containers/{bystander}/exec: not an operation a MindPulse step"):
        guard.client.exec_create(bystander, ["id"])
    for attempt in (guard.client.inspect_container, guard.client.logs, guard.client.stop):
        with pytest.raises(APIError, match=f"container {bystander} is not a MindPulse step container"):
            attempt(bystander)
    assert engine.inspect_container(bystander)["State"]["Running"]


def test_a_step_image_replaced_under_its_name_is_refused_and_a_missing_one_names_the_build(
    tmp_path: Path, volumes: dict[str, str], engine: docker.APIClient
) -> None:
    """A step starts only from the build the image lock recorded. Under a tag of its own (the other layers run the
    real one meanwhile): detect_drift's real build is recorded; the image is first missing, then the real one,
    then another image given its name (as a registry could serve after the build)."""
    tag = f"guard-lock-{uuid.uuid4().hex[:8]}"
    image = f"{DRIFT.image_name}:{tag}"
    real = engine.inspect_image(f"{DRIFT.image_name}:{TAG}")["Id"]
    impostor = engine.inspect_image(f"mindpulse/family-evidently:{TAG}")["Id"]
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"tag": tag, "images": {DRIFT.image_name: real}}))
    (tmp_path / "socket").mkdir()
    guard = start_guard(tmp_path / "socket", tag, lock, volumes)
    [replaced_line, missing_line] = (f"mindpulse-guard: refused {line}" for line in LOCK_REFUSALS.values())
    try:
        with pytest.raises(APIError) as missing:
            guard.client.create_container(**step_config(guard.client, guard, tag=tag))
        assert missing.value.explanation == missing_line.format(image=image)

        engine.tag(f"{DRIFT.image_name}:{TAG}", DRIFT.image_name, tag)
        taken = guard.client.create_container(**step_config(guard.client, guard, tag=tag))
        engine.remove_container(taken["Id"], force=True)

        engine.tag(f"mindpulse/family-evidently:{TAG}", DRIFT.image_name, tag, force=True)
        with pytest.raises(APIError) as replaced:
            guard.client.create_container(**step_config(guard.client, guard, tag=tag))
        assert replaced.value.explanation == replaced_line.format(image=image, found=impostor[:19], recorded=real[:19])
        assert created(engine) == []
        # The same request, straight to the engine, starts the impostor: the refusal is the guard's.
        direct = engine.create_container(**step_config(engine, guard, tag=tag))
        assert engine.inspect_container(direct["Id"])["Image"] == impostor
        engine.remove_container(direct["Id"], force=True)
    finally:
        subprocess.run(["docker", "rm", "-f", guard.name], capture_output=True)
        subprocess.run(["docker", "rmi", image], capture_output=True)


# Run inside a step container: what an attacker who took over a step's code finds.
PROBE_FROM_A_STEP = """
import os, socket
sockets = ("/var/run/docker.sock", "/run/mindpulse-guard/docker.sock", "/run/dockerhost/docker.sock")
print("sockets:", [path for path in sockets if os.path.exists(path)])
with open("/proc/net/route") as routes:
    gateway = next(line.split()[2] for line in routes if line.split()[1] == "00000000")
gateway = socket.inet_ntoa(bytes.fromhex(gateway)[::-1])
for port in (2375, 2376):
    try:
        socket.create_connection((gateway, port), timeout=10).close()
        print(port, "open")
    except OSError as error:
        print(port, type(error).__name__)
for name in ("docker-guard", "airflow-scheduler", "postgres"):
    try:
        socket.getaddrinfo(name, 80)
        print(name, "resolves")
    except OSError as error:
        print(name, type(error).__name__)
"""


def test_a_step_with_a_network_finds_no_engine_to_talk_to() -> None:
    """The notify step's container as the DAG runs it when a webhook is set (the sandbox, the default bridge) with
    its code replaced: no engine socket, the engine's host answers on no Docker port, no stack service by name."""
    notify = catalog.step("notify_retrain_success")
    assert notify.network
    probe = subprocess.run(
        ["docker", "run", "--rm", "--network=bridge", *sandbox.docker_run_flags(), "--entrypoint=python",
         f"{notify.image_name}:{TAG}", "-c", PROBE_FROM_A_STEP],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    # A refused connection is the host answering that nothing listens there.
    assert probe.stdout.splitlines() == list(STEP_ANSWERS.values())


def test_pulls_and_builds_are_refused(guard: Guard) -> None:
    with pytest.raises(
        APIError,
        match=re.escape(
            "pulling 'alpine' is not allowed: this engine runs only the images built on it by ./build_images.sh"
        ),
    ):
        guard.client.pull("alpine", tag="3")
    with pytest.raises(APIError, match="refused POST /build: not an operation a MindPulse step needs"):
        list(guard.client.build(fileobj=io.BytesIO(b"FROM scratch\n"), tag="evil:1"))


def test_a_smuggled_second_request_never_reaches_the_engine(guard: Guard, engine: docker.APIClient) -> None:
    """An allowed ping with a privileged create glued behind it on the same connection: the guard forwards only
    the ping (one request per engine connection) and answers nothing else."""
    # An image the engine has, labelled: were the create forwarded, the engine would make the container.
    body = b'{"Image": "mindpulse/guard:%s", "Labels": {"%s": "%s"}, "HostConfig": {"Privileged": true}}' % (
        TAG.encode(),
        ATTACK.encode(),
        RUN.encode(),
    )
    smuggled = (
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
        b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    answer = exchange(guard, smuggled)
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1") == 1, answer
    assert created(engine) == []
    # Framed to mislead (a Content-Length beside chunks): the guard reads the chunks, as HTTP says, and judges them.
    chunked = b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert exchange(guard, chunked).startswith(b"HTTP/1.1 403")
    assert exchange(guard, b"GET /_ping HTTP/1.1\r\nnot a header\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert created(engine) == []


def test_a_setting_spelled_twice_is_refused_where_the_engine_would_take_the_second(
    guard: Guard, engine: docker.APIClient
) -> None:
    """The engine reads JSON keys whatever their case, the last winning: a compliant HostConfig followed by a
    privileged `hostConfig` makes a privileged container when sent straight to it. The guard refuses the body."""
    config = step_config(engine, guard)
    body = {
        "Image": config["image"],
        "Cmd": config["command"],
        "Labels": config["labels"],
        "HostConfig": config["host_config"],
        "hostConfig": {**config["host_config"], "Privileged": True},
    }
    payload = json.dumps(body).encode()
    request = b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
    request += b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(payload), payload)
    direct = exchange(guard, request, to="/var/run/docker.sock")
    assert direct.startswith(b"HTTP/1.1 201"), direct
    container = json.loads(direct.split(b"\r\n\r\n", 1)[1].decode().splitlines()[-1])["Id"]
    try:
        assert engine.inspect_container(container)["HostConfig"]["Privileged"] is True
    finally:
        engine.remove_container(container, force=True)
    answer = exchange(guard, request)
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert b"names one setting twice ('HostConfig' and 'hostConfig')" in answer
    assert created(engine) == []


def exchange(guard: Guard, request: bytes, to: str | None = None) -> bytes:
    """What the guard (or the socket `to`) answers to `request` sent raw, until it closes the connection."""
    with socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(30)
        raw.connect(to or str(guard.socket))
        raw.sendall(request)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer
