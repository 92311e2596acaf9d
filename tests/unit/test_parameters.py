"""Step parameters: a value the trigger form accepts is a value the step accepts, and the other way round.

Every declared parameter of every step is tried at each of its bounds and just past it, through
`Parameter.check` (what the step runs) and through a JSON-schema validation of `Parameter.json_schema()`
(what the Airflow trigger form runs). Both must agree. Then the command line built from the declarations:
environment variables, flags and `--help`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import jsonschema
import pytest

from mindpulse import catalog, protocol
from mindpulse.parameters import DRIFT_THRESHOLD, SELECTION_METRICS, Parameter, parse_flag


def form_accepts(parameter: Parameter, value: Any) -> bool:
    """What the trigger form does with `value`: validate it against the Param's schema, as Airflow does."""
    schema = parameter.json_schema()
    return jsonschema.validators.validator_for(schema)(schema).is_valid(value)


def step_accepts(parameter: Parameter, value: Any) -> bool:
    try:
        parameter.check(value)
    except ValueError:
        return False
    return True


# --- the boundary values of each declaration ----------------------------------------------------------

# Values for each declared pattern, matching or not: a new pattern needs its examples here.
PATTERN_EXAMPLES: dict[str, list[tuple[str, bool]]] = {
    "run_stamp": [
        ("20261126_120000", True),
        ("20261126_12000", False),
        ("20261126_1200000", False),
        ("x20261126_120000", False),
        ("20261126-120000", False),
        ("", False),
    ],
    "version": [
        ("v0003", True),
        ("v12345", True),
        ("", False),
        ("v003", False),
        ("0003", False),
        ("v0003 ", False),
    ],
    "to_version": [
        ("", True),
        ("v0003", True),
        ("v12345", True),
        ("v003", False),
        ("0003", False),
        ("v0003x", False),
        (" v0003", False),
        ("v0003 v0004", False),
    ],
    "reason": [
        ("abc", True),
        (" a ", True),
        ("two\nlines", True),
        ("   ", False),
        ("\n\t\n", False),
    ],
}


class Case(NamedTuple):
    value: Any
    accepted: bool
    why: str


def _past(value: float, kind: type, direction: float) -> float:
    """The next value of `kind` beyond `value` in `direction`."""
    return value + direction if kind is int else math.nextafter(value, direction * math.inf)


def boundary_cases(parameter: Parameter) -> Iterator[Case]:
    kind = parameter.kind
    if parameter.minimum is not None:
        yield Case(kind(parameter.minimum), True, "at the minimum")
        yield Case(_past(kind(parameter.minimum), kind, -1), False, "just below the minimum")
    if parameter.maximum is not None:
        yield Case(kind(parameter.maximum), True, "at the maximum")
        yield Case(_past(kind(parameter.maximum), kind, +1), False, "just above the maximum")
    if parameter.below is not None:
        yield Case(kind(parameter.below), False, "at the exclusive bound")
        yield Case(_past(kind(parameter.below), kind, -1), True, "just below the exclusive bound")
    for choice in parameter.choices:
        yield Case(choice, True, f"choice {choice}")
    if parameter.choices:
        yield Case("", False, "empty, not a choice")
        yield Case(parameter.choices[0].upper(), False, "a choice in another case")
        yield Case(parameter.choices[0] + "x", False, "a choice with more after it")
    if parameter.pattern is not None:
        assert parameter.name in PATTERN_EXAMPLES, f"add examples for the pattern of {parameter.name}"
        for value, matches in PATTERN_EXAMPLES[parameter.name]:
            yield Case(value, matches and len(value) >= (parameter.min_length or 0), f"pattern: {value!r}")
    if parameter.min_length is not None:
        yield Case("x" * parameter.min_length, True, "at the minimum length")
        yield Case("x" * (parameter.min_length - 1), False, "one character short")
    if parameter.required:
        yield Case(None, False, "required, unset")
    elif parameter.default is None:
        yield Case(None, True, "optional, unset")
    if parameter.default is not None:
        yield Case(parameter.default, True, "the default")
    if kind is bool:
        yield Case(True, True, "true")
        yield Case(False, True, "false")
    if kind is dict:
        yield Case({}, True, "an empty object")
        yield Case({"check_production_data": None}, True, "an object")
    if kind is str and parameter.pattern is None and not parameter.choices and parameter.min_length is None:
        yield Case("", True, "empty text")
        yield Case("any text", True, "text")
    if kind is int and parameter.minimum is None and parameter.maximum is None:
        yield Case(-1, True, "a negative integer")
        yield Case(2**40, True, "a large integer")


