"""The cluster stack end to end (docker-compose.yml + docker-compose.cluster.yml): Airflow with the
CeleryExecutor, a Redis broker, the image registry and two worker hosts, each an Airflow Celery worker on
its own Docker engine (Docker-in-Docker) that starts without any image and pulls the steps from the registry.

One cluster per module, started as the README says: `scripts/cluster.sh` in a fresh clone, with no .env and no
exported setting (tests/e2e/fresh_clone.py), so its names, ports, volumes, tag and queues are the defaults a
user gets. The single-machine e2e stack, which runs alongside, has its own project and names.
In order: both DAGs at once while a container outside the workers appends rows; a worker host killed while
it trains, under the default queues, rows appended the whole time; the bad inputs a worker host checks before
it starts a step.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import re
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.cluster_scaling import REGISTRY_PASSWORD
from mindpulse import catalog, image_lock, sandbox
from mindpulse.paths import Layout, volume_name
from mindpulse.registry import current_version, verified_model_path
from tests.e2e import fresh_clone
from tests.e2e.compose_stack import (
    REPO,
    REPORTING,
    RETRAIN,
    RUN_TIMEOUT,
    TAG,
    Stack,
    run_command,
)
from tests.e2e.engine_attacks import GUARD_REFUSALS, NEIGHBOUR_ANSWERS, WORKER_STEP_ANSWERS, attack_engine
from tests.e2e.model_attacks import MODEL_ANSWERS, attack_live_model

pytestmark = pytest.mark.cluster

CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
# Each worker host's Celery workers: the default queue's and the heavy queue's (docker-compose.cluster.yml).
WORKERS = ("worker-1", "heavy-worker-1", "worker-2", "heavy-worker-2")
# Airflow's setting for how long a task without heartbeat stays "running" (MINDPULSE_HEARTBEAT_TIMEOUT).
HEARTBEAT_TIMEOUT = "task_instance_heartbeat_timeout"
# Longer than a few scheduler loops: a promotion's asset event becomes a reporting run one loop later.
SETTLE_SECONDS = 20
# The appender's rows carry their number in the timestamp's microseconds and in Physical_Activity's decimals.
APPENDER_SOURCE = REPO / "tests" / "integration" / "production_appender.py"
ROW_NUMBER = re.compile(r"\.(\d{6})\+00:00$")


def host_of(worker: str) -> int:
    """The worker host a Celery worker's hostname belongs to (worker-2 and heavy-worker-2: 2)."""
    return int(worker.rpartition("-")[2])


class Cluster(Stack):
    files = ("docker-compose.yml", "docker-compose.cluster.yml")

    @property
    def registry_port(self) -> int:
        return int(self.settings["MINDPULSE_REGISTRY_PORT"])

    def volume(self, kind: str) -> str:
        return volume_name(kind, self.settings)

    def host_containers(self, host: int) -> list[str]:
        """The containers of worker host `host`: its engine, its guard and its Celery workers."""
        names = [f"dockerhost-{host}", f"guard-{host}", *(worker for worker in WORKERS if host_of(worker) == host)]
        return [self.container(name) for name in names]

    def engine(self, host: int, *args: str) -> subprocess.CompletedProcess:
        """A docker command against worker host `host`'s own engine."""
        return run_command(["docker", "exec", self.container(f"dockerhost-{host}"), "docker", *args])

    def registry_password(self) -> str:
        """The password secrets-init generated for the registry, read as scripts/cluster.sh reads it."""
        read = self.compose("run", "--rm", "--no-deps", "-T", "--entrypoint", "cat", "registry", REGISTRY_PASSWORD)
        assert read.returncode == 0 and read.stdout, read.stderr
        return read.stdout

    def step_images(self, host: int) -> list[str]:
        listed = self.engine(host, "images", "--format", "{{.Repository}}:{{.Tag}}")
        assert listed.returncode == 0, listed.stderr
        return [line for line in listed.stdout.split() if "mindpulse/" in line]

    def celery(self, worker: str, *args: str) -> subprocess.CompletedProcess:
        return self.exec(
            worker, "celery", "--app", CELERY_APP, *args, "--destination", f"celery@{self.container(worker)}"
        )

    def layout(self) -> Layout:
        """The shared storage as the steps see it, with the install's public key copied out of the trust volume
        (an engine volume, not shared storage) so that the live model can be verified here."""
        trust = self.shared.parent / "trust"
        if not trust.is_dir():
            volume = f"{self.volume('trust')}:/trust:ro"
            image = f"mindpulse/family-base:{TAG}"
            key = run_command(
                ["docker", "run", "--rm", "--network", "none", "-v", volume, image, "cat", "/trust/model-signing.pub"]
            )
            assert key.returncode == 0, key.stderr
            trust.mkdir()
            (trust / "model-signing.pub").write_text(key.stdout)
        return dataclasses.replace(Layout.under(self.shared), trust_dir=trust)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    cluster, exit_code, printed = fresh_clone.start(tmp_path_factory, "cluster.sh", Cluster)
    try:
        assert exit_code == 0, printed[-5000:]
        # Before anything ran, the start command found every step image in the registry as built.
        registry = f"127.0.0.1:{cluster.registry_port}"
        assert f"image lock: every step image of tag {cluster.tag} is in the registry {registry}" in printed
        # The clone built the very images this checkout did: the layers beside this one still find theirs.
        clone_lock = cluster.repo / "image-locks" / f"{TAG}.json"
        assert clone_lock.read_text() == (REPO / "image-locks" / f"{TAG}.json").read_text()
        yield cluster
    finally:
        if request.session.testsfailed:
            print(cluster.compose("ps", "--all").stdout)
            print(cluster.logs())
        _remove_appenders(cluster)
        cluster.compose("down", "--volumes", "--remove-orphans", timeout=300)


