"""The sandbox every step container runs in, whoever starts it: the DAGs (LockedDownDockerOperator, and
mindpulse_kubernetes maps it onto a pod), the benchmark and the fault tests. Declared once here; standard
library only.

A read-only root file system with a bounded, non-executable tmpfs at /tmp for scratch, no Linux capability,
`no-new-privileges` (setuid binaries cannot raise privileges) and a cap on processes and threads: a runaway or
hostile step can neither persist anything outside its volumes nor fork-bomb the host.
"""

from __future__ import annotations

from typing import Any

# Every step container carries these labels, whoever starts it: the Docker guard lets a request about a
# container through only when it is labelled as a step, and task starts prune stopped ones by deployment.
LABEL_PREFIX = "org.mindpulse."
STEP_LABEL = LABEL_PREFIX + "step"
DAG_LABEL = LABEL_PREFIX + "dag"
DEPLOYMENT_LABEL = LABEL_PREFIX + "deployment"

TMP_SIZE = "256m"
TMP_OPTIONS = "rw,noexec,nosuid,nodev"
PIDS_LIMIT = 512


def host_config(*, tmp_size: str = TMP_SIZE, pids_limit: int = PIDS_LIMIT) -> dict[str, Any]:
    """The sandbox as docker-py's create_host_config / containers.run keyword arguments."""
    return {
        "read_only": True,
        "tmpfs": {"/tmp": f"{TMP_OPTIONS},size={tmp_size}"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": pids_limit,
    }


def docker_run_flags() -> list[str]:
    """The same sandbox as `docker run` flags (without a network, which each caller chooses)."""
    config = host_config()
    return [
        "--read-only",
        *(f"--tmpfs={path}:{options}" for path, options in config["tmpfs"].items()),
        *(f"--cap-drop={capability}" for capability in config["cap_drop"]),
        *(f"--security-opt={option}" for option in config["security_opt"]),
        f"--pids-limit={config['pids_limit']}",
    ]