def _declarations() -> list[tuple[str, Parameter]]:
    return [(step.name, parameter) for step in catalog.STEPS for parameter in step.parameters]


CASES = [
    pytest.param(parameter, case, id=f"{step_name}-{parameter.name}-{case.why}")
    for step_name, parameter in _declarations()
    for case in boundary_cases(parameter)
]


@pytest.mark.parametrize(("parameter", "case"), CASES)
def test_the_form_and_the_step_agree_at_every_bound(parameter: Parameter, case: Case) -> None:
    assert step_accepts(parameter, case.value) is case.accepted, f"the step: {case.why}"
    assert form_accepts(parameter, case.value) is case.accepted, f"the form: {case.why}"


def test_every_declared_bound_has_cases() -> None:
    for _, parameter in _declarations():
        cases = list(boundary_cases(parameter))
        assert cases, parameter.name
        if parameter.minimum is not None or parameter.below is not None or parameter.choices or parameter.required:
            assert any(not case.accepted for case in cases), f"{parameter.name}: no rejected value tried"


@pytest.mark.parametrize("raw", ["1", "1.0"])
def test_a_drift_threshold_of_one_is_refused_by_the_form_and_the_step(raw: str) -> None:
    # It used to be accepted by the trigger form and refused by the step, failing the run after the trigger.
    for step in (catalog.step("detect_drift"), catalog.step("generate_data_drift_report")):
        [declared] = [parameter for parameter in step.parameters if parameter.name == "drift_threshold"]
        assert declared == DRIFT_THRESHOLD
        assert not form_accepts(declared, 1) and not form_accepts(declared, 1.0)
        assert not step_accepts(declared, 1.0)
        with pytest.raises(ValueError, match=r"drift_threshold must be below 1, got 1\.0"):
            declared.parse(raw)


# Python regexes (which jsonschema uses) let `$` match before a final newline; check() uses fullmatch.
@pytest.mark.parametrize("name", ["to_version", "run_stamp"])
def test_a_trailing_newline_is_refused_by_the_form_as_by_the_step(name: str) -> None:
    [declared] = {parameter for _, parameter in _declarations() if parameter.name == name}
    value = "v0003\n" if name == "to_version" else "20261126_120000\n"
    assert not step_accepts(declared, value)
    assert not form_accepts(declared, value)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_share_is_refused_by_the_form_as_by_the_step(value: float) -> None:
    [declared] = [
        parameter for parameter in catalog.step("simulate_traffic").parameters if parameter.name == "covariate_shift"
    ]
    assert not step_accepts(declared, value)
    assert not form_accepts(declared, value)


@pytest.mark.parametrize("raw", ["[1]", "5", '"text"'])
def test_an_object_parameter_refuses_json_that_is_not_an_object(raw: str) -> None:
    [declared] = [
        parameter for parameter in catalog.step("notify_retrain_success").parameters if parameter.kind is dict
    ]
    assert not form_accepts(declared, json.loads(raw))
    with pytest.raises(ValueError, match="step_results"):
        declared.parse(raw)


def test_the_selection_metrics_are_the_choices_of_the_form() -> None:
    [declared] = {parameter for _, parameter in _declarations() if parameter.name == "selection_metric"}
    assert declared.choices == SELECTION_METRICS
    assert declared.json_schema()["enum"] == list(SELECTION_METRICS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("true", True), ("True", True), (" yes ", True), ("1", True), ("ON", True)],
        *[("false", False), ("False", False), ("no", False), ("0", False), ("off", False)],
    ],
)
def test_flags_from_text(raw: str, expected: bool) -> None:
    assert parse_flag(raw) is expected


@pytest.mark.parametrize("raw", ["", "maybe", "2", "none"])
def test_anything_else_is_not_a_flag(raw: str) -> None:
    with pytest.raises(ValueError, match="expected true or false"):
        parse_flag(raw)


def test_parse_names_the_parameter_and_the_text() -> None:
    with pytest.raises(ValueError, match=r"^drift_threshold: 'abc' is not a valid float \("):
        DRIFT_THRESHOLD.parse("abc")
    with pytest.raises(ValueError, match=r"^drift_threshold must be a finite number, got nan$"):
        DRIFT_THRESHOLD.parse("nan")


# --- the command line -----------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No declared parameter set in the environment, whatever the machine running the tests has set."""
    for _, parameter in _declarations():
        monkeypatch.delenv(parameter.env, raising=False)
    return monkeypatch


