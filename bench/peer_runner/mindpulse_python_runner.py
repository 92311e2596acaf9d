"""The in-process runner: every step a PythonOperator that calls its declared function inside the Airflow
task process. It is the design this project replaced (one Airflow environment that holds every ML library),
kept as the benchmark's peer: `MINDPULSE_RUNNER=python` builds the same DAGs, task for task, from it, with
this folder on the Python path (bench/dag_runs.py). The stack's Airflow image holds no ML library on purpose,
so this runner only works where Airflow shares a venv with the step libraries; it is not a deployment option,
and it lives here, not among the DAGs.

A task gets exactly what the step's container would: the same parameter texts, rendered from the same
templates (`step_environment`), parsed and checked by the same `Parameter.parse`, the same function and
volumes (the layout from MINDPULSE_{DATA,MODELS,REPORTS}_DIR), and the same result object as XCom.
"Nothing to do" skips the task; bad input fails it with the step's one-line message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from mindpulse_alerts import configured_webhook
from mindpulse_step_spec import step_environment

from mindpulse import catalog


def python_step(task_id: str, **kwargs: Any) -> PythonOperator:
    """The task that calls step `task_id`'s function in-process, with its parameters' texts by variable name
    as the container's environment would hold them (templates, rendered by Airflow like DockerOperator's)."""
    declared = catalog.step(task_id)
    environment, _ = step_environment(declared)
    return PythonOperator(
        task_id=task_id,
        python_callable=call_step,
        op_kwargs={"step_name": task_id, "texts": environment},
        execution_timeout=timedelta(minutes=declared.timeout_minutes),
        **kwargs,
    )


def call_step(step_name: str, texts: dict[str, str]) -> dict[str, Any]:
    """Run one step as its entrypoint would, in this process; its result object is the task's XCom."""
    # Imported here: parsing the DAG file needs no step library, only running a task does.
    from mindpulse.paths import Layout
    from mindpulse.protocol import NothingToDo, StepError, describe_os_error, result_object, step_function, value_of

    declared = catalog.step(step_name)
    values = {}
    for parameter in declared.parameters:
        raw = texts.get(parameter.env, "")
        if parameter.secret:
            raw = configured_webhook() or ""
        try:
            values[parameter.name] = value_of(parameter, raw)
        except ValueError as error:
            raise AirflowFailException(f"{parameter.env}: {error}") from None
    # As the entrypoint imports it (the first task to need a library pays its import; later ones find it).
    body = step_function(declared)
    try:
        return result_object(step_name, "success", body(Layout.from_env(), **values))
    except NothingToDo as skipped:
        raise AirflowSkipException(str(skipped)) from None
    except StepError as error:
        raise AirflowFailException(str(error)) from None
    except OSError as error:
        raise AirflowFailException(describe_os_error(error)) from None
