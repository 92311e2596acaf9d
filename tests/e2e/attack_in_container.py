"""Attacks on the Docker engine from inside a component of a live stack (run there with `python -`): each
attempt is made through whatever engine address the component holds, and what came back is printed as one
JSON line: "ALLOWED", or the HTTP status and the refusal. Every attempt that creates something labels it
with ATTACK_LABEL, so the test can check that nothing was created."""

import json
import os

import docker
from docker.errors import APIError, DockerException

tag = os.environ["MINDPULSE_IMAGE_TAG"]
registry = os.environ.get("MINDPULSE_REGISTRY", "")
step_image = f"{registry + '/' if registry else ''}mindpulse/detect-drift:{tag}"
marker = {"org.mindpulse.step": "detect_drift", "org.mindpulse.attack": os.environ["ATTACK_ID"]}
sandbox = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "pids_limit": 512}
results = {"engine socket mounted": os.path.exists("/var/run/docker.sock")}

try:
    client = docker.APIClient(base_url=os.environ.get("DOCKER_HOST") or "unix://var/run/docker.sock", timeout=30)
except DockerException as error:
    client = None
    results["engine"] = f"unreachable: {error}"


def attempt(name, call):
    try:
        call()
        results[name] = "ALLOWED"
    except APIError as error:
        results[name] = f"{error.response.status_code} {error.explanation}"


def create(image=step_image, **host):
    config = client.create_host_config(**{**sandbox, "network_mode": "none", **host})
    client.create_container(image, ["--help"], labels=marker, host_config=config)


if client is not None:
    attempt("create a privileged container", lambda: create(privileged=True))
    attempt("bind-mount /", lambda: create(binds=["/:/host"]))
    attempt("add SYS_ADMIN", lambda: create(cap_add=["SYS_ADMIN"]))
    attempt("network_mode host", lambda: create(network_mode="host"))
    attempt("run an image that is not a step", lambda: create(image=f"mindpulse/airflow:{tag}"))
    attempt("exec into another container", lambda: client.exec_create(os.environ["VICTIM"], ["id"]))
    attempt("read another container's settings", lambda: client.inspect_container(os.environ["VICTIM"]))
    attempt("pull an arbitrary image", lambda: client.pull("alpine", tag="3"))
print(json.dumps(results))
