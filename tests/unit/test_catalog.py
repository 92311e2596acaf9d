"""The step catalog is the one source of truth: every declaration must match the function it calls, the
entrypoint that runs it, and every other declaration."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mindpulse import catalog, results
from mindpulse.parameters import Parameter
from mindpulse.paths import VOLUME_DIRS

ROOT = Path(__file__).resolve().parents[2]
STEPS = {step.name: step for step in catalog.STEPS}


def function_of(step: catalog.Step):
    return getattr(importlib.import_module(step.module), step.name)


@pytest.mark.parametrize("step", catalog.STEPS, ids=lambda step: step.name)
def test_the_call_takes_the_layout_then_exactly_the_declared_parameters(step: catalog.Step) -> None:
    signature = inspect.signature(function_of(step))
    first, *rest = signature.parameters.values()

    assert first.name == "layout"
    assert all(item.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for item in rest), "called by keyword"
    assert [item.name for item in rest] == [parameter.name for parameter in step.parameters]
    for item, parameter in zip(rest, step.parameters, strict=True):
        if item.default is not inspect.Parameter.empty:
            assert item.default == parameter.default, f"{step.name}: {item.name} defaults differ"


@pytest.mark.parametrize(
    "step",
    catalog.STEPS,
    ids=lambda step: step.name,
)
def test_the_declared_result_is_a_result_type(step: catalog.Step) -> None:
    assert issubclass(step.result, results.Result)
    returned = inspect.signature(function_of(step)).return_annotation
    assert returned in (step.result, step.result.__name__, f"results.{step.result.__name__}"), step.name


@pytest.mark.parametrize("step", catalog.STEPS, ids=lambda step: step.name)
def test_every_step_has_an_entrypoint_that_runs_its_own_declaration(step: catalog.Step) -> None:
    entrypoint = ROOT / step.folder / "entrypoint.py"
    assert entrypoint.is_file(), f"{step.name}: no {entrypoint.relative_to(ROOT)}"

    calls = [
        node
        for node in ast.walk(ast.parse(entrypoint.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "main"
    ]
    assert len(calls) == 1, f"{entrypoint}: expected one main(...) call"
    [call] = calls
    assert [ast.literal_eval(argument) for argument in call.args] == [step.name] and not call.keywords
    assert entrypoint.parent.name == step.name
    assert entrypoint.parent.parent.name == step.pipeline.folder


def test_every_entrypoint_folder_is_a_declared_step() -> None:
    folders = {path.parent.relative_to(ROOT).as_posix() for path in ROOT.glob("tasks/*/*/entrypoint.py")}
    assert folders == {step.folder for step in catalog.STEPS}


def test_every_entrypoint_prints_the_help_of_its_step() -> None:
    step = catalog.step("detect_drift")
    shown = subprocess.run(
        [sys.executable, str(ROOT / step.folder / "entrypoint.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert shown.startswith("usage: detect_drift")
    assert "--drift-threshold" in shown


def test_no_two_steps_share_a_name_an_image_or_a_folder() -> None:
    for attribute in ("name", "image_name", "folder"):
        counted = Counter(getattr(step, attribute) for step in catalog.STEPS)
        assert [value for value, count in counted.items() if count > 1] == [], attribute


def test_a_step_declares_each_parameter_once() -> None:
    for step in catalog.STEPS:
        names = [parameter.name for parameter in step.parameters]
        assert len(names) == len(set(names)), step.name


def test_an_unknown_step_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no step 'detect_drfit' in mindpulse\.catalog \(known: .*detect_drift"):
        catalog.step("detect_drfit")


def test_the_pipelines_list_their_steps_in_the_order_they_run() -> None:
    assert [step.name for step in catalog.steps_of(catalog.RETRAIN)] == [
        "check_production_data",
        "detect_drift",
        "backup_current_model",
        "merge_production_data",
        "train_new_model",
        "archive_production_data",
        "notify_retrain_success",
    ]
    reporting = [step.name for step in catalog.steps_of(catalog.REPORTING)]
    assert (reporting[0], reporting[-1]) == ("check_data_availability", "send_report_summary")
    assert sum(len(catalog.steps_of(pipeline)) for pipeline in _pipelines()) == len(catalog.STEPS)


def _pipelines() -> list[catalog.Pipeline]:
    return list(dict.fromkeys(step.pipeline for step in catalog.STEPS))


def test_every_family_is_known_and_every_volume_is_named() -> None:
    for step in catalog.STEPS:
        assert step.family in catalog.FAMILIES, step.name
        assert set(step.volumes) <= set(VOLUME_DIRS), step.name
        assert not set(step.reads) & set(step.writes), f"{step.name}: a volume is read-only or writable, not both"


def test_only_the_steps_that_register_models_see_the_private_key_and_only_the_bootstrap_writes_keys() -> None:
    assert {step.name for step in catalog.STEPS if "signing" in step.volumes} == {"train_new_model", "bootstrap"}
    assert {step.name for step in catalog.STEPS if {"trust", "signing"} & set(step.writes)} == {"bootstrap"}
    for step in catalog.STEPS:
        if "signing" in step.volumes:
            assert "trust" in step.volumes, f"{step.name} signs, so it loads the champion it compares with"


# --- the trigger forms ---------------------------------------------------------------------------------


def _declared_by_name() -> dict[str, list[tuple[str, Parameter]]]:
    found: dict[str, list[tuple[str, Parameter]]] = {}
    for step in catalog.STEPS:
        for parameter in step.parameters:
            found.setdefault(parameter.name, []).append((step.name, parameter))
    return found


def test_a_form_parameter_is_declared_alike_by_every_step_that_takes_it() -> None:
    for name, declarations in _declared_by_name().items():
        if not any(parameter.in_form for _, parameter in declarations):
            continue
        first_step, first = declarations[0]
        for step_name, parameter in declarations[1:]:
            assert parameter == first, f"{name}: {step_name} declares it unlike {first_step}"
            assert parameter.json_schema() == first.json_schema(), name


@pytest.mark.parametrize(
    "pipeline", [pipeline for pipeline in _pipelines() if pipeline.dag_id], ids=lambda pipeline: pipeline.dag_id
)
def test_the_form_of_each_dag_has_each_parameter_once(pipeline: catalog.Pipeline) -> None:
    names = tuple(step.name for step in catalog.steps_of(pipeline))
    form = catalog.form_parameters(names)

    expected = {parameter.name for name in names for parameter in catalog.step(name).parameters if parameter.in_form}
    assert set(form) == expected
    for name, parameter in form.items():
        assert parameter.name == name and parameter.in_form
        assert parameter.template is None and not parameter.secret, f"{name}: a form field is typed, not rendered"


def test_the_form_of_every_step_at_once_agrees() -> None:
    assert catalog.form_parameters(tuple(STEPS))  # raises when two steps declare one form parameter differently


def test_form_parameters_refuses_two_different_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    check = catalog.step("check_production_data")
    drift = catalog.step("detect_drift")
    [force] = [parameter for parameter in drift.parameters if parameter.name == "force"]
    changed = tuple(force.with_default(True) if parameter is force else parameter for parameter in drift.parameters)
    monkeypatch.setitem(catalog._BY_NAME, "detect_drift", catalog.Step(**{**vars(drift), "parameters": changed}))

    with pytest.raises(ValueError, match="steps declare parameter force differently"):
        catalog.form_parameters((check.name, drift.name))


def test_the_build_list_names_every_image() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "mindpulse.catalog", "--build-list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert listed == [f"{step.name} {step.image_name} {step.family} {step.folder}" for step in catalog.STEPS]
