"""Run one task of the MindPulse DAGs with its own operator against the Docker engine, and keep the container.

Runs with the Airflow venv's python (the test venv has no Airflow), from the repository root:
    .venv-airflow/bin/python tests/integration/execute_task.py DAG_ID TASK_ID CONTAINER_NAME
The DAGs are loaded from orchestrator/dags as the DAG processor loads them, the task's templates are
rendered with the stub context of tests/dags/describe_dags.py, and the operator's own execute() runs
against the engine of the task's docker_url. Two things differ from a scheduled run, so that the caller
can inspect what the engine was asked for: the container is named CONTAINER_NAME and it is kept
(auto_remove="never"). Prints one JSON line: {"outcome": "<exception class or 'success'>"}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from airflow.dag_processing.dagbag import BundleDagBag

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.dags.describe_dags import RUN_AFTER, StubTaskInstance  # noqa: E402


def main(dag_id: str, task_id: str, container_name: str) -> None:
    dags = REPO / "orchestrator" / "dags"
    bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
    if bag.import_errors:
        raise SystemExit(f"the DAGs do not import: {bag.import_errors}")
    dag = bag.dags[dag_id]
    task = dag.get_task(task_id)
    context = {
        "params": dag.params.dump(),
        "dag_run": SimpleNamespace(run_after=RUN_AFTER),
        "ti": StubTaskInstance(task),
    }
    task.render_template_fields(context, jinja_env=dag.get_template_env())
    task.container_name = container_name
    task.auto_remove = "never"
    try:
        task.execute(context)
        outcome = "success"
    except Exception as error:  # the step's own outcome (skip, failure) is the caller's to judge
        outcome = type(error).__name__
    print(json.dumps({"outcome": outcome}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
