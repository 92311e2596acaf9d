"""Run `airflow dags test` for many cases in one Airflow process: a worker of test_bad_inputs.py.

Runs with the Airflow venv's python, with AIRFLOW_HOME and the rest of the harness's environment set:
    .venv-airflow/bin/python tests/integration/run_dag_cases.py CASES_JSON OUTPUT_DIR
CASES_JSON holds a list of {"name", "dag_id", "environment"}. Several workers may share one list: each case
is run by the worker that claims it first (by creating OUTPUT_DIR/<name>.claimed), so a slow case does not
hold up the cases behind it. For each case it claims, in order: `environment` (the volume names) goes into
os.environ, the DAG files are parsed again (mindpulse_docker reads the volume names when it is
imported, so it is imported again), and the function behind `airflow dags test DAG_ID` runs as the CLI runs
it, with file descriptors 1 and 2 sent to OUTPUT_DIR/<name>.log. Then OUTPUT_DIR/<name>.json records how
the run ended: {"state", "tasks": {task id: state}, "results": {task id: the step's result}, "error"}
("error": an exception other than the CLI's "DagRun failed", else null).

Why one process for many runs: `airflow dags test` spends about 20 s importing Airflow and starting its
in-process API before the first task, while a bad input fails its first tasks within seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.cli import cli_parser


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 to `path`: Airflow's loggers hold their own references to the streams."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def last_run(dag_id: str) -> dict[str, Any]:
    """State, task states and step results of the newest run of `dag_id` in this worker's metadata DB."""
    with sqlite3.connect(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db") as db:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
        where = {"dag_id": dag_id, "run_id": run_id}
        tasks = dict(
            db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = :dag_id AND run_id = :run_id", where)
        )
        # An XCom is stored as JSON; the DockerOperator's is the step's last line, itself JSON.
        results = {
            task_id: json.loads(json.loads(value))
            for task_id, value in db.execute(
                "SELECT task_id, value FROM xcom WHERE dag_id = :dag_id AND run_id = :run_id AND key = 'return_value'",
                where,
            )
        }
    return {"state": state, "tasks": tasks, "results": results}


def claim(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def main(cases_file: str, output_dir: str) -> None:
    output = Path(output_dir)
    parser = cli_parser.get_parser()
    for case in json.loads(Path(cases_file).read_text()):
        if not claim(output / f"{case['name']}.claimed"):
            continue
        os.environ.update(case["environment"])
        for module in ("mindpulse_dag_support", "mindpulse_step_spec", "mindpulse_docker"):
            sys.modules.pop(module, None)
        arguments = parser.parse_args(["dags", "test", case["dag_id"]])
        error = None
        with output_to(output / f"{case['name']}.log"):
            try:
                arguments.func(arguments)
            except SystemExit as exit:  # how the CLI says "DagRun failed"; the run's state tells the rest
                print(f"airflow dags test: exit {exit.code}", flush=True)
            except Exception:  # any other is a broken harness: recorded, and the next case still runs
                error = traceback.format_exc()
        ended = last_run(case["dag_id"]) if error is None else {"state": None, "tasks": {}, "results": {}}
        outcome = {**ended, "error": error}
        (output / f"{case['name']}.json").write_text(json.dumps(outcome))


if __name__ == "__main__":
    main(*sys.argv[1:3])
