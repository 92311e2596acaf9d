#!/opt/airflow-venv/bin/python
"""`airflow` in the MindPulse Airflow image: Airflow's own command, except `airflow tasks test` on a MindPulse DAG.

Airflow 3.3's `tasks test` writes a temporary DAG run that the scheduler of an unpaused DAG runs too, other steps
included (apache/airflow#35994), and without a date it deletes the DAG's dateless (manual) runs from the history
(apache/airflow PR #72656). People type it anyway: it is the command every Airflow tutorial shows. So on a MindPulse
DAG it runs mindpulse-step-test, which runs the same one step in the same container and writes nothing to Airflow's
database. Both forms are taken, `airflow tasks test DAG TASK` and `airflow tasks test DAG TASK DATE`, and `-t JSON`
(task params) becomes mindpulse-step-test's `-p NAME=VALUE`. Every other command, and `tasks test` on any other DAG,
is Airflow's own, unchanged. Airflow's command itself stays at /opt/airflow-venv/bin/airflow.

Installed first on the image's PATH (orchestrator/Dockerfile), so `docker exec airflow-scheduler airflow ...` finds it.
"""

from __future__ import annotations

import json
import os
import sys

AIRFLOW = "/opt/airflow-venv/bin/airflow"
STEP_TEST = "/usr/local/bin/mindpulse-step-test"
# What `tasks test` takes that mindpulse-step-test has no use for: they say how Airflow should find or log the run.
IGNORED_FLAGS = ("-v", "--verbose")


def step_test_arguments(arguments: list[str]) -> list[str] | None:
    """mindpulse-step-test's arguments for `airflow tasks test ARGUMENTS...` on a step of a MindPulse DAG, else None
    (another DAG, or a MindPulse DAG's own Airflow task such as mindpulse_maintenance's clean_airflow_database)."""
    positional: list[str] = []
    params: list[str] = []
    refused: list[str] = []
    remaining = iter(arguments)
    for argument in remaining:
        if argument in ("-t", "--task-params") or argument.startswith("--task-params="):
            given = argument.partition("=")[2] if "=" in argument else next(remaining, "")
            params.append(given)
        elif argument in IGNORED_FLAGS:
            continue
        elif argument.startswith("-"):
            refused.append(argument)
        else:
            positional.append(argument)
    if not 2 <= len(positional) <= 3 or tuple(positional[:2]) not in _mindpulse_steps():
        return None
    if refused:
        raise SystemExit(
            f"ERROR: airflow tasks test on a MindPulse DAG runs mindpulse-step-test, which takes DAG TASK [DATE] "
            f"[-t JSON]: {refused[0]} is not one of them (mindpulse-step-test --help)"
        )
    pairs = [name_value for given in params for name_value in _params(given)]
    return [*positional, *(item for name_value in pairs for item in ("-p", name_value))]


def _params(given: str) -> list[str]:
    try:
        values = json.loads(given)
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, dict):
        raise SystemExit(f"ERROR: -t {given!r}: task params must be a JSON object, e.g. '{{\"drift_threshold\": 0.2}}'")
    return [f"{name}={json.dumps(value)}" for name, value in values.items()]


def _mindpulse_steps() -> set[tuple[str, str]]:
    from mindpulse import catalog  # standard library only: this costs no Airflow import

    return {(step.pipeline.dag_id, step.name) for step in catalog.STEPS if step.pipeline.dag_id}


def main(argv: list[str]) -> None:
    if argv[:2] == ["tasks", "test"] and (routed := step_test_arguments(argv[2:])) is not None:
        print(
            "airflow tasks test on a MindPulse DAG runs mindpulse-step-test: the one step, no DAG run written",
            file=sys.stderr,
            flush=True,
        )
        os.execv(STEP_TEST, [STEP_TEST, *routed])
    else:
        os.execv(AIRFLOW, [AIRFLOW, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
