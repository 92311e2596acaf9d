"""`airflow tasks test` on a MindPulse DAG becomes mindpulse-step-test (orchestrator/mindpulse_airflow.py): which
arguments are routed, and how (the e2e test runs both of the seed's forms on the live stack)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from mindpulse import catalog

SOURCE = Path(__file__).resolve().parents[2] / "orchestrator" / "mindpulse_airflow.py"


def command() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mindpulse_airflow", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROUTED = {
    "the seed's form": (
        ["ml_retrain_pipeline", "check_production_data"],
        ["ml_retrain_pipeline", "check_production_data"],
    ),
    "with a date": (
        ["ml_retrain_pipeline", "check_production_data", "2026-02-09"],
        ["ml_retrain_pipeline", "check_production_data", "2026-02-09"],
    ),
    "task params": (
        ["ml_retrain_pipeline", "detect_drift", "-t", '{"drift_threshold": 0.2, "note": "x"}'],
        ["ml_retrain_pipeline", "detect_drift", "-p", "drift_threshold=0.2", "-p", 'note="x"'],
    ),
    "task params with =, verbose": (
        ["-v", "evidently_reporting_pipeline", "generate_data_quality_report", '--task-params={"a": 1}'],
        ["evidently_reporting_pipeline", "generate_data_quality_report", "-p", "a=1"],
    ),
}


@pytest.mark.parametrize(("given", "routed"), ROUTED.values(), ids=ROUTED.keys())
def test_tasks_test_on_a_mindpulse_dag_runs_mindpulse_step_test(given: list[str], routed: list[str]) -> None:
    assert command().step_test_arguments(given) == routed


def test_every_step_of_a_mindpulse_dag_is_routed_and_nothing_else() -> None:
    module = command()
    steps = {(step.pipeline.dag_id, step.name) for step in catalog.STEPS if step.pipeline.dag_id}

    assert {dag for dag, _ in steps} == {
        "ml_retrain_pipeline",
        "evidently_reporting_pipeline",
        "model_rollback",
        "mindpulse_maintenance",
    }
    assert all(module.step_test_arguments([dag, task]) == [dag, task] for dag, task in steps)
    # Airflow runs a MindPulse DAG's own Airflow tasks, another DAG's tasks, and its own usage errors.
    assert module.step_test_arguments(["mindpulse_maintenance", "clean_airflow_database"]) is None
    assert module.step_test_arguments(["ml_retrain_pipeline", "apply_retention"]) is None
    assert module.step_test_arguments(["example_bash_operator", "runme_0"]) is None
    assert module.step_test_arguments(["example_bash_operator", "runme_0", "--map-index", "0"]) is None
    assert module.step_test_arguments(["ml_retrain_pipeline"]) is None


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (["ml_retrain_pipeline", "backup_current_model", "-m", "0"], "-m is not one of them"),
        (["ml_retrain_pipeline", "detect_drift", "-t", "[1]"], "task params must be a JSON object"),
    ],
)
def test_what_mindpulse_step_test_cannot_do_is_refused_with_one_line(given: list[str], error: str) -> None:
    with pytest.raises(SystemExit) as refused:
        command().step_test_arguments(given)

    message = str(refused.value.code)
    assert message.startswith("ERROR: ") and error in message and "\n" not in message


def test_other_commands_run_airflow_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    module = command()
    executed: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(module.os, "execv", lambda path, argv: executed.append((path, argv)))

    module.main(["dags", "list"])
    module.main(["tasks", "test", "example_bash_operator", "runme_0"])
    module.main(["tasks", "test", "ml_retrain_pipeline", "check_production_data"])

    assert executed == [
        (module.AIRFLOW, [module.AIRFLOW, "dags", "list"]),
        (module.AIRFLOW, [module.AIRFLOW, "tasks", "test", "example_bash_operator", "runme_0"]),
        (module.STEP_TEST, [module.STEP_TEST, "ml_retrain_pipeline", "check_production_data"]),
    ]
