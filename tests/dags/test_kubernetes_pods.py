"""The Kubernetes runner: with MINDPULSE_RUNNER=kubernetes every task of every DAG is a pod, and the pod the
provider would submit (its own dry-run path, no cluster) runs the step's image with the Docker task's
environment, the step's volumes as claims (read-only where it only reads), the lockdown, the declared limits
and the skip code. Every expectation comes from the step declarations in mindpulse.catalog.

No Kubernetes cluster can run where these tests run; docs/kubernetes.md says what is checked only here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mindpulse import catalog
from mindpulse.paths import VOLUME_DIRS
from mindpulse.protocol import SKIP_EXIT_CODE, XCOM_DIR
from tests.dags.test_dag_integrity import REPO, describe

PODS = Path(__file__).with_name("describe_pods.py")
KUBERNETES = {"MINDPULSE_RUNNER": "kubernetes"}
DAG_PIPELINES = {step.pipeline for step in catalog.STEPS if step.pipeline.dag_id}
IMAGE_UID = 10001
SCRATCH = "/tmp"
CONFIGURED = KUBERNETES | {
    "MINDPULSE_TASK_USER": "1234:2345",
    "MINDPULSE_NAMESPACE": "ml-steps",
    "MINDPULSE_DATA_CLAIM": "shared-data",
    "MINDPULSE_SERVICE_ACCOUNT": "mindpulse-steps",
    "MINDPULSE_WEBHOOK_SECRET": "team-hooks",
    "MINDPULSE_IMAGE_TAG": "9.9.9",
}


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return describe(tmp_path_factory.mktemp("pods"), script=PODS, **KUBERNETES)


@pytest.fixture(scope="module")
def docker_tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return describe(tmp_path_factory.mktemp("docker"))


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return describe(tmp_path_factory.mktemp("configured"), script=PODS, **CONFIGURED)


def every_pod(described: dict[str, Any]) -> Iterator[tuple[catalog.Step, dict[str, Any]]]:
    """(the step's declaration, the pod of its task) for every task of every DAG."""
    for tasks in described["dags"].values():
        for task_id, task in tasks.items():
            yield catalog.step(task_id), task


def base_container(task: dict[str, Any]) -> dict[str, Any]:
    return next(container for container in task["pod"]["spec"]["containers"] if container["name"] == "base")


def size_in_bytes(size: str) -> int:
    """A Docker size ("2g", binary units) or a Kubernetes quantity ("2Gi") in bytes."""
    match = re.fullmatch(r"(\d+)([kmg]i?|[KMG]i)?", size)
    assert match, f"not a size: {size}"
    power = "kmg".index(match[2][0].lower()) + 1 if match[2] else 0
    return int(match[1]) * 1024**power


def test_every_task_of_every_dag_is_a_pod(pods: dict[str, Any]) -> None:
    assert pods["import_errors"] == {}
    assert set(pods["dags"]) == {pipeline.dag_id for pipeline in DAG_PIPELINES}
    for pipeline in DAG_PIPELINES:
        assert set(pods["dags"][pipeline.dag_id]) == {step.name for step in catalog.steps_of(pipeline)}
    for step, task in every_pod(pods):
        assert task["operator"] == "KubernetesPodOperator", step.name


def test_a_pod_runs_the_step_image_with_the_docker_tasks_rendered_environment(
    pods: dict[str, Any], docker_tasks: dict[str, Any]
) -> None:
    tag = (REPO / "VERSION").read_text().strip()
    for step, task in every_pod(pods):
        container = base_container(task)
        assert container["image"] == f"{step.image_name}:{tag}", step.name
        plain = {variable["name"]: variable["value"] for variable in container["env"] if "value" in variable}
        docker = docker_tasks["dags"][step.pipeline.dag_id]["tasks"][step.name]["rendered"]["environment"]
        # The same templates, rendered: the form's defaults, the run's stamp, the earlier steps' results.
        assert plain == docker, step.name
        assert not any("{{" in value for value in plain.values()), step.name
        secret = {variable["name"]: variable["valueFrom"] for variable in container["env"] if "valueFrom" in variable}
        webhook = {parameter.env for parameter in step.parameters if parameter.secret}
        assert set(secret) == webhook, step.name
        for reference in secret.values():
            assert reference == {"secretKeyRef": {"name": "mindpulse-webhook", "key": "url", "optional": True}}


def test_the_volumes_are_the_claims_read_only_where_the_step_only_reads(pods: dict[str, Any]) -> None:
    for step, task in every_pod(pods):
        volumes = {volume["name"]: volume for volume in task["pod"]["spec"]["volumes"]}
        mounts = {mount["mountPath"]: mount for mount in base_container(task)["volumeMounts"]}
        assert set(mounts) == {VOLUME_DIRS[volume] for volume in step.volumes} | {SCRATCH, str(XCOM_DIR)}, step.name
        for volume in step.volumes:
            read_only = volume not in step.writes
            mount = mounts[VOLUME_DIRS[volume]]
            assert mount["readOnly"] is read_only, (step.name, volume)
            claim = volumes[mount["name"]]["persistentVolumeClaim"]
            assert claim == {"claimName": f"mindpulse-{volume}", "readOnly": read_only}, (step.name, volume)


def test_every_container_of_a_pod_is_locked_down_and_runs_as_the_image_user(pods: dict[str, Any]) -> None:
    for step, task in every_pod(pods):
        spec = task["pod"]["spec"]
        assert spec["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_UID,
            "fsGroup": IMAGE_UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        }, step.name
        assert spec["automountServiceAccountToken"] is False and "serviceAccountName" not in spec, step.name
        assert spec.get("hostNetwork") is False, step.name
        # The step and the XCom sidecar alike.
        assert [container["name"] for container in spec["containers"]] == ["base", "airflow-xcom-sidecar"]
        for container in spec["containers"]:
            assert container["securityContext"] == {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "privileged": False,
                "runAsNonRoot": True,
            }, (step.name, container["name"])
        scratch = next(volume for volume in spec["volumes"] if volume["name"] == "tmp")
        assert scratch["emptyDir"]["medium"] == "Memory", step.name
        assert size_in_bytes(scratch["emptyDir"]["sizeLimit"]) == 256 * 1024**2, step.name


def test_a_pod_gets_the_declared_memory_cpu_and_time(pods: dict[str, Any]) -> None:
    cpus = set()
    for step, task in every_pod(pods):
        resources = base_container(task)["resources"]
        assert resources["requests"] == resources["limits"], step.name
        assert size_in_bytes(resources["limits"]["memory"]) == size_in_bytes(step.memory), step.name
        assert float(resources["limits"]["cpu"]) == step.cpus, step.name
        cpus.add(step.cpus)
        assert task["pod"]["spec"]["activeDeadlineSeconds"] == step.timeout_minutes * 60, step.name
        assert task["execution_timeout_s"] == step.timeout_minutes * 60, step.name
    assert len(cpus) > 1, "every step declares the same CPU: the test would not see a figure that went missing"


def test_exit_99_skips_the_result_file_is_the_xcom_and_failed_pods_stay(pods: dict[str, Any]) -> None:
    for step, task in every_pod(pods):
        assert task["skip_on_exit_code"] == [SKIP_EXIT_CODE], step.name
        assert task["do_xcom_push"] is True, step.name
        assert task["on_finish_action"] == "delete_succeeded_pod", step.name
        container = base_container(task)
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError", step.name
        assert container["volumeMounts"][0]["mountPath"] == str(XCOM_DIR), step.name


def test_pods_carry_the_step_labels_and_only_notifying_steps_may_reach_the_network(pods: dict[str, Any]) -> None:
    egress = set()
    for step, task in every_pod(pods):
        labels = task["pod"]["metadata"]["labels"]
        assert labels["org.mindpulse.step"] == step.name, step.name
        assert labels["org.mindpulse.dag"] == step.pipeline.dag_id, step.name
        assert labels["org.mindpulse.deployment"] == "mindpulse-data", step.name
        assert task["pod"]["metadata"]["namespace"] == "mindpulse", step.name
        if labels.get("org.mindpulse.egress") == "webhook":
            egress.add(step.name)
    assert egress == {step.name for step in catalog.STEPS if step.network and step.pipeline.dag_id}


def test_pods_follow_user_namespace_claim_account_secret_and_tag_settings(configured: dict[str, Any]) -> None:
    assert configured["import_errors"] == {}
    for step, task in every_pod(configured):
        pod = task["pod"]
        assert pod["metadata"]["namespace"] == "ml-steps", step.name
        security = pod["spec"]["securityContext"]
        assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (1234, 2345, 2345), step.name
        assert pod["spec"]["serviceAccountName"] == "mindpulse-steps", step.name
        assert pod["spec"]["automountServiceAccountToken"] is False, step.name
        assert base_container(task)["image"] == f"{step.image_name}:9.9.9", step.name
        claims = {
            volume["name"]: volume["persistentVolumeClaim"]["claimName"]
            for volume in pod["spec"]["volumes"]
            if "persistentVolumeClaim" in volume
        }
        if "data" in step.volumes:
            assert claims["data"] == "shared-data", step.name
        assert pod["metadata"]["labels"]["org.mindpulse.deployment"] == "shared-data", step.name
        for variable in base_container(task)["env"]:
            if "valueFrom" in variable:
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "team-hooks", step.name


def test_an_unknown_runner_is_an_import_error_of_every_dag_that_names_the_setting(tmp_path: Path) -> None:
    broken = describe(tmp_path, script=PODS, MINDPULSE_RUNNER="podman")
    assert broken["dags"] == {}
    assert set(broken["import_errors"]) == {f"{pipeline.dag_id}.py" for pipeline in DAG_PIPELINES}
    for error in broken["import_errors"].values():
        assert "MINDPULSE_RUNNER='podman'" in error and "docker, kubernetes" in error


def test_a_task_user_a_pod_cannot_run_as_is_an_import_error_that_names_it(tmp_path: Path) -> None:
    broken = describe(tmp_path, script=PODS, **KUBERNETES, MINDPULSE_TASK_USER="mindpulse")
    assert broken["dags"] == {}
    for error in broken["import_errors"].values():
        assert "MINDPULSE_TASK_USER='mindpulse'" in error and "numeric" in error
