"""The Kubernetes runner (MINDPULSE_RUNNER=kubernetes): every step as a locked-down pod.

`pod_step` builds a KubernetesPodOperator from the same declaration, image, environment templates and labels
as the Docker runner's `docker_step` (mindpulse_step_spec), and maps the Docker lockdown one to one onto the
pod: non-root (the images' user), read-only root file system, every capability dropped, no privilege
escalation, the runtime's default seccomp profile, a bounded memory-backed /tmp, and the declaration's memory
and CPU as the pod's requests and limits. The three volumes are PersistentVolumeClaims (ReadWriteMany, as
several steps on several nodes share them), mounted read-only where the step only reads. Exit code 99 marks
the task skipped; the result reaches XCom through /airflow/xcom/return.json, which every step writes when that
folder exists (mindpulse.protocol). docs/kubernetes.md says how to deploy it.

Configuration, all read when the DAG file is parsed:
- MINDPULSE_NAMESPACE              namespace of the step pods (default mindpulse)
- MINDPULSE_{DATA,MODELS,REPORTS,TRUST,SIGNING}_CLAIM
                                   the PersistentVolumeClaims behind the volumes (default mindpulse-data, ...)
- MINDPULSE_SERVICE_ACCOUNT        service account of the step pods (default: the namespace's default); the
                                   pods get no API token either way
- MINDPULSE_TASK_USER              uid[:gid] the steps run as (default: the images' user, 10001:10001)
- MINDPULSE_WEBHOOK_SECRET         Kubernetes Secret whose key `url` is the webhook URL of the notify steps
                                   (default mindpulse-webhook; optional: without it, no webhook is posted)
The Kubernetes connection (`kubernetes_default`: in-cluster, or a kubeconfig) is the provider's own setting.
"""

from __future__ import annotations

import os
import re
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s
from mindpulse_step_spec import step_arguments, step_environment

from mindpulse import catalog, sandbox
from mindpulse.paths import VOLUME_DIRS

NAMESPACE = os.environ.get("MINDPULSE_NAMESPACE", "").strip() or "mindpulse"
CLAIMS = {
    volume: os.environ.get(f"MINDPULSE_{volume.upper()}_CLAIM", "").strip() or f"mindpulse-{volume}"
    for volume in VOLUME_DIRS
}
SERVICE_ACCOUNT = os.environ.get("MINDPULSE_SERVICE_ACCOUNT", "").strip() or None
WEBHOOK_SECRET = os.environ.get("MINDPULSE_WEBHOOK_SECRET", "").strip() or "mindpulse-webhook"
WEBHOOK_SECRET_KEY = "url"
# The user of every step image (tasks/common/Dockerfile): a pod must name it by number to be provably non-root.
IMAGE_USER = "10001:10001"
# On the pods of steps that may post to the webhook: the NetworkPolicy (orchestrator/kubernetes/) lets only
# these reach the network, as the Docker runner gives only them a network.
EGRESS_LABEL = "org.mindpulse.egress"
# The limits Docker's memory sizes are written in ("2g"), as Kubernetes quantities ("2Gi"): both binary.
_DOCKER_UNITS = {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}


def quantity(docker_size: str) -> str:
    """A Docker size ("256m", "2g") as the Kubernetes quantity of the same bytes ("256Mi", "2Gi")."""
    match = re.fullmatch(r"(\d+)([bkmg]?)", docker_size.strip().lower())
    if match is None:
        raise ValueError(f"size {docker_size!r}: expected a whole number with b, k, m or g, as Docker takes it")
    return match[1] + _DOCKER_UNITS[match[2]]


def _task_user() -> tuple[int, int]:
    raw = os.environ.get("MINDPULSE_TASK_USER", "").strip() or IMAGE_USER
    match = re.fullmatch(r"(\d+)(?::(\d+))?", raw)
    if match is None:
        raise ValueError(f"setting MINDPULSE_TASK_USER={raw!r}: a pod needs a numeric uid or uid:gid")
    uid = int(match[1])
    return uid, int(match[2]) if match[2] else uid


UID, GID = _task_user()

