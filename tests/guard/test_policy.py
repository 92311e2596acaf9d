"""The guard's rules, on requests built the way docker-py builds them for the DockerOperator (pure logic)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from docker.types import ContainerConfig, HostConfig, Mount
from mindpulse_guard.policy import Refused, Request, Settings, check_container, check_image, decide

from mindpulse import catalog, image_lock, sandbox
from mindpulse.paths import VOLUME_DIRS

API = "1.45"
SETTINGS = Settings(tag="0.1.0", volumes={volume: f"mindpulse_{volume}" for volume in VOLUME_DIRS})
CLUSTER = Settings(tag="0.1.0", registry="mindpulse-registry:5000", volumes=SETTINGS.volumes)
DRIFT = catalog.step("detect_drift")  # reads data only, no network
NOTIFY = catalog.step("notify_retrain_success")  # posts to the webhook


def create_body(step: catalog.Step = DRIFT, settings: Settings = SETTINGS, **host: Any) -> dict[str, Any]:
    """A create request as the DockerOperator sends it for `step`; `host` overrides HostConfig arguments."""
    mounts = [
        Mount(target=VOLUME_DIRS[v], source=settings.volumes[v], type="volume", read_only=v not in step.writes)
        for v in step.volumes
    ]
    arguments = {"mounts": mounts, "network_mode": "none", "mem_limit": step.memory, **sandbox.host_config(), **host}
    config = ContainerConfig(
        API,
        settings.image(step),
        None,
        labels={sandbox.STEP_LABEL: step.name, sandbox.DEPLOYMENT_LABEL: "mindpulse_data"},
        host_config=HostConfig(API, **arguments),
    )
    return dict(config)


def create(body: dict[str, Any], settings: Settings = SETTINGS) -> None:
    decide(Request("POST", f"/v{API}/containers/create?name=x", json.dumps(body).encode()), settings)


def refusal(body: dict[str, Any], settings: Settings = SETTINGS) -> str:
    with pytest.raises(Refused) as refused:
        create(body, settings)
    return str(refused.value)


def test_the_containers_the_dags_create_are_allowed() -> None:
    for step in catalog.STEPS:
        create(create_body(step))
        create(create_body(step, CLUSTER), CLUSTER)
    create(create_body(NOTIFY, network_mode="bridge"))


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ({"privileged": True}, "privileged containers are not allowed"),
        ({"cap_add": ["SYS_ADMIN"]}, "adding capabilities (SYS_ADMIN) is not allowed"),
        ({"network_mode": "host"}, "network mode 'host' is not allowed for detect_drift"),
        ({"network_mode": "bridge"}, "network mode 'bridge' is not allowed for detect_drift"),
        ({"pid_mode": "host"}, "HostConfig.PidMode='host': a step container shares no namespace with the host"),
        ({"ipc_mode": "host"}, "HostConfig.IpcMode='host'"),
        ({"devices": ["/dev/sda:/dev/sda:rwm"]}, "HostConfig.Devices is not allowed"),
        ({"binds": ["/:/host"]}, "a bind mount of '/' is not allowed"),
        ({"binds": ["/var/run/docker.sock:/var/run/docker.sock"]}, "a bind mount of '/var/run/docker.sock'"),
        ({"read_only": False}, "read-only root file system"),
        ({"cap_drop": ["NET_RAW"]}, "drops every capability"),
        ({"security_opt": ["no-new-privileges", "seccomp=unconfined"]}, "exactly the security option"),
        ({"security_opt": []}, "exactly the security option"),
        ({"pids_limit": -1}, "process limit"),
        ({"port_bindings": {8080: 8080}}, "HostConfig.PortBindings is not allowed"),
        ({"volumes_from": ["airflow-scheduler"]}, "HostConfig.VolumesFrom is not allowed"),
        ({"tmpfs": {"/tmp": "rw", "/run": "rw"}}, "tmpfs only at /tmp"),
    ],
)
def test_what_escapes_the_sandbox_is_refused(host: dict[str, Any], reason: str) -> None:
    assert reason in refusal(create_body(**host))


def test_only_the_steps_own_volumes_mount_and_read_only_where_it_only_reads() -> None:
    body = create_body()
    body["HostConfig"]["Mounts"][0]["ReadOnly"] = False
    assert refusal(body) == "detect_drift only reads mindpulse_data: it is mounted read-only"
    body = create_body()
    body["HostConfig"]["Mounts"].append({"Type": "volume", "Source": "mindpulse_models", "Target": "/models"})
    assert "detect_drift mounts only ['mindpulse_data'], not 'mindpulse_models'" in refusal(body)
    body = create_body()
    body["HostConfig"]["Mounts"][0].update(Type="bind", Source="/")
    assert refusal(body) == "a bind mount of '/' is not allowed: a step mounts only its named volumes"
    body = create_body()
    driver = {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}
    body["HostConfig"]["Mounts"][0]["VolumeOptions"] = {"DriverConfig": driver}
    assert refusal(body) == "a mount of 'mindpulse_data' may not configure a volume driver or other mount options"


def test_only_step_images_with_the_stacks_tag_and_their_own_label() -> None:
    for image in ("alpine:3", "mindpulse/detect-drift:latest", "mindpulse/airflow:0.1.0", "evil/detect-drift:0.1.0"):
        body = create_body()
        body["Image"] = image
        assert refusal(body).startswith(f"image {image!r} is not a MindPulse step image")
    body = create_body()
    body["Labels"][sandbox.STEP_LABEL] = "train_new_model"
    assert "must carry the label org.mindpulse.step=detect_drift" in refusal(body)
    assert "is not a MindPulse step image" in refusal(create_body(settings=SETTINGS), CLUSTER)
    for user in ("0", "root", "0:0"):
        assert refusal({**create_body(), "User": user}) == "a step container does not run as root"
    assert "own entrypoint" in refusal({**create_body(), "Entrypoint": ["sh", "-c", "id"]})


def test_a_setting_the_engine_would_read_under_another_spelling_is_refused() -> None:
    """The engine (Go) matches JSON keys to settings whatever their case, the last of two winning: a body the guard
    could read one way and the engine another is refused, not judged."""
    body = json.dumps(create_body())
    # A second HostConfig, privileged, after the checked one: the engine would take the second.
    twice = body[:-1] + ', "hostConfig": {"Privileged": true}}'
    assert refusal_of(twice) == "the create request names one setting twice ('HostConfig' and 'hostConfig')"
    # The entrypoint rule reads "Entrypoint"; the engine reads any spelling, alone or beside it.
    assert refusal_of(body[:-1] + ', "entrypoint": ["sh"]}') == (
        "the create request names one setting twice ('Entrypoint' and 'entrypoint')"
    )
    alone = {key: value for key, value in create_body().items() if key != "Entrypoint"}
    assert refusal_of(json.dumps({**alone, "entrypoint": ["sh"]})) == (
        "the container has a setting 'entrypoint' a step container does not have"
    )
    # Inside HostConfig and a mount: a read-only root or a read-only mount undone by a second, lower-case key.
    loose = create_body()
    loose["HostConfig"]["readonlyRootfs"] = False
    assert "names one setting twice ('ReadonlyRootfs' and 'readonlyRootfs')" in refusal_of(json.dumps(loose))
    loose = create_body()
    loose["HostConfig"]["Mounts"][0]["readOnly"] = False
    assert "names one setting twice ('ReadOnly' and 'readOnly')" in refusal_of(json.dumps(loose))
    loose = create_body()
    loose["HostConfig"]["LogConfig"] = {"type": "syslog"}
    assert refusal_of(json.dumps(loose)) == "HostConfig.LogConfig has a setting 'type' a step container does not have"
    loose = create_body()
    loose["HostConfig"]["MaskedPaths"] = []
    assert "HostConfig.MaskedPaths is not allowed" in refusal_of(json.dumps(loose))
    loose = create_body()
    loose["NetworkingConfig"] = {"EndpointsConfig": {"mindpulse_default": {}}}
    assert refusal_of(json.dumps(loose)) == "a step container joins no other network (mindpulse_default)"


def refusal_of(body: str) -> str:
    with pytest.raises(Refused) as refused:
        decide(Request("POST", f"/v{API}/containers/create", body.encode()), SETTINGS)
    return str(refused.value)


@pytest.mark.parametrize(
    ("method", "target", "reason"),
    [
        ("POST", "/v1.45/containers/abc/exec", "not an operation a MindPulse step needs"),
        ("POST", "/v1.45/exec/abc/start", "not an operation a MindPulse step needs"),
        ("POST", "/v1.45/build?t=x", "not an operation a MindPulse step needs"),
        ("POST", "/v1.45/images/load", "not an operation a MindPulse step needs"),
        ("PUT", "/v1.45/containers/abc/archive?path=/", "not an operation a MindPulse step needs"),
        ("GET", "/v1.45/info", "not an operation a MindPulse step needs"),
        ("POST", "/v1.45/containers/prune", "not an operation a MindPulse step needs"),
        ("GET", "/v1.45/volumes/postgres-db", "volume 'postgres-db' is not one of the MindPulse volumes"),
        ("GET", "/v1.45/containers/json?all=1", "needs a label filter"),
        ("GET", "/v1.45/images/json", "needs a reference filter"),
        ("GET", "/v1.45/images/alpine:3/json", "image 'alpine:3' is not a MindPulse step image"),
        ("POST", "/v1.45/images/create?fromImage=alpine&tag=3", "pulling 'alpine' is not allowed"),
        ("POST", "/v1.45/images/create?fromImage=mindpulse/detect-drift&tag=0.1.0", "pulling 'mindpulse/detect-drift'"),
        ("POST", "/v1.45/images/create?fromSrc=-", "importing an image is not allowed"),
    ],
)
def test_other_operations_are_refused_with_a_reason(method: str, target: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        decide(Request(method, target), SETTINGS)
    assert reason in str(refused.value)


def test_what_running_and_cleaning_up_a_step_needs_is_allowed() -> None:
    filters = json.dumps({"label": [f"{sandbox.DEPLOYMENT_LABEL}=mindpulse_data"], "status": ["exited"]})
    for method, target in [
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/v1.45/version"),
        ("GET", f"/v1.45/containers/json?all=1&filters={filters}"),
        ("GET", "/v1.45/images/json?filters=" + json.dumps({"reference": ["mindpulse/detect-drift:0.1.0"]})),
        ("GET", "/v1.45/images/mindpulse/detect-drift:0.1.0/json"),
        ("GET", "/v1.45/volumes/mindpulse_models"),
    ]:
        assert decide(Request(method, target), SETTINGS).container is None, target
    for method, action in [("POST", "start"), ("POST", "attach?stream=1"), ("POST", "wait"), ("GET", "logs")]:
        assert decide(Request(method, f"/v1.45/containers/c0ffee/{action}"), SETTINGS).container == "c0ffee"
    assert decide(Request("DELETE", "/v1.45/containers/c0ffee"), SETTINGS).container == "c0ffee"
    pull = "/v1.45/images/create?fromImage=mindpulse-registry:5000/mindpulse/detect-drift&tag=0.1.0"
    assert decide(Request("POST", pull), CLUSTER).container is None
    with pytest.raises(Refused, match="is not a MindPulse step image"):
        decide(Request("POST", pull.replace("0.1.0", "latest")), CLUSTER)


def test_container_operations_only_touch_step_containers() -> None:
    check_container("c0ffee", {sandbox.STEP_LABEL: "detect_drift"})
    for labels in (None, {}, {sandbox.STEP_LABEL: "postgres"}, {"com.docker.compose.service": "postgres"}):
        with pytest.raises(Refused, match="container c0ffee is not a MindPulse step container"):
            check_container("c0ffee", labels)


RECORDED, OTHER = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_settings_come_from_the_stacks_environment_and_the_image_lock(tmp_path: Path) -> None:
    listed = [f"{DRIFT.image_name} {RECORDED}", f"mindpulse/airflow {OTHER}", "mindpulse/detect-drift <none>"]
    image_lock.write(tmp_path, ["latest", "0.1.0"], listed)
    lock = tmp_path / image_lock.file_name("latest")

    settings = Settings.from_environ({"MINDPULSE_IMAGE_TAG": "latest", "MINDPULSE_DATA_VOLUME": "p_data"}, lock)

    assert settings.volumes == {volume: f"mindpulse_{volume}" for volume in VOLUME_DIRS} | {"data": "p_data"}
    assert settings.image(DRIFT) == "mindpulse/detect-drift:latest"
    assert settings.image_ids == {DRIFT.image_name: RECORDED}, "only step images are recorded"
    with pytest.raises(ValueError, match="MINDPULSE_IMAGE_TAG"):
        Settings.from_environ({}, lock)
    with pytest.raises(
        ValueError, match=rf"^{tmp_path}/gone.json: no image lock; build the images with ./build_images"
    ):
        Settings.from_environ({"MINDPULSE_IMAGE_TAG": "latest"}, tmp_path / "gone.json")
    with pytest.raises(ValueError, match=r"is for tag '0.1.0', not 'latest': ./build_images.sh --tag latest$"):
        Settings.from_environ({"MINDPULSE_IMAGE_TAG": "latest"}, tmp_path / image_lock.file_name("0.1.0"))


def test_a_step_container_starts_only_from_the_build_the_lock_recorded() -> None:
    settings = replace(SETTINGS, image_ids={DRIFT.image_name: RECORDED})
    image = settings.image(DRIFT)
    request = Request("POST", f"/v{API}/containers/create", json.dumps(create_body(DRIFT, settings)).encode())
    assert decide(request, settings).image == image, "a create is checked against the lock before it is forwarded"

    check_image(image, RECORDED, settings)
    with pytest.raises(Refused, match=rf"^image {image} is not on this engine: build it with ./build_images.sh$"):
        check_image(image, None, settings)
    with pytest.raises(Refused) as replaced:
        check_image(image, OTHER, settings)
    assert (
        str(replaced.value)
        == f"image {image} is {OTHER[:19]}, not the build ./build_images.sh recorded ({RECORDED[:19]})"
    )
    merge = settings.image(catalog.step("merge_production_data"))
    with pytest.raises(Refused, match=r"^no build of mindpulse/merge-production-data is recorded in the image lock"):
        check_image(merge, RECORDED, settings)