@pytest.fixture(autouse=True)
def _no_appender_outlives_its_test(cluster: Cluster) -> Iterator[None]:
    """A test that fails before it stops its appender would leave it writing rows whose numbers the next test's
    appender uses again: that test would then fail on rows it did not write."""
    yield
    _remove_appenders(cluster)


def _remove_appenders(cluster: Cluster) -> None:
    # The appenders run on the outer engine, outside the project: they would also hold its data volume.
    appenders = run_command(
        ["docker", "ps", "--all", "--quiet", "--filter", f"name={cluster.project}-appender-"]
    ).stdout.split()
    if appenders:
        run_command(["docker", "rm", "--force", *appenders])


# --- REST helpers ------------------------------------------------------------------------------------------


def _wait(cluster: Cluster, token: str, dag_id: str, run_id: str) -> str:
    """The state of `run_id` once it and every other run of the DAG have finished."""
    runs = cluster.wait_for_runs(token, dag_id, run_id)
    return next(run["state"] for run in runs if run["dag_run_id"] == run_id)


def _settle(cluster: Cluster, token: str) -> None:
    """Return once no run of either DAG is queued or running, and none appeared in SETTLE_SECONDS. A retrain
    that promotes triggers a reporting run through its asset, after the retrain run itself has finished, and
    that run's step containers hold the shared volumes."""
    deadline = time.monotonic() + RUN_TIMEOUT
    previous = None
    while True:
        runs = {
            (dag_id, run["dag_run_id"], run["state"])
            for dag_id in (RETRAIN, REPORTING)
            for run in cluster.runs(token, dag_id)
        }
        finished = all(state in ("success", "failed") for _, _, state in runs)
        if finished and runs == previous:
            return
        assert time.monotonic() < deadline, f"runs unfinished after {RUN_TIMEOUT} s: {sorted(runs)}"
        previous = runs if finished else None
        time.sleep(SETTLE_SECONDS if finished else 5)


def _task_log(cluster: Cluster, token: str, dag_id: str, run_id: str, task_id: str, attempt: int = 1) -> str:
    quoted = urllib.parse.quote(run_id, safe="")
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{attempt}?full_content=true"
    return json.dumps(cluster.api("GET", path, token=token))


# --- production rows -----------------------------------------------------------------------------------------


