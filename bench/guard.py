"""Section: what the Docker guard adds to a step.

The guard (orchestrator/guard) sits between Airflow and the engine and sees every API request a task makes.
This section starts the real guard image on this machine's engine, as docker-compose.yml starts it, and
drives one step the way the DockerOperator does (docker-py: list the image, prune-list the deployment's
containers, create, attach, start, wait, read the logs, remove), once straight at the engine and once
through the guard, alternating which goes first. The step runs `--help`, so the figure is the API's cost and
not the step's work. Added time = through the guard - direct, per pair; published as median (min-max).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

import docker
from docker.types import Mount

from bench.harness import REPO, Run, fixed, span, spread
from bench.harness import docker as docker_cli
from mindpulse import catalog, image_lock, sandbox
from mindpulse.paths import VOLUME_DIRS

TITLE = "Docker guard: added time per step"
TARGET_S = 0.05
STEP = catalog.step("check_production_data")
PAIRS = 30


def measure(run: Run) -> dict[str, Any]:
    token = uuid.uuid4().hex[:8]
    volumes = {kind: f"mindpulse-bench-{token}-{kind}" for kind in VOLUME_DIRS}
    for name in volumes.values():
        docker_cli("volume", "create", name)
        run.volumes.append(name)
    sockets = run.folder / "guard"
    sockets.mkdir()
    os.chmod(sockets, 0o777)  # the guard's own uid creates its socket here
    name = f"mindpulse-bench-guard-{token}"
    docker_cli(
        "run", "--detach", "--name", name, "--network=none", "--read-only", "--cap-drop=ALL",
        "--security-opt=no-new-privileges", f"--group-add={os.stat('/var/run/docker.sock').st_gid}",
        "--volume=/var/run/docker.sock:/var/run/docker.sock", f"--volume={sockets}:/run/mindpulse-guard",
        f"--env=MINDPULSE_IMAGE_TAG={run.tag}",
        f"--volume={REPO / 'image-locks' / image_lock.file_name(run.tag)}:{image_lock.MOUNTED}:ro",
        *(f"--env=MINDPULSE_{kind.upper()}_VOLUME={volume}" for kind, volume in volumes.items()),
        f"mindpulse/guard:{run.tag}",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (sockets / "docker.sock").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the guard did not start:\n{docker_cli('logs', name, check=False).stderr}")
            time.sleep(0.1)
        clients = {
            "direct": docker.APIClient(base_url="unix:///var/run/docker.sock", timeout=120),
            "guard": docker.APIClient(base_url=f"unix://{sockets}/docker.sock", timeout=120),
        }
        samples: dict[str, list[float]] = {"direct": [], "guard": []}
        added: list[float] = []
        pairs = 2 if run.smoke else PAIRS
        for index in range(pairs):
            order = ("direct", "guard") if index % 2 == 0 else ("guard", "direct")
            timed = {way: one_step(clients[way], run.tag, volumes) for way in order}
            for way, seconds in timed.items():
                samples[way].append(seconds)
            added.append(timed["guard"] - timed["direct"])
    finally:
        docker_cli("rm", "--force", name, check=False)
    return {
        "step": STEP.name,
        "requests_per_step": 8,
        "direct_s": spread(samples["direct"]),
        "guard_s": spread(samples["guard"]),
        "added_s": spread(added),
        "added_mean_s": statistics.fmean(added),
    }


def one_step(client: docker.APIClient, tag: str, volumes: dict[str, str]) -> float:
    """The API calls one DockerOperator task makes for STEP, in its order; their wall time."""
    image = f"{STEP.image_name}:{tag}"
    mounts = [
        Mount(VOLUME_DIRS[kind], volumes[kind], type="volume", read_only=kind not in STEP.writes)
        for kind in STEP.volumes
    ]
    host_config = client.create_host_config(
        mounts=mounts, network_mode="none", mem_limit=STEP.memory, **sandbox.host_config()
    )
    labels = {sandbox.STEP_LABEL: STEP.name, sandbox.DEPLOYMENT_LABEL: volumes["data"]}
    started = time.perf_counter()
    client.containers(all=True, filters={"label": f"{sandbox.DEPLOYMENT_LABEL}={volumes['data']}"})
    client.images(name=image)
    container = client.create_container(image, ["--help"], labels=labels, host_config=host_config)["Id"]
    stream = client.attach(container, stdout=True, stderr=True, stream=True)
    client.start(container)
    for _ in stream:
        pass
    status = client.wait(container)["StatusCode"]
    client.logs(container, stdout=True, stderr=False, tail=1)
    client.remove_container(container)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{image} --help exited {status}")
    return seconds


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    added = result["added_s"]["median"]
    return [
        {
            "target": f"the Docker guard adds <= {TARGET_S} s per step (median of paired runs)",
            "measured": f"{fixed(added, 3, '+')} s ({span(result['added_s'], 3)}; {result['added_s']['n']} pairs)",
            "met": added <= TARGET_S,
        }
    ]


def render(result: dict[str, Any]) -> str:
    mean = fixed(result["added_mean_s"], 3, "+")
    return "\n".join(
        [
            f"`{result['step']} --help`, driven as the DockerOperator drives a task ({result['requests_per_step']}"
            f" API calls), straight at the engine and through the guard, alternating; "
            f"{result['added_s']['n']} pairs, median (min-max).",
            "",
            "| way | seconds per step |",
            "|---|---|",
            f"| straight at the engine | {span(result['direct_s'], 3)} |",
            f"| through the guard | {span(result['guard_s'], 3)} |",
            f"| added by the guard, per pair | {span(result['added_s'], 3)} (mean {mean}) |",
        ]
    )
