#!/opt/airflow-venv/bin/python
"""mindpulse-step-test: run one task of a MindPulse DAG by hand, safely on a live stack.

Usage: mindpulse-step-test DAG_ID TASK_ID [DATE] [-p NAME=VALUE ...]

It does what `airflow tasks test` is used for here (print a step's log and result) without its two
Airflow 3.3.2 bugs: `tasks test` writes a temporary DAG run to the database, which the scheduler of an
unpaused DAG also runs, other steps included (apache/airflow#35994), and without a date it deletes the
DAG's dateless runs, i.e. the manual runs, from the history (apache/airflow PR #72656, still open).

This command writes nothing to Airflow's database: no DAG run, no task instance, no XCom, so the
scheduler never sees it and no history changes. It takes the DAG's own task object, so the container
is exactly the one a run starts (image, mounts read-only where declared, lockdown, network, memory),
renders its templates with the DAG's Param defaults (plus `-p` overrides, checked like the trigger
form) and the run date DATE (default: now), and runs it through the Docker engine. Upstream results
are null, as no upstream task ran. The step's log goes to stderr, its result (the last line) to
stdout. Exit code: the step's own (0 done, 99 nothing to do, 1 failure).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import getpass
import json
import logging
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pendulum
from airflow.configuration import conf
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.docker.exceptions import DockerContainerFailedException, DockerContainerFailedSkipException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk.bases.operator import ExecutorSafeguard
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError

from mindpulse.protocol import SKIP_EXIT_CODE


class UsageError(Exception):
    """Bad arguments: one `ERROR:` line, exit 1, nothing run."""


@dataclass(frozen=True)
class _TestRun:
    """What the task templates read from `dag_run` (the run stamp, who triggered it)."""

    run_id: str
    run_after: datetime
    logical_date: datetime | None
    triggering_user_name: str
    conf: dict[str, Any]


@dataclass(frozen=True)
class _TestInstance:
    """What the task templates read from `ti`: an id for the container name, and no upstream XComs."""

    id: str
    task: DockerOperator

    def xcom_pull(self, *args: Any, **kwargs: Any) -> None:
        return None


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mindpulse-step-test",
        description="Run one task of a MindPulse DAG in its container, as a run would, without touching "
        "Airflow's database (no DAG run, so the scheduler runs nothing else and no run history changes).",
    )
    parser.add_argument("dag_id")
    parser.add_argument("task_id")
    parser.add_argument("date", nargs="?", help="the run date (YYYY-MM-DD or ISO 8601); default: now")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a trigger-form parameter; VALUE is JSON (5, true, 0.2) or text",
    )
    return parser.parse_args(argv)


def _run_after(date: str | None) -> datetime:
    if not date:
        return datetime.now(UTC)
    try:
        return pendulum.parse(date, tz="UTC")  # type: ignore[return-value]
    except ValueError:
        raise UsageError(f"DATE {date!r} is not a date (YYYY-MM-DD or ISO 8601)") from None


def _params(defaults: ParamsDict, overrides: list[str]) -> dict[str, Any]:
    """The DAG's Params with `overrides` applied, validated by the trigger form's own schema."""
    params = copy.deepcopy(defaults)
    for override in overrides:
        name, sep, raw = override.partition("=")
        if not sep or name not in params:
            raise UsageError(f"-p {override!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(params))}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        try:
            params[name] = value  # checked against the Param's schema, as the trigger form does
        except ParamValidationError as error:
            raise UsageError(str(error).splitlines()[0]) from None
    return params.validate()


def _task(dag_id: str, task_id: str) -> DockerOperator:
    # Parsed here, like the DAG processor does, but never written to the database. The DAG files import
    # their shared module (mindpulse_dag_support) from their own folder, as Airflow's processes allow.
    folder = conf.get("core", "dags_folder")
    sys.path.insert(0, folder)
    bag = DagBag(dag_folder=folder, safe_mode=False)
    dag = bag.dags.get(dag_id)
    if dag is None:
        found = ", ".join(sorted(bag.dags)) or "none"
        raise UsageError(f"no DAG {dag_id!r} in {folder} (DAGs: {found})")
    if task_id not in dag.task_dict:
        raise UsageError(f"DAG {dag_id} has no task {task_id!r} (tasks: {', '.join(dag.task_ids)})")
    task = dag.task_dict[task_id]
    if not isinstance(task, DockerOperator):
        raise UsageError(f"{dag_id}.{task_id} is not a step container")
    return task


def _step_log() -> None:
    """The container's lines, which the operator logs line by line, go to stderr as they come."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("airflow.task", "airflow.task.operators"):
        logging.getLogger(name).propagate = True


def step_test(argv: list[str]) -> int:
    """Run the step; everything but its result goes to stderr, so stdout is the result line alone."""
    args = _arguments(argv)
    with contextlib.redirect_stdout(sys.stderr):
        result = _run_step(args)
    if result.lines:
        print(str(result.lines[-1]).rstrip("\n"), flush=True)
    return result.exit_code


@dataclass(frozen=True)
class _Outcome:
    exit_code: int
    lines: list[str]


def _run_step(args: argparse.Namespace) -> _Outcome:
    task = _task(args.dag_id, args.task_id)
    params = _params(task.dag.params, args.param)
    run_after = _run_after(args.date)
    stamp = run_after.strftime("%Y%m%dT%H%M%S")
    context: dict[str, Any] = {
        "dag": task.dag,
        "task": task,
        "params": params,
        "dag_run": _TestRun(f"mindpulse_step_test__{stamp}", run_after, None, getpass.getuser(), {}),
        "ti": _TestInstance(f"step-test-{uuid.uuid4().hex[:12]}", task),
        "run_id": f"mindpulse_step_test__{stamp}",
    }
    task.render_template_fields(context)
    _step_log()
    # Operators refuse (or warn) when execute() is called outside Airflow's task runner; this command is
    # a test run of the task by design, which is what the safeguard's test mode is for.
    ExecutorSafeguard.test_mode = True
    try:
        result = task.execute(context)
    except DockerContainerFailedSkipException as skipped:
        return _Outcome(SKIP_EXIT_CODE, list(skipped.logs or []))
    except DockerContainerFailedException:
        return _Outcome(1, [])  # the step's `ERROR:` line is already on stderr, with the rest of its log
    return _Outcome(0, [result] if result else [])


def main() -> None:
    try:
        sys.exit(step_test(sys.argv[1:]))
    except UsageError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
