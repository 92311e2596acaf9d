"""What the MindPulse DAGs share: the DAG factory, the model asset, and the one factory of step tasks.

Every pipeline step is a small image that works on three named volumes (/data, /models, /reports) and
follows one protocol (mindpulse.protocol): the last stdout line is its JSON result (the task's XCom),
exit code 99 means "nothing to do" (the task is skipped and the run goes on), anything else non-zero
is a failure. What a step is (image, volumes, parameters, memory, time limit) is declared once in
mindpulse.catalog; the DAGs only decide the order, and `step_task` derives every task from the
declaration with the configured runner: a locked-down DockerOperator (mindpulse_docker, the default), a
locked-down KubernetesPodOperator (mindpulse_kubernetes) from the same image, environment and labels, or,
for the benchmark's peer only, an in-process PythonOperator (bench/peer_runner). What a step's task is on
any runner (image, labels, queue, environment) is mindpulse_step_spec's.

Configuration, all read when the DAG file is parsed:
- MINDPULSE_RUNNER                 docker (default), kubernetes (docs/kubernetes.md) or python (the
                                   benchmark's peer); each runner's own settings are in its module
- MINDPULSE_IMAGE_TAG              tag of the step images (default: the repository's VERSION file), see
                                   mindpulse_step_spec
- MINDPULSE_TASK_RETRIES           retries of a failed step (default 2)
- MINDPULSE_TASK_RETRY_SECONDS     the wait before a retry (default 60)
- MINDPULSE_REGISTRY, MINDPULSE_DEFAULT_QUEUE, MINDPULSE_HEAVY_QUEUE, MINDPULSE_QUEUES
                                   where the images come from and which Celery queue each step goes to
                                   when the tasks run on several worker hosts: see mindpulse_cluster
- MINDPULSE_RETRAIN_DEADLINE, MINDPULSE_REPORTING_DEADLINE, MINDPULSE_MAINTENANCE_DEADLINE
                                   minutes after which a run that has not finished sends a deadline alert
                                   (default 120, 60 and 60; 0: none), see mindpulse_alerts
- Param defaults: Airflow Variable `mindpulse_<param>`, else environment MINDPULSE_<PARAM>, else the
  step declaration's default (see `setting`).
Not read at parse time: the webhook. The Airflow Connection `mindpulse_webhook` (created from
MINDPULSE_WEBHOOK_URL at init) is read when a notify step runs, and when an alert is sent (mindpulse_alerts).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias, BaseOperator, Param, Variable
from mindpulse_alerts import WebhookNotifier, deadline_alert

from mindpulse import catalog
from mindpulse.parameters import Parameter

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
log = logging.getLogger(__name__)

# The model that serving loads. The reporting DAG is scheduled on it, so the reports never describe
# a model that is gone. Steps that may change it (train_new_model: only when the gate promotes;
# rollback_model) declare the alias as outlet and emit an event for the asset only when they did.
CURRENT_MODEL = Asset(name="mindpulse_current_model", uri="file:///models/current", group="model")
MODEL_CHANGES = AssetAlias(name="mindpulse_model_changes")

# Each runner's task factory, "module:function", called as function(task_id, **operator_arguments). Each
# builds on mindpulse_step_spec and none imports this module, so the orchestrator's imports form no cycle.
# python: the benchmark's peer only; its module is in bench/peer_runner, on the path only where the benchmark
# puts it (bench/dag_runs.py), never in a deployment.
RUNNERS = {
    "docker": "mindpulse_docker:docker_step",
    "kubernetes": "mindpulse_kubernetes:pod_step",
    "python": "mindpulse_python_runner:python_step",
}


def _runner() -> str:
    runner = os.environ.get("MINDPULSE_RUNNER", "").strip() or next(iter(RUNNERS))
    if runner not in RUNNERS:
        raise ValueError(f"setting MINDPULSE_RUNNER={runner!r}: must be one of {', '.join(RUNNERS)}")
    return runner


RUNNER = _runner()


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mindpulse",
    # Empty counts as unset: compose passes `${VAR:-}` through empty, so these defaults are the only ones.
    "retries": int(os.environ.get("MINDPULSE_TASK_RETRIES") or 2),
    # A minute: the steps are safe to run again, and a step whose worker host died should not wait long for
    # the other (docs/scaling.md, "When something dies").
    "retry_delay": timedelta(seconds=int(os.environ.get("MINDPULSE_TASK_RETRY_SECONDS") or 60)),
}


def pipeline_dag(
    pipeline: catalog.Pipeline, *, schedule: Any, parameters: tuple[Parameter, ...] = (), **kwargs: Any
) -> DAG:
    """The DAG of `pipeline` on `schedule`, with what every MindPulse DAG shares: start date, no catch-up, one
    run at a time, the default task arguments, the trigger form (one Param per form parameter its steps
    declare, then one per `parameters` of its own Airflow tasks) and one alert per failed run (mindpulse_alerts).
    Other keyword arguments go to DAG (description, tags, doc_md, deadline, ...)."""
    names = tuple(step.name for step in catalog.steps_of(pipeline))
    form = {**catalog.form_parameters(names), **{parameter.name: parameter for parameter in parameters}}
    defaults: dict[str, Any] = {
        "dag_id": pipeline.dag_id,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "user_defined_macros": {"step_results": step_results},
        # DAG level, not task level: it fires once per failed run, with the task that failed.
        "on_failure_callback": WebhookNotifier(),
        "params": {name: form_param(parameter) for name, parameter in form.items()},
    }
    return DAG(schedule=schedule, **{**defaults, **kwargs})


def form_param(parameter: Parameter) -> Param:
    """The trigger-form field of a step parameter: validated by the same bounds the step checks. A required
    parameter without a default gets none, so a run cannot start until a person fills it in."""
    default = setting(parameter) if parameter.configurable else parameter.default
    schema = parameter.json_schema() | {
        "title": parameter.title or parameter.name,
        "description": parameter.help[:1].upper() + parameter.help[1:] + ".",
    }
    return Param(*(() if default is None and parameter.required else (default,)), **schema)


def setting(parameter: Parameter) -> Any:
    """The form's default for `parameter`, changeable without editing code.

    Looked up, in order: Airflow Variable `mindpulse_<name>` (Admin > Variables in the UI), environment
    variable MINDPULSE_<NAME>, the declared default; parsed and checked like the step would. This runs at
    parse time on purpose, so the trigger form shows the value a scheduled run will use: a handful of
    lookups per parse of two files.
    """
    name = parameter.name
    fallback = os.environ.get(f"MINDPULSE_{name.upper()}", "")
    raw = str(Variable.get(f"mindpulse_{name}", default=fallback)).strip()
    if not raw:
        return parameter.default
    try:
        return parameter.parse(raw)
    except ValueError as error:
        raise ValueError(f"setting mindpulse_{name} (Airflow Variable or MINDPULSE_{name.upper()}): {error}") from None


def run_deadline(setting: str, default_minutes: int) -> list[Any]:
    """The deadline alert of a DAG: environment `setting` in minutes after the run was queued, else
    `default_minutes`; 0 means none. Read at parse time like the schedule."""
    raw = os.environ.get(setting, "").strip() or str(default_minutes)
    if not raw.isdigit():
        raise ValueError(f"setting {setting}={raw!r}: must be a whole number of minutes (0: no deadline alert)")
    minutes = int(raw)
    return [deadline_alert(timedelta(minutes=minutes))] if minutes else []


def step_results(ti: Any) -> str:
    """Template macro: JSON object of every upstream task id -> its result object, or null.

    A skipped task pushes no XCom, so its result is null; so is a last line that is not a JSON object.
    """
    upstream = ti.task.get_flat_relative_ids(upstream=True)
    return json.dumps({task_id: _result(ti.xcom_pull(task_ids=task_id)) for task_id in sorted(upstream)})


def announce_model_change(context: Any, result: Any) -> None:
    """post_execute hook: an event for CURRENT_MODEL when the step's result says the live model changed."""
    outcome = _result(result) or {}
    if outcome.get("promoted") or outcome.get("rolled_back"):
        context["outlet_events"][MODEL_CHANGES].add(CURRENT_MODEL, extra={"version": outcome.get("version")})


def _result(xcom: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(xcom) if isinstance(xcom, str) else xcom
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def step_task(task_id: str, **kwargs: Any) -> BaseOperator:
    """The task that runs step `task_id` on the configured runner (MINDPULSE_RUNNER). Other keyword arguments
    go to the operator (trigger_rule, outlets, ...)."""
    module, factory = RUNNERS[RUNNER].split(":")
    # Imported by name, only the runner in use: the Kubernetes provider need not be installed for Docker.
    try:
        runner = importlib.import_module(module)
    except ModuleNotFoundError as missing:
        raise ValueError(f"setting MINDPULSE_RUNNER={RUNNER!r}: cannot import {module} ({missing})") from None
    task: BaseOperator = getattr(runner, factory)(task_id, **kwargs)
    return task
