"""The attacks the e2e and cluster layers make on a live stack, and the exact answer each must get, declared once:
the tests assert these answers, and docs/security.md's table of attacks is rendered from them
(`python -m tests.e2e.engine_attacks` writes it; tests/e2e/test_compose_file.py fails when it differs).

The attacks on an engine run inside a component (tests/e2e/attack_in_container.py) with the engine address that
component holds."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.compose_stack import TAG, Stack, run_command
from tests.e2e.model_attacks import MODEL_ANSWERS

# What each attack from the scheduler (which runs the tasks) gets back from the Docker guard, exactly.
GUARD_REFUSALS = {
    "create a privileged container": "POST /containers/create: privileged containers are not allowed",
    "bind-mount /": "POST /containers/create: a bind mount of '/' is not allowed: a step mounts only its named volumes",
    "add SYS_ADMIN": "POST /containers/create: adding capabilities (SYS_ADMIN) is not allowed",
    "network_mode host": "POST /containers/create: network mode 'host' is not allowed for detect_drift"
    " (allowed: ['none'])",
    "run an image that is not a step": f"POST /containers/create: image 'mindpulse/airflow:{TAG}' is not a MindPulse"
    f" step image (expected mindpulse/check-production-data:{TAG}, ...)",
    "exec into another container": "POST /containers/{victim}/exec: not an operation a MindPulse step needs",
    "read another container's settings": "GET /containers/{victim}/json: container {victim} is not a MindPulse"
    " step container",
    "pull an arbitrary image": "POST /images/create: pulling 'alpine' is not allowed: this engine runs only the"
    " images built on it by ./build_images.sh",
}


# What the guard answers a create of a step image that is not the build the image lock recorded (mindpulse.image_lock),
# asserted against the real engine by tests/guard/test_guard_image.py.
LOCK_REFUSALS = {
    "run a step image replaced under its name (re-tagged on the engine, or served so by a registry)": (
        "POST /containers/create: image {image} is {found}, not the build ./build_images.sh recorded ({recorded})"
    ),
    "run a step image the engine does not have (a pull would be next)": (
        "POST /containers/create: image {image} is not on this engine: build it with ./build_images.sh"
    ),
}


# What a plain container on the cluster's network gets from the broker, the registry and a worker host's engine
# (the probes in tests/cluster/test_cluster.py print these lines).
NEIGHBOUR_ANSWERS = {
    "talk to Redis without its password": "redis: -NOAUTH Authentication required.",
    "list or push images in the registry without its credential": "registry: 401 registry/2.0",
    "talk to the registry in plain HTTP": "registry over http: 400",
    "reach a worker host's engine on port 2375": "2375 ConnectionRefusedError",
    "reach a worker host's engine on port 2376 (TLS)": "2376 ConnectionRefusedError",
}
# What a step container with a network (the notify steps', when a webhook is set) finds, with its code replaced by
# an attacker's (the probe in tests/guard/test_guard_image.py prints these lines).
STEP_ANSWERS = {
    "find an engine's or the guard's socket": "sockets: []",
    "reach the engine's host on port 2375": "2375 ConnectionRefusedError",
    "reach the engine's host on port 2376 (TLS)": "2376 ConnectionRefusedError",
    "find the Docker guard by name": "docker-guard gaierror",
    "find the scheduler by name": "airflow-scheduler gaierror",
    "find PostgreSQL by name": "postgres gaierror",
}
# What a step container on a cluster worker host finds (in that host's engine, on its default bridge, as a notify step
# runs there with a webhook set; its code replaced). The stack's names do not resolve there: the broker, the registry
# and the other host are tried by address (the probe in tests/cluster/test_cluster.py prints these lines).
WORKER_STEP_ANSWERS = {
    "find an engine's or the guard's socket": "sockets: []",
    "reach its worker host's engine on port 2375": "its host 2375 ConnectionRefusedError",
    "reach its worker host's engine on port 2376 (TLS)": "its host 2376 ConnectionRefusedError",
    "reach the other worker host's engine on port 2375": "the other host 2375 ConnectionRefusedError",
    "reach the other worker host's engine on port 2376 (TLS)": "the other host 2376 ConnectionRefusedError",
    "talk to Redis without its password": "redis: -NOAUTH Authentication required.",
    "list or push images in the registry without its credential": "registry: 401 registry/2.0",
}
# What airflow-init says when the UI would be published beyond this machine with the well-known password.
DEFAULT_PASSWORD_REFUSAL = (
    "airflow-init: ERROR: AIRFLOW_BIND_ADDRESS=0.0.0.0 publishes the UI beyond this machine, and user(s) admin still"
    ' have the password "admin"'
)

SCRIPT = Path(__file__).parent / "attack_in_container.py"
SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TABLE_START, TABLE_END = "<!-- attacks: rendered by tests/e2e/engine_attacks.py -->", "<!-- end of attacks -->"


def attack_engine(stack: Stack, service: str, victim: str) -> dict[str, Any]:
    """attack_in_container.py, run inside `service` with the engine address it holds: what each attempt got."""
    attack_id = uuid.uuid4().hex
    printed = subprocess.run(
        ["docker", "exec", "-i", "-e", f"ATTACK_ID={attack_id}", "-e", f"VICTIM={victim}", stack.container(service),
         "python", "-"],
        input=SCRIPT.read_text(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-3000:]
    created = run_command(["docker", "ps", "--all", "--quiet", "--filter", f"label=org.mindpulse.attack={attack_id}"])
    assert created.stdout.split() == [], f"an attack from {service} created a container"
    return json.loads(printed.stdout.strip().splitlines()[-1])


def attack_table() -> str:
    """docs/security.md's table: every attack the live-stack tests make, and the answer they assert."""
    guarded = "the scheduler; a cluster worker, through its host's guard (there the images are named with the registry)"
    step = "a step container with a network (one machine), its code replaced"
    neighbour = "a plain container on the cluster's network"
    client = "a client of the guard"
    rows = [(name, guarded, f"`403 mindpulse-guard: refused {line}`") for name, line in GUARD_REFUSALS.items()]
    rows += [
        ("use a Docker engine at all", "the API server (it faces the network)", "no engine socket: it cannot connect"),
        ("a privileged create glued behind an allowed ping", client, "only the ping is answered"),
    ]
    example = {"image": "mindpulse/detect-drift:0.1.0", "found": "sha256:4a2f…", "recorded": "sha256:d33f…"}
    rows += [
        (name, client, f"`403 mindpulse-guard: refused {line.format(**example)}`")
        for name, line in LOCK_REFUSALS.items()
    ]
    rows += [(name, step, f"`{answer}`") for name, answer in STEP_ANSWERS.items()]
    rows += [(name, neighbour, f"`{answer}`") for name, answer in NEIGHBOUR_ANSWERS.items()]
    worker_step = "a step container on a cluster worker host, with a network, its code replaced"
    rows += [(name, worker_step, f"`{answer}`") for name, answer in WORKER_STEP_ANSWERS.items()]
    writer = "a holder of the models volume (the step user, models and trust volumes writable)"
    rows += [(name, writer, f"`{answer.format(version='vNNNN')}`") for name, answer in MODEL_ANSWERS.items()]
    rows.append(("log in from another machine as admin/admin", "the network", f"`{DEFAULT_PASSWORD_REFUSAL}`"))
    lines = [TABLE_START, "| attack | from | what comes back, asserted exactly |", "|---|---|---|"]
    lines += [f"| {name} | {source} | {answer.replace('|', '&#124;')} |" for name, source, answer in rows]
    return "\n".join([*lines, TABLE_END])


def render_security_doc(text: str) -> str:
    """`text` (docs/security.md) with its table of attacks rendered anew."""
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    return text[:start] + attack_table() + text[end:]


if __name__ == "__main__":
    SECURITY_DOC.write_text(render_security_doc(SECURITY_DOC.read_text()))
