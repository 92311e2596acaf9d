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
import yaml

from mindpulse import catalog
from mindpulse.paths import VOLUME_DIRS
from mindpulse.protocol import SKIP_EXIT_CODE, XCOM_DIR
from tests.dags.test_dag_integrity import AIRFLOW_TASKS, REPO, describe

PODS = Path(__file__).with_name("describe_pods.py")
MANIFESTS = REPO / "orchestrator" / "kubernetes"
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
    """(the step's declaration, the pod of its task) for every step task of every DAG."""
    for dag_id, tasks in described["dags"].items():
        for task_id, task in tasks.items():
            if task_id not in AIRFLOW_TASKS.get(dag_id, set()):
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
        steps = {step.name for step in catalog.steps_of(pipeline)}
        assert set(pods["dags"][pipeline.dag_id]) == steps | AIRFLOW_TASKS.get(pipeline.dag_id, set())
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


def test_exit_99_skips_the_result_file_is_the_xcom_and_ended_pods_go(pods: dict[str, Any]) -> None:
    for step, task in every_pod(pods):
        assert task["skip_on_exit_code"] == [SKIP_EXIT_CODE], step.name
        assert task["do_xcom_push"] is True, step.name
        assert task["on_finish_action"] == "delete_pod", step.name
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


# --- the example deployment (orchestrator/kubernetes): parsed, and held against the pods the DAGs build ---


def manifests(name: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all((MANIFESTS / name).read_text()) if document]


def helm_values() -> dict[str, Any]:
    return yaml.safe_load((MANIFESTS / "values.yaml").read_text())


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The pods under the environment the Helm values give every Airflow component."""
    environment = {item["name"]: item["value"] for item in helm_values()["env"]}
    return describe(tmp_path_factory.mktemp("deployed"), script=PODS, **environment)


def selects(spec: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicy's podSelector selects a pod with `labels` (matchLabels, Exists and In)."""
    selector = spec["podSelector"]
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        operator, key = expression["operator"], expression["key"]
        assert operator in ("Exists", "In"), f"the test does not evaluate {operator}"
        if key not in labels or (operator == "In" and labels[key] not in expression["values"]):
            return False
    return True


def test_the_helm_values_run_our_airflow_image_with_the_kubernetes_runner() -> None:
    values = helm_values()
    requirements = (REPO / "orchestrator" / "requirements.txt").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE)
    assert pinned and values["airflowVersion"] == pinned[1]
    assert values["defaultAirflowRepository"].endswith("/mindpulse/airflow")
    assert values["defaultAirflowTag"] == (REPO / "VERSION").read_text().strip()
    assert values["executor"] in ("KubernetesExecutor", "CeleryExecutor")
    assert values["allowPodLaunching"] is True
    environment = {item["name"]: item["value"] for item in values["env"]}
    assert environment["MINDPULSE_RUNNER"] == "kubernetes"
    assert environment["MINDPULSE_IMAGE_TAG"] == values["defaultAirflowTag"]


def test_under_the_helm_values_the_pods_mount_the_example_claims_in_their_namespace(deployed: dict[str, Any]) -> None:
    assert deployed["import_errors"] == {}
    claims = {claim["metadata"]["name"]: claim for claim in manifests("volumes.yaml")}
    namespaces = {
        document["metadata"]["namespace"]
        for name in ("volumes.yaml", "network-policy.yaml")
        for document in manifests(name)
    }
    mounted = set()
    for step, task in every_pod(deployed):
        assert {task["pod"]["metadata"]["namespace"]} == namespaces, step.name
        assert base_container(task)["image"] == f"{step.image_name}:{helm_values()['defaultAirflowTag']}"
        mounted |= {
            volume["persistentVolumeClaim"]["claimName"]
            for volume in task["pod"]["spec"]["volumes"]
            if "persistentVolumeClaim" in volume
        }
    assert mounted == set(claims)
    for name, claim in claims.items():
        assert claim["kind"] == "PersistentVolumeClaim", name
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], name


def test_the_network_policies_shut_every_step_pod_off_and_let_only_the_notifying_ones_out(
    deployed: dict[str, Any],
) -> None:
    policies = [document["spec"] for document in manifests("network-policy.yaml")]
    for step, task in every_pod(deployed):
        labels = task["pod"]["metadata"]["labels"]
        applying = [spec for spec in policies if selects(spec, labels)]
        # Selected for both directions by a policy that allows nothing: isolated unless another allows.
        assert any(set(spec["policyTypes"]) == {"Ingress", "Egress"} for spec in applying), step.name
        assert not any(spec.get("ingress") for spec in applying), step.name
        allowed_out = any("Egress" in spec["policyTypes"] and spec.get("egress") for spec in applying)
        assert allowed_out is step.network, step.name
