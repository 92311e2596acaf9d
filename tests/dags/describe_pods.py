"""Describe the pods the DAGs of a folder would start on Kubernetes, as JSON; tests/dags/test_kubernetes_pods.py
asserts on the result. No cluster is contacted.

Runs with the Airflow venv's python, with MINDPULSE_RUNNER=kubernetes set by the caller:
    .venv-airflow/bin/python tests/dags/describe_pods.py orchestrator/dags OUTPUT.json

Each task's templated fields are rendered with describe_dags.py's stub context, then the provider builds the
pod it would submit (KubernetesPodOperator.build_pod_request_obj with dry_run=True: no API client), serialized
as the API server would receive it (camelCase, as in a manifest).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from describe_dags import RUN_AFTER, StubTaskInstance, load_dags
from kubernetes.client import ApiClient

RUN_ID = "manual__2026-02-09T06:00:00+00:00"


class StubPodTaskInstance(StubTaskInstance):
    """What the provider reads from the task instance to label the pod."""

    map_index = -1
    try_number = 1

    def __init__(self, task: Any) -> None:
        super().__init__(task)
        self.dag_id, self.task_id = task.dag_id, task.task_id


def describe_pod(dag: Any, task: Any) -> dict[str, Any]:
    if not isinstance(task, KubernetesPodOperator):
        return {"operator": type(task).__name__}
    context = {
        "params": dag.params.dump(),
        "dag_run": SimpleNamespace(run_after=RUN_AFTER, triggering_user_name="ana"),
        "ti": StubPodTaskInstance(task),
        "run_id": RUN_ID,
        "dag": dag,
    }
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    pod = task.build_pod_request_obj(context, dry_run=True)
    return {
        "operator": type(task).__name__,
        "pod": ApiClient().sanitize_for_serialization(pod),
        "skip_on_exit_code": sorted(task.skip_on_exit_code),
        "do_xcom_push": task.do_xcom_push,
        "on_finish_action": task.on_finish_action.value,
        "execution_timeout_s": task.execution_timeout.total_seconds() if task.execution_timeout else None,
    }


def main(dags_folder: Path, output: Path) -> None:
    bag = load_dags(dags_folder)
    description = {
        "import_errors": {Path(path).name: error for path, error in bag.import_errors.items()},
        "dags": {
            dag.dag_id: {task.task_id: describe_pod(dag, task) for task in dag.tasks} for dag in bag.dags.values()
        },
    }
    output.write_text(json.dumps(description, indent=2, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]))