def _appender(cluster: Cluster, name: str, environment: dict[str, str]) -> str:
    """The serving API's stand-in, on the outer engine (outside every worker host), on the shared data folder."""
    started = run_command(
        [
            "docker", "run", "--detach", "--name", f"{cluster.project}-appender-{name}", "--network", "none",
            "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--volume", f"{cluster.volume('data')}:/data",
            *(item for key, value in environment.items() for item in ("--env", f"{key}={value}")),
            f"mindpulse/family-pandas:{TAG}", "python", "-c", APPENDER_SOURCE.read_text(),
        ]
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    return started.stdout.strip()


def _stop_appender(container: str) -> int:
    """Stop the appender; the rows it appended."""
    run_command(["docker", "stop", "--time", "30", container])
    logs = run_command(["docker", "logs", container]).stdout
    run_command(["docker", "rm", "--force", container])
    report = json.loads(logs.strip().splitlines()[-1])
    assert report["event"] == "stopped", logs[-2000:]
    return report["rows"]


def _appended_rows(layout: Layout) -> list[int]:
    """The appender's row numbers found in every archive and the live prod_data.csv, one entry per copy."""
    found = []
    for path in [*sorted((layout.data_dir / "archive").glob("*")), layout.data_dir / "prod_data.csv"]:
        lines = path.read_text().splitlines()
        columns = lines[0].split(",")
        stamp, activity = columns.index("timestamp"), columns.index("Physical_Activity")
        for line in lines[1:]:
            values = line.replace('"', "").split(",")
            match = ROW_NUMBER.search(values[stamp])
            if match and values[activity].endswith("." + match.group(1)):
                found.append(int(match.group(1)))
    return found


# --- the tests -----------------------------------------------------------------------------------------------


def test_the_start_commands_check_finds_a_tag_or_an_image_the_registry_does_not_serve(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/cluster.sh checks the registry against the image lock before anything runs (the fixture saw it
    pass); here the same check meets a tag that was never pushed and a lock that records another build."""
    registry = f"127.0.0.1:{cluster.registry_port}"
    monkeypatch.setenv(image_lock.REGISTRY_PASSWORD_VARIABLE, cluster.registry_password())
    built = image_lock.read(cluster.repo / "image-locks" / image_lock.file_name(cluster.tag), cluster.tag)
    assert image_lock.check(cluster.repo / "image-locks", cluster.tag, [], registry) is None
    first = catalog.STEPS[0].image_name
    listed = [f"{name} {image_id}" for name, image_id in built.items()]
    image_lock.write(tmp_path / "unpushed", ["never-pushed"], listed)
    assert image_lock.check(tmp_path / "unpushed", "never-pushed", [], registry) == (
        f"{first}:never-pushed is not in the registry {registry}"
    )
    other_build = "sha256:" + "0" * 64
    other = {**built, first: other_build}
    image_lock.write(tmp_path / "other", [cluster.tag], [f"{name} {image_id}" for name, image_id in other.items()])
    assert image_lock.check(tmp_path / "other", cluster.tag, [], registry) == (
        f"{first}:{cluster.tag} in the registry {registry} is {built[first]}, not the build's {other_build}"
    )


def test_worker_hosts_start_without_images_and_the_registry_holds_them(cluster: Cluster) -> None:
    for host in (1, 2):
        assert cluster.step_images(host) == [], f"dockerhost-{host} must start with an empty image store"
    # Unverified here: the worker engines verify the registry's certificate (they pull with its CA and no
    # --insecure-registry), which the two-DAG test below proves.
    credential = base64.b64encode(f"mindpulse:{cluster.registry_password()}".encode()).decode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{cluster.registry_port}/v2/_catalog", headers={"Authorization": f"Basic {credential}"}
    )
    with urllib.request.urlopen(request, timeout=10, context=ssl._create_unverified_context()) as response:
        repositories = set(json.load(response)["repositories"])
    assert {step.image_name for step in catalog.STEPS} <= repositories


PROBE_SERVICES = """
import http.client, socket, ssl
with socket.create_connection(("redis", 6379), timeout=10) as redis:
    redis.sendall(b"PING\\r\\n")
    print("redis:", redis.recv(200).decode().strip())
registry = http.client.HTTPSConnection("mindpulse-registry", 5000, timeout=10, context=ssl._create_unverified_context())
registry.request("GET", "/v2/_catalog")
answer = registry.getresponse()
print("registry:", answer.status, answer.getheader("Docker-Distribution-Api-Version"))
plain = http.client.HTTPConnection("mindpulse-registry", 5000, timeout=10)
plain.request("GET", "/v2/_catalog")
print("registry over http:", plain.getresponse().status)
"""


def test_the_broker_and_the_registry_refuse_a_neighbour_without_credentials(cluster: Cluster) -> None:
    """A plain container on the stack's network reaches Redis and the registry (each answers), and each refuses
    it: Redis wants the password, the registry its user, and it speaks only TLS."""
    probe = run_command(
        ["docker", "run", "--rm", "--network", f"{cluster.project}_default", f"mindpulse/family-base:{TAG}",
         "python", "-c", PROBE_SERVICES]
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [answer for answer in NEIGHBOUR_ANSWERS.values() if "Refused" not in answer]


PROBE_ENGINE = """
import socket, sys
address = socket.getaddrinfo(sys.argv[1], 2375, type=socket.SOCK_STREAM)[0][4]
for port in (2375, 2376):
    try:
        socket.create_connection((address[0], port), timeout=10).close()
        print(port, "open")
    except OSError as error:
        print(port, type(error).__name__)
"""


def test_worker_engines_answer_only_their_guard_which_refuses_every_attack(cluster: Cluster) -> None:
    """A worker reaches its host's engine only through guard-1, which refuses every attack; a plain container on
    the stack's network finds the engine's host (the name resolves, the host answers) but no port to talk to."""
    victim = "mindpulse-no-such-container"
    results = attack_engine(cluster, "worker-1", victim)
    assert results.pop("engine socket mounted") is False
    expected_image = f"(expected mindpulse-registry:5000/mindpulse/check-production-data:{cluster.tag}, ...)"
    for name in ("create a privileged container", "bind-mount /", "add SYS_ADMIN", "network_mode host"):
        assert results[name] == "403 mindpulse-guard: refused " + GUARD_REFUSALS[name], name
    assert results["exec into another container"] == (
        f"403 mindpulse-guard: refused POST /containers/{victim}/exec: not an operation a MindPulse step needs"
    )
    assert results["run an image that is not a step"] == (
        f"403 mindpulse-guard: refused POST /containers/create: image 'mindpulse/airflow:{cluster.tag}' is not a"
        f" MindPulse step image {expected_image}"
    )
    assert results["pull an arbitrary image"] == (
        f"403 mindpulse-guard: refused POST /images/create: image 'alpine:3' is not a MindPulse step image"
        f" {expected_image}"
    )
    assert cluster.engine(1, "ps", "--all", "--quiet", "--filter", "label=org.mindpulse.attack").stdout.split() == []
    probe = run_command(
        ["docker", "run", "--rm", "--network", f"{cluster.project}_default", f"mindpulse/family-base:{TAG}",
         "python", "-c", PROBE_ENGINE, cluster.container("dockerhost-1")]
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [answer for answer in NEIGHBOUR_ANSWERS.values() if "Refused" in answer]


def test_both_dags_run_at_once_across_two_worker_hosts_and_no_appended_row_is_lost(cluster: Cluster) -> None:
    token = cluster.token()
    appender = _appender(cluster, "both-dags", {"PAUSE": "0.05", "SEED": "11"})
    for dag_id in (RETRAIN, REPORTING):
        cluster.unpause(token, dag_id)
    # Forced: the unpause also creates a scheduled run, which may take the seeded rows first and leave this
    # run's checks nothing to retrain on. The trigger decision is not under test here; where training runs is.
    conf = {RETRAIN: {"force": True}, REPORTING: {}}
    runs = {dag_id: cluster.trigger(token, dag_id, conf[dag_id]) for dag_id in (RETRAIN, REPORTING)}
    states = {dag_id: _wait(cluster, token, dag_id, run_id) for dag_id, run_id in runs.items()}
    appended = _stop_appender(appender)
    instances = {dag_id: cluster.instances(token, dag_id, run_id) for dag_id, run_id in runs.items()}

    assert states == {RETRAIN: "success", REPORTING: "success"}, instances
    ran = [ti for tasks in instances.values() for ti in tasks.values() if ti["state"] == "success"]
    # Both hosts consume both queues: the steps of the two runs went to both.
    assert {host_of(ti["hostname"]) for ti in ran} == {1, 2}, [(ti["task_id"], ti["hostname"]) for ti in ran]
    train = instances[RETRAIN]["train_new_model"]
    assert train["queue"] == "heavy" and instances[RETRAIN]["merge_production_data"]["queue"] == "default"
    assert train["hostname"].startswith(cluster.container("heavy-worker-")), train
    # The steps ran from images each engine pulled: the host that trained has the training image.
    assert "mindpulse/train-new-model" in " ".join(cluster.step_images(host_of(train["hostname"])))

    found = _appended_rows(cluster.layout())
    assert appended > 0 and sorted(found) == list(range(1, appended + 1)), "0 rows lost, 0 counted twice"
    assert (cluster.layout().data_dir / "archive").is_dir(), "the retrain run archived the rows it used"


# Run inside a step container on worker host 1: what an attacker who took over a step's code there finds.
PROBE_FROM_A_WORKER_STEP = """
import http.client, os, socket, ssl, sys
redis, registry, other_host = sys.argv[1:4]
sockets = ("/var/run/docker.sock", "/run/mindpulse-guard/docker.sock", "/run/dockerhost/docker.sock")
print("sockets:", [path for path in sockets if os.path.exists(path)])
with open("/proc/net/route") as routes:
    gateway = next(line.split()[2] for line in routes if line.split()[1] == "00000000")
gateway = socket.inet_ntoa(bytes.fromhex(gateway)[::-1])
for name, address in (("its host", gateway), ("the other host", other_host)):
    for port in (2375, 2376):
        try:
            socket.create_connection((address, port), timeout=10).close()
            print(name, port, "open")
        except OSError as error:
            print(name, port, type(error).__name__)
with socket.create_connection((redis, 6379), timeout=10) as connection:
    connection.sendall(b"PING\\r\\n")
    print("redis:", connection.recv(200).decode().strip())
answer = http.client.HTTPSConnection(registry, 5000, timeout=10, context=ssl._create_unverified_context())
answer.request("GET", "/v2/_catalog")
reply = answer.getresponse()
print("registry:", reply.status, reply.getheader("Docker-Distribution-Api-Version"))
"""


def _address(cluster: Cluster, service: str) -> str:
    container = cluster.compose("ps", "--quiet", service).stdout.strip()
    found = run_command(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                         container])  # fmt: skip
    assert found.returncode == 0 and found.stdout.split(), found.stderr
    return found.stdout.split()[0]


def test_a_step_on_a_worker_host_reaches_no_engine_and_no_service_without_credentials(cluster: Cluster) -> None:
    """A step container in worker host 1's engine as the DAG runs a notify step there (the sandbox, the default
    bridge) with its code replaced: no socket, no engine port on its own host or the other, and the broker and the
    registry (which it reaches: each answers) refuse it without their credentials."""
    [image, *_] = cluster.step_images(1)  # any step image this host pulled; each has Python
    addresses = [_address(cluster, service) for service in ("redis", "registry", "dockerhost-2")]
    probe = cluster.engine(
        1, "run", "--rm", "--network=bridge", *sandbox.docker_run_flags(), "--entrypoint=python", image,
        "-c", PROBE_FROM_A_WORKER_STEP, *addresses,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == list(WORKER_STEP_ANSWERS.values())


# Appends audit lines as the steps do (mindpulse.audit.append, under the registry lock), each naming its writer,
# its number and the time it was written, with padding that makes a line far longer than one write the kernel
# keeps whole across NFS clients.
# Both start at one wall-clock moment (sys.argv[3]), as starting two containers one after the other does not.
APPEND_AUDIT_LINES = """
import sys, time
from mindpulse import audit
from mindpulse.paths import Layout
layout = Layout.from_env()
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
for number in range(int(sys.argv[2])):
    audit.append(layout, {"event": "cross_host_note", "writer": sys.argv[1], "number": number, "t": time.time(),
                          "padding": "x" * 20000})
"""
CROSS_HOST_LINES = 300


def test_audit_appends_from_two_worker_hosts_at_once_are_each_one_whole_line(cluster: Cluster) -> None:
    """A step container on each worker host appends to the one audit log on the shared storage at the same time,
    through the registry lock both see: every line whole, none lost, each writer's in order."""
    _settle(cluster, cluster.token())
    models = f"{cluster.volume('models')}:/models"
    start_at = str(time.time() + 20)  # time for both containers to be created and started
    started = {}
    for host in (1, 2):
        [image, *_] = cluster.step_images(host)
        run = cluster.engine(
            host, "run", "--detach", "--network=none", *sandbox.docker_run_flags(), "-v", models,
            "--entrypoint=python", image, "-c", APPEND_AUDIT_LINES, f"host-{host}", str(CROSS_HOST_LINES), start_at,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        started[host] = run.stdout.strip()
    for host, container in started.items():
        waited = cluster.engine(host, "wait", container)
        assert waited.stdout.strip() == "0", cluster.engine(host, "logs", container).stderr
        cluster.engine(host, "rm", container)

    lines = cluster.layout().audit_log.read_text().splitlines()
    notes = [json.loads(line) for line in lines if "cross_host_note" in line]
    assert len(notes) == 2 * CROSS_HOST_LINES, "every line parses: none torn, interleaved or lost"
    spans = {}
    for host in (1, 2):
        mine = [note for note in notes if note["writer"] == f"host-{host}"]
        assert [note["number"] for note in mine] == list(range(CROSS_HOST_LINES))
        spans[host] = (mine[0]["t"], mine[-1]["t"])
    assert spans[1][0] < spans[2][1] and spans[2][0] < spans[1][1], f"the two hosts did not append at once: {spans}"
    # The fault landed: the lines of the two hosts alternate in the file, each still whole.
    turns = sum(1 for before, after in itertools.pairwise(notes) if before["writer"] != after["writer"])
    assert turns > 2, f"the hosts' lines never alternated ({turns} turns): no contention was tested"


def test_a_crafted_model_on_the_shared_storage_is_refused_and_never_unpickled(cluster: Cluster) -> None:
    """The single machine's model attack (tests/e2e/model_attacks.py), on the cluster's shared storage and the key
    pair its airflow-init made. Once no run is in flight: the live model's files are swapped for a moment."""
    _settle(cluster, cluster.token())
    found = attack_live_model(cluster)

    answer = next(iter(MODEL_ANSWERS.values()))
    assert found["unverified"] == {"checksum_holds": True, "pickle_ran": True}, "the attack did not land"
    assert found["exit_code"] == 1 and found["stderr"] == [answer.format(version=found["planted"]["version"])], found
    assert found["data_unchanged"] and not found["pickle_ran_in_step"]


def test_a_worker_host_killed_while_training_is_retried_on_the_other(cluster: Cluster) -> None:
    """Under the default queues and timings: the whole host that trains (engine, guard, both workers) is killed and
    not restarted; the other host's heavy worker trains again after the heartbeat timeout and the retry delay, while
    rows are appended the whole time."""
    token = cluster.token()
    cluster.unpause(token, RETRAIN)  # as the earlier tests leave it, so that this one also runs alone
    layout = cluster.layout()
    before = sorted(_appended_rows(layout))
    appender = _appender(cluster, "killed-host", {"PAUSE": "0.2", "SEED": "12", "FIRST": str(len(before) + 1)})
    live_before = current_version(layout)
    run_id = cluster.trigger(token, RETRAIN, {"force": True})

    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        train = cluster.instances(token, RETRAIN, run_id).get("train_new_model", {})
        if train.get("state") == "running" and train.get("hostname"):
            break
        assert train.get("state") not in ("success", "failed", "skipped"), train
        assert time.monotonic() < deadline, train
        time.sleep(1)
    doomed = cluster.host_containers(host_of(train["hostname"]))
    # No restart policy for the killed host: it stays dead until the test brings it back.
    run_command(["docker", "update", "--restart", "no", *doomed])
    # The workers die first: a worker that outlived its engine by a moment would see the training container's
    # connection drop and report the failure itself (the retry then starts after the retry delay alone), which a
    # host that loses power never does.
    engine_and_guard, workers = doomed[:2], doomed[2:]
    for group in (workers, engine_and_guard):
        killed = run_command(["docker", "kill", "--signal", "KILL", *group])
        assert killed.returncode == 0, killed.stderr
    killed_at = datetime.now(UTC)
    try:
        state = _wait(cluster, token, RETRAIN, run_id)
        retried = cluster.instances(token, RETRAIN, run_id)["train_new_model"]
        appended = _stop_appender(appender)
    finally:
        run_command(["docker", "update", "--restart", "unless-stopped", *doomed])
        for container in doomed:  # the engine first, then its guard, then the workers
            run_command(["docker", "start", container])
        cluster.wait_healthy(tuple(name.removeprefix(cluster.container("")) for name in doomed))

    assert state == "success", cluster.instances(token, RETRAIN, run_id)
    assert retried["try_number"] >= 2, retried
    assert host_of(retried["hostname"]) != host_of(train["hostname"]), (train["hostname"], retried["hostname"])
    # What the host's death cost (docs/scaling.md): the retry waited for the default heartbeat timeout, which
    # counts from the task's last beat (a few seconds before the kill), then the retry delay.
    timeout = cluster.exec("airflow-scheduler", "airflow", "config", "get-value", "scheduler", HEARTBEAT_TIMEOUT)
    waited = (datetime.fromisoformat(retried["start_date"]) - killed_at).total_seconds()
    print(f"the host died {waited:.0f} s before the retry started (heartbeat timeout {timeout.stdout.strip()} s)")
    assert waited >= int(timeout.stdout) - 30, (waited, timeout.stdout)
    verified_model_path(layout)  # raises when the live model does not match its signature or checksum
    assert current_version(layout) is not None and current_version(layout) >= (live_before or "")
    found = sorted(_appended_rows(layout))
    assert appended > 0 and found == list(range(1, len(before) + appended + 1)), "0 rows lost, 0 counted twice"


def _fails_at_first_step_with(cluster: Cluster, line: str) -> None:
    """A reporting run fails at its first step with exactly one ERROR line containing `line`, and no step
    container was created for it."""
    token = cluster.token()
    run_id = cluster.trigger(token, REPORTING)
    assert _wait(cluster, token, REPORTING, run_id) == "failed"
    first = catalog.steps_of(catalog.REPORTING)[0].name
    instance = cluster.instances(token, REPORTING, run_id)[first]
    assert instance["state"] == "failed" and instance["try_number"] == 1, instance
    log = _task_log(cluster, token, REPORTING, run_id, first)
    errors = re.findall(r"ERROR: [^\"\\]*", log)
    assert len(errors) == 1 and line in errors[0], errors
    for host in (1, 2):
        containers = cluster.engine(host, "ps", "--all", "--quiet", "--filter", f"label=org.mindpulse.step={first}")
        assert containers.stdout.split() == [], f"dockerhost-{host} created a container for {first}"


def test_a_worker_host_without_the_shared_storage_stops_before_any_step(cluster: Cluster) -> None:
    volume = cluster.volume("data")
    # The kill test's retrain may have promoted, and the reporting run it triggers may still be running.
    _settle(cluster, cluster.token())
    for host in (1, 2):
        # A failed step's container is kept for a post-mortem (the kill test leaves one), and a volume a
        # container mounts cannot be removed: a host without the shared storage has no such container.
        assert cluster.engine(host, "container", "prune", "--force").returncode == 0
        removed = cluster.engine(host, "volume", "rm", volume)
        holders = cluster.engine(host, "ps", "--all", "--filter", f"volume={volume}", "--format", "{{.Names}}")
        assert removed.returncode == 0, removed.stderr + holders.stdout
    try:
        _fails_at_first_step_with(cluster, f"has no volume {volume}: the shared storage is not mounted there")
    finally:
        for host in (1, 2):
            device = "device=/mindpulse-shared/data"
            cluster.engine(host, "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", device, volume)


def test_a_registry_that_does_not_answer_stops_the_step_before_it_starts(cluster: Cluster) -> None:
    first = catalog.step(catalog.steps_of(catalog.REPORTING)[0].name).image_name
    for host in (1, 2):
        for image in cluster.step_images(host):
            if first in image:
                cluster.engine(host, "rmi", image)
    cluster.compose("stop", "registry")
    try:
        _fails_at_first_step_with(cluster, f"cannot pull mindpulse-registry:5000/{first}:{cluster.tag}")
    finally:
        cluster.compose("start", "registry")


def test_a_queue_no_worker_consumes_stops_the_run_before_any_step(cluster: Cluster) -> None:
    """The reporting DAG routes its Evidently steps to `heavy`; with no worker consuming it, its first step (on
    `default`) says so instead of the run waiting for ever."""
    heavy_workers = [worker for worker in WORKERS if worker.startswith("heavy-")]
    for worker in heavy_workers:
        cancelled = cluster.celery(worker, "control", "cancel_consumer", "heavy")
        assert cancelled.returncode == 0 and "heavy" in cancelled.stdout, cancelled.stdout + cancelled.stderr
    try:
        _fails_at_first_step_with(cluster, "queue heavy has no Celery worker consuming it")
    finally:
        for worker in heavy_workers:
            added = cluster.celery(worker, "control", "add_consumer", "heavy")
            assert added.returncode == 0, added.stderr
