"""Describe the DAGs of a folder as JSON; tests/dags/test_dag_integrity.py asserts on the result.

Runs with the Airflow venv's python (the test venv has no Airflow, the Airflow venv no pytest):
    .venv-airflow/bin/python tests/dags/describe_dags.py orchestrator/dags OUTPUT.json

Besides the static attributes of every task and the host config its Docker client builds (offline), it
renders each task's templated fields with a stub context, so template mistakes show up without a database
or Docker:
- params: the DAG's Param defaults; dag_run.run_after: RUN_AFTER;
- ti.xcom_pull(task_ids=X): STUB_XCOMS[X] when present, else the JSON line {"step": X, "status": "success"}.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow.dag_processing.dagbag import BundleDagBag
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.providers.standard.operators.python import PythonOperator
from docker import APIClient

ML_MODULES = ("pandas", "numpy", "sklearn", "xgboost", "evidently")
RUN_AFTER = datetime(2026, 2, 9, 6, 0, 0, tzinfo=UTC)
# A skipped task (no XCom) and a step whose last line is not a JSON object.
STUB_XCOMS: dict[str, str | None] = {"detect_drift": None, "merge_production_data": "done"}
# Given, so that docker-py does not ask an engine for its version.
OFFLINE_API_VERSION = "1.44"


class StubTaskInstance:
    id = "stub-ti-id"

    def __init__(self, task: Any) -> None:
        self.task = task

    def xcom_pull(self, task_ids: str) -> str | None:
        if task_ids in STUB_XCOMS:
            return STUB_XCOMS[task_ids]
        return json.dumps({"step": task_ids, "status": "success"})


def describe_schedule(timetable: Any) -> dict[str, Any]:
    # AssetOrTimeSchedule wraps a time-based timetable and adds an asset condition.
    clock = getattr(timetable, "timetable", timetable)
    condition = getattr(timetable, "asset_condition", None)
    return {
        "type": type(timetable).__name__,
        "cron": getattr(clock, "expression", None),
        "timezone": str(getattr(clock, "timezone", "")),
        "asset": getattr(condition, "name", None),
    }


def offline_host_config(task: DockerOperator) -> dict[str, Any]:
    """The host config the task's Docker client builds from the task's network, mounts and memory limit,
    with whatever the operator class adds to it. docker-py builds it; no engine is contacted."""
    task.__dict__["hook"] = SimpleNamespace(api_client=APIClient(base_url=task.docker_url, version=OFFLINE_API_VERSION))
    return task.cli.create_host_config(mounts=task.mounts, network_mode=task.network_mode, mem_limit=task.mem_limit)


def describe_task(dag: Any, task: Any) -> dict[str, Any]:
    described = {
        "operator": type(task).__name__,
        "upstream": sorted(task.upstream_task_ids),
        "trigger_rule": str(getattr(task.trigger_rule, "value", task.trigger_rule)),
        "retries": task.retries,
        "retry_delay_s": task.retry_delay.total_seconds(),
        "execution_timeout_s": task.execution_timeout.total_seconds() if task.execution_timeout else None,
        "outlets": [getattr(outlet, "name", repr(outlet)) for outlet in task.outlets],
        "do_xcom_push": task.do_xcom_push,
        "queue": task.queue,
    }
    if isinstance(task, PythonOperator):
        return described | describe_python_task(dag, task)
    if not isinstance(task, DockerOperator):
        return described
    described |= {
        "image": task.image,
        "mounts": {
            mount["Target"]: {"source": mount["Source"], "type": mount["Type"], "read_only": mount["ReadOnly"]}
            for mount in task.mounts
        },
        "network_mode": task.network_mode,
        "mount_tmp_dir": task.mount_tmp_dir,
        "auto_remove": task.auto_remove,
        "skip_on_exit_code": sorted(task.skip_on_exit_code),
        "mem_limit": task.mem_limit,
        "user": task.user,
        "docker_url": task.docker_url,
        "private_environment": dict(task._private_environment),
        "environment": dict(task.environment),
        "host_config": offline_host_config(task),
    }
    context = {
        "params": dag.params.dump(),
        "dag_run": SimpleNamespace(run_after=RUN_AFTER, triggering_user_name="ana"),
        "ti": StubTaskInstance(task),
    }
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    described["rendered"] = {"environment": dict(task.environment), "container_name": task.container_name}
    # What execute() settles before it starts the container: the webhook from the Connection, if any.
    task.resolve_webhook()
    described["at_run_time"] = {
        "network_mode": task.network_mode,
        "private_environment": dict(task._private_environment),
        "host_config": offline_host_config(task),
    }
    return described


def describe_python_task(dag: Any, task: Any) -> dict[str, Any]:
    """A task of the in-process runner (MINDPULSE_RUNNER=python): what it calls and the parameter texts it
    hands over, rendered like a container's environment."""
    context = {
        "params": dag.params.dump(),
        "dag_run": SimpleNamespace(run_after=RUN_AFTER, triggering_user_name="ana"),
        "ti": StubTaskInstance(task),
    }
    called = f"{task.python_callable.__module__}.{task.python_callable.__name__}"
    if "step_name" not in task.op_kwargs:
        return {"callable": called}  # an Airflow task of the DAG's own (mindpulse_maintenance's), not a step
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    return {
        "callable": called,
        "step_name": task.op_kwargs["step_name"],
        "rendered": {"environment": dict(task.op_kwargs["texts"])},
    }


def describe_deadline(alert: Any) -> dict[str, Any]:
    return {
        "reference": type(alert.reference).__name__,
        "interval_s": alert.interval.total_seconds(),
        "callback": alert.callback.path,
        "callback_type": type(alert.callback).__name__,
    }


def load_dags(dags_folder: Path) -> BundleDagBag:
    return BundleDagBag(dag_folder=dags_folder, bundle_path=dags_folder, bundle_name="dags-folder")


def main(dags_folder: Path, output: Path) -> None:
    bag = load_dags(dags_folder)
    description = {
        "import_errors": {Path(path).name: error for path, error in bag.import_errors.items()},
        "ml_modules_loaded": [name for name in ML_MODULES if name in sys.modules],
        "dags": {
            dag.dag_id: {
                "file": Path(dag.fileloc).name,
                "schedule": describe_schedule(dag.timetable),
                "catchup": dag.catchup,
                "max_active_runs": dag.max_active_runs,
                "tags": sorted(dag.tags),
                "doc_md": dag.doc_md or "",
                "params": {name: dag.params.get_param(name).dump() for name in dag.params},
                "on_failure_callback": type(dag.on_failure_callback).__name__,
                "deadlines": [describe_deadline(alert) for alert in dag.deadline or []],
                "tasks": {task.task_id: describe_task(dag, task) for task in dag.tasks},
            }
            for dag in bag.dags.values()
        },
    }
    output.write_text(json.dumps(description, indent=2, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]))