# What the pod's container and the XCom sidecar run under: the Docker runner's --read-only, --cap-drop ALL and
# no-new-privileges. (Docker's pids limit has no pod field: the kubelet's podPidsLimit sets it per node.)
CONTAINER_LOCKDOWN = k8s.V1SecurityContext(
    read_only_root_filesystem=True,
    allow_privilege_escalation=False,
    capabilities=k8s.V1Capabilities(drop=["ALL"]),
    privileged=False,
    run_as_non_root=True,
)


def pod_security() -> k8s.V1PodSecurityContext:
    """The pod's user and group (the volumes' files belong to them) and the default seccomp profile. fsGroup
    makes a fresh claim writable for the step user; OnRootMismatch changes owners once, not at every start."""
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=UID,
        run_as_group=GID,
        fs_group=GID,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def _volumes(declared: catalog.Step) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """The step's claims (read-only where it only reads, in the pod's volume and in the mount) and /tmp."""
    volumes = [
        k8s.V1Volume(
            name=volume,
            persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                claim_name=CLAIMS[volume], read_only=volume not in declared.writes
            ),
        )
        for volume in declared.volumes
    ]
    mounts = [
        k8s.V1VolumeMount(name=volume, mount_path=VOLUME_DIRS[volume], read_only=volume not in declared.writes)
        for volume in declared.volumes
    ]
    memory_backed = k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit=quantity(sandbox.TMP_SIZE))
    scratch = k8s.V1Volume(name="tmp", empty_dir=memory_backed)
    return [*volumes, scratch], [*mounts, k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]


def _environment(declared: catalog.Step) -> list[k8s.V1EnvVar]:
    """The same templates as the Docker task's environment; the webhook from the Kubernetes Secret, which the
    kubelet resolves when the pod starts (optional: no Secret, no URL), so the URL is in no Airflow object."""
    environment, webhook_env = step_environment(declared)
    variables = [k8s.V1EnvVar(name=name, value=value) for name, value in environment.items()]
    if webhook_env is not None:
        reference = k8s.V1SecretKeySelector(name=WEBHOOK_SECRET, key=WEBHOOK_SECRET_KEY, optional=True)
        variables.append(k8s.V1EnvVar(name=webhook_env, value_from=k8s.V1EnvVarSource(secret_key_ref=reference)))
    return variables


def pod_step(task_id: str, **kwargs: Any) -> KubernetesPodOperator:
    """The task that runs step `task_id` as a pod, as its declaration in mindpulse.catalog says. Other keyword
    arguments go to KubernetesPodOperator (trigger_rule, outlets, ...)."""
    declared = catalog.step(task_id)
    arguments = step_arguments(declared, CLAIMS["data"])
    if declared.network:
        arguments["labels"] = {**arguments["labels"], EGRESS_LABEL: "webhook"}
    volumes, volume_mounts = _volumes(declared)
    # Requests equal to limits: memory cannot be taken back from a running step, and a step is never worth
    # starving another tenant's pod for.
    limits = {"memory": quantity(declared.memory), "cpu": f"{declared.cpus:g}"}
    return KubernetesPodOperator(
        **arguments,
        name=f"mindpulse-{task_id.replace('_', '-')}",
        # A new pod name per try, so a kept failed pod never blocks the retry.
        random_name_suffix=True,
        namespace=NAMESPACE,
        service_account_name=SERVICE_ACCOUNT,
        automount_service_account_token=False,
        env_vars=_environment(declared),
        volumes=volumes,
        volume_mounts=volume_mounts,
        security_context=pod_security(),
        container_security_context=CONTAINER_LOCKDOWN,
        xcom_sidecar_container_security_context=CONTAINER_LOCKDOWN,
        container_resources=k8s.V1ResourceRequirements(requests=limits, limits=limits),
        # The cluster ends the pod itself at the step's time limit, even when the worker that watches it is gone.
        active_deadline_seconds=declared.timeout_minutes * 60,
        # Every pod goes when it ends: its log and final status are in the task's log already, and a kept pod
        # would stay for good (nothing prunes bare pods as the Docker runner prunes its old containers); a
        # skipped step's pod (exit 99) counts as failed, so keeping failed pods would keep one per skip.
        on_finish_action="delete_pod",
        # A failed pod's last log lines (with the step's ERROR: line) become its termination message, which
        # the provider puts into the task's failure.
        termination_message_policy="FallbackToLogsOnError",
        get_logs=True,
        **kwargs,
    )
