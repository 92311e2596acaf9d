"""The step protocol every entrypoint follows.

- Progress goes to stdout as plain lines (`say`).
- The last stdout line is one JSON object: the step's result. Airflow's DockerOperator turns it
  into the task's XCom. Where the folder XCOM_DIR exists (KubernetesPodOperator mounts it in the pod),
  a step that succeeds also writes that line to XCOM_DIR/return.json, which becomes the XCom there.
- Exit codes: 0 done, SKIP_EXIT_CODE (99) "nothing to do" (the orchestrator skips what follows,
  the run still succeeds), 1 bad input or failure, with a one-line `ERROR:` on stderr that names
  the file, column or row. A failure of the system under the step (a full or read-only volume, a
  missing permission) is reported the same way: one line, naming the file when the system did.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, NoReturn

from mindpulse import atomic, catalog
from mindpulse.parameters import Parameter
from mindpulse.paths import DIR_ENVS, VOLUME_DIRS, Layout
from mindpulse.results import Result

SKIP_EXIT_CODE = 99
FAILURE_EXIT_CODE = 1
# Starts the one line a failing step prints on stderr; the orchestrator's failure alert quotes that line.
ERROR_PREFIX = "ERROR:"
# Where KubernetesPodOperator (do_xcom_push) reads a pod's result from: return.json in this folder.
XCOM_DIR = Path("/airflow/xcom")
XCOM_FILE = "return.json"


class StepError(Exception):
    """Bad input or a broken precondition. The message is the one line the user reads."""


class NothingToDo(Exception):
    """The step decided there is no work; `result` explains why."""

    def __init__(self, result: Result):
        super().__init__(getattr(result, "reason", "nothing to do"))
        self.result = result


def say(message: str) -> None:
    print(message, flush=True)


def run(step_name: str, body: Callable[[], Result]) -> NoReturn:
    """Run a step body and turn its outcome into the exit code and last line of the protocol."""
    try:
        result = body()
    except NothingToDo as skipped:
        _finish(step_name, "skipped", skipped.result, SKIP_EXIT_CODE)
    except StepError as error:
        _fail(str(error))
    except OSError as error:
        _fail(describe_os_error(error))
    _finish(step_name, "success", result, 0)


def describe_os_error(error: OSError) -> str:
    """`<file>: <reason>` (or just the reason when the system named no file), e.g.
    "/models/versions/.v0002.k3j/metadata.json: No space left on device"."""
    reason = error.strerror or str(error)
    names = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def _fail(message: str) -> NoReturn:
    print(f"{ERROR_PREFIX} {message}", file=sys.stderr, flush=True)
    sys.exit(FAILURE_EXIT_CODE)


def _finish(step_name: str, status: str, result: Result, code: int) -> NoReturn:
    line = json.dumps(result_object(step_name, status, result), default=str)
    # Only a success has an XCom: a skipped task pushes none under DockerOperator either (the skip is raised
    # before the push), so the results the later steps see are the same on both runners. Written before the
    # line is printed: a pod whose result cannot reach Airflow fails instead of succeeding without an XCom
    # (train_new_model's promotion event depends on it).
    if code == 0 and XCOM_DIR.is_dir():
        try:
            atomic.write_text(XCOM_DIR / XCOM_FILE, line + "\n")
        except OSError as error:
            _fail(describe_os_error(error))
    print(line, flush=True)
    sys.exit(code)


def result_object(step_name: str, status: str, result: Result) -> dict[str, Any]:
    """The object of a step's last line: its name, "success" or "skipped", and the result's fields."""
    fields = result.as_dict() if is_dataclass(result) else dict(result)
    return {"step": step_name, "status": status, **fields}


# --- an entrypoint -----------------------------------------------------------------------------


def main(step_name: str, argv: list[str] | None = None) -> NoReturn:
    """Everything an entrypoint does: parse the step's declared parameters (flags, else environment
    variables, else defaults), then call its function with the volumes' layout and run the protocol."""
    declared = catalog.step(step_name)
    cli = command_line(declared)
    values = vars(cli.parse_args(argv))
    for parameter in declared.parameters:
        if parameter.required and values[parameter.name] is None:
            cli.error(f"{parameter.flag} (or {parameter.env}) is required: {parameter.help}")
    body = step_function(declared)
    run(step_name, lambda: body(Layout.from_env(), **values))


def step_function(declared: catalog.Step) -> Callable[..., Any]:
    """The step's function (in its declared module, named like the step), imported as a step image imports it."""
    with frozen_imports():
        function: Callable[..., Any] = getattr(importlib.import_module(declared.module), declared.name)
    return function


@contextmanager
def frozen_imports() -> Iterator[None]:
    """Import a step's libraries with the cyclic garbage collector paused, then freeze what they loaded.

    A step imports once, works, and exits. What its imports allocate (after Evidently's ~3,000 modules,
    about 500,000 tracked objects) lives until the process ends and holds almost no garbage (about 1,100
    unreachable objects after Evidently). Left to the collector, every full collection walks all of it:
    several during the import (about 15% of its CPU time) and several more while the interpreter shuts
    down (1-2 s after Evidently, to free memory the kernel takes back anyway). `gc.freeze()` moves it to
    the permanent generation, which no collection visits; what the step allocates afterwards is
    collected as usual. Also for a step that imports a library late, once its input is known good.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the declaration's layout (inputs, outputs, exit codes) and shows defaults."""


def command_line(declared: catalog.Step) -> argparse.ArgumentParser:
    """The step's parser: one flag per declared parameter, defaulting to its environment variable."""
    cli = argparse.ArgumentParser(
        prog=declared.name,
        description=f"{declared.name}: {declared.doc}",
        formatter_class=_HelpFormatter,
        epilog=(
            f"Exit codes: 0 done, {SKIP_EXIT_CODE} nothing to do, {FAILURE_EXIT_CODE} bad input or failure. "
            f"Volumes: {', '.join(VOLUME_DIRS.values())} (override with {', '.join(DIR_ENVS.values())})."
        ),
    )
    for parameter in declared.parameters:
        _add(cli, parameter)
    return cli


def _add(cli: argparse.ArgumentParser, parameter: Parameter) -> None:
    def parse(raw: str) -> Any:
        try:
            return parameter.parse(raw)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    default = _from_environment(parameter)
    options: dict[str, Any] = {
        "dest": parameter.name,
        "default": default,
        "help": f"{parameter.help} [{parameter.env}]",
    }
    if parameter.kind is bool:
        cli.add_argument(parameter.flag, action=argparse.BooleanOptionalAction, **options)
    elif parameter.choices:
        cli.add_argument(parameter.flag, choices=parameter.choices, **options)
    else:
        cli.add_argument(parameter.flag, type=parse, **options)


def _from_environment(parameter: Parameter) -> Any:
    """The parameter's environment variable, parsed and checked; its default when unset or empty."""
    try:
        return value_of(parameter, os.environ.get(parameter.env, ""))
    except ValueError as error:
        _fail(f"environment variable {parameter.env}: {error}")


def value_of(parameter: Parameter, raw: str) -> Any:
    """A parameter's value from its text as the orchestrator hands it over: parsed and checked (ValueError
    when out of bounds), its fallback or default when empty."""
    if raw == "":
        return parameter.fallback() if parameter.fallback else parameter.default
    return parameter.parse(raw)