def run_main(step_name: str, environment: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """`protocol.main(step_name)` in a fresh interpreter, as an image's entrypoint runs it."""
    names = {parameter.env for _, parameter in _declarations()}
    env = {key: value for key, value in os.environ.items() if key not in names} | environment
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys\nfrom mindpulse.protocol import main\nmain({step_name!r}, sys.argv[1:])",
            *argv,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("step_name", "variable", "raw", "message"),
    [
        ("detect_drift", "DRIFT_THRESHOLD", "1", "drift_threshold must be below 1, got 1.0"),
        ("detect_drift", "DRIFT_THRESHOLD", "abc", "drift_threshold: 'abc' is not a valid float ("),
        ("detect_drift", "FORCE", "maybe", "force: 'maybe' is not a valid bool (expected true or false, got 'maybe')"),
        ("train_new_model", "SELECTION_METRIC", "speed", "selection_metric must be one of accuracy, f1, precision"),
        ("cleanup_old_reports", "MAX_REPORTS", "0", "max_reports must be at least 1, got 0"),
        ("rollback_model", "TO_VERSION", "3", "to_version must match (v[0-9]{4,})?, got '3'"),
    ],
)
def test_a_bad_environment_value_is_one_error_line_and_exit_1(
    step_name: str, variable: str, raw: str, message: str
) -> None:
    finished = run_main(step_name, {variable: raw})

    assert finished.returncode == protocol.FAILURE_EXIT_CODE
    assert finished.stdout == ""
    [line] = finished.stderr.splitlines()
    assert line.startswith(f"ERROR: environment variable {variable}: {message}")


def test_environment_values_are_the_defaults_and_flags_win(clean_environment: pytest.MonkeyPatch) -> None:
    step = catalog.step("detect_drift")
    assert vars(protocol.command_line(step).parse_args([])) == {
        parameter.name: parameter.default for parameter in step.parameters
    }

    clean_environment.setenv("DRIFT_THRESHOLD", "0.25")
    clean_environment.setenv("MIN_DRIFT_ROWS", "")  # empty: unset, as docker passes an unset variable
    clean_environment.setenv("FORCE", "yes")
    parsed = vars(protocol.command_line(step).parse_args([]))
    assert parsed == {"drift_threshold": 0.25, "min_drift_rows": 100, "force": True, "max_quarantine_share": 0.01}

    flagged = protocol.command_line(step).parse_args(["--drift-threshold", "0.5", "--no-force"])
    assert (flagged.drift_threshold, flagged.force) == (0.5, False)


def test_a_required_parameter_comes_from_its_flag_or_its_variable(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    step = catalog.step("rollback_model")
    with pytest.raises(SystemExit) as exited:
        protocol.main(step.name, ["--to-version", "v0001"])
    assert exited.value.code == 2  # argparse's usage error, before the step touches anything
    error = capsys.readouterr().err
    assert "--reason (or REASON) is required" in error

    clean_environment.setenv("REASON", "v0004 misreads new students")
    assert protocol.command_line(step).parse_args([]).reason == "v0004 misreads new students"


def test_a_flag_outside_its_bounds_is_refused_naming_it(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        protocol.command_line(catalog.step("detect_drift")).parse_args(["--drift-threshold", "1"])
    assert "drift_threshold must be below 1, got 1.0" in capsys.readouterr().err


@pytest.mark.parametrize("step", catalog.STEPS, ids=lambda step: step.name)
def test_the_help_of_every_step_lists_every_flag_and_its_variable(
    step: catalog.Step, clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environment.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exited:
        protocol.main(step.name, ["--help"])

    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: {step.name}")
    assert step.doc.splitlines()[0] in shown
    assert " ".join(shown.split()).count("Exit codes: 0 done, 99 nothing to do, 1 bad input or failure.") == 1
    for parameter in step.parameters:
        assert re.search(rf"^\s+{re.escape(parameter.flag)}\b", shown, re.MULTILINE), parameter.flag
        assert f"[{parameter.env}]" in shown, parameter.env
        if parameter.kind is bool:
            assert "--no-" + parameter.flag[2:] in shown


def test_help_imports_none_of_the_step_libraries() -> None:
    """`--help` is instant, and works in an image of any family."""
    code = (
        "import sys\nfrom mindpulse.protocol import main\n"
        "try:\n    main('train_new_model', ['--help'])\n"
        "finally:\n    print(sorted({'pandas', 'sklearn', 'evidently'} & set(sys.modules)), file=sys.stderr)"
    )
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert finished.returncode == 0, finished.stderr
    assert "--selection-metric" in finished.stdout and "[SELECTION_METRIC]" in finished.stdout
    assert finished.stderr == "[]\n"
