"""The step protocol every entrypoint follows.

- Progress goes to stdout as plain lines (`say`).
- The last stdout line is one JSON object: the step's result. Airflow's DockerOperator turns it
  into the task's XCom.
- Exit codes: 0 done, SKIP_EXIT_CODE (99) "nothing to do" (the orchestrator skips what follows,
  the run still succeeds), 1 bad input or failure, with a one-line `ERROR:` on stderr that names
  the file, column or row. A failure of the system under the step (a full or read-only volume, a
  missing permission) is reported the same way: one line, naming the file when the system did.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

SKIP_EXIT_CODE = 99
FAILURE_EXIT_CODE = 1


class StepError(Exception):
    """Bad input or a broken precondition. The message is the one line the user reads."""


class NothingToDo(Exception):
    """The step decided there is no work; `result` explains why."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(result.get("reason", "nothing to do"))
        self.result = result


def say(message: str) -> None:
    print(message, flush=True)


def run(step_name: str, body: Callable[[], dict[str, Any]]) -> NoReturn:
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
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(FAILURE_EXIT_CODE)


def _finish(step_name: str, status: str, result: dict[str, Any], code: int) -> NoReturn:
    print(json.dumps({"step": step_name, "status": status, **result}, default=str), flush=True)
    sys.exit(code)


# --- command line ----------------------------------------------------------------------------


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the entrypoint's docstring layout (inputs, outputs, parameters) and shows defaults."""


def parser(step_name: str, description: str | None) -> argparse.ArgumentParser:
    """An argument parser for an entrypoint; its options take their defaults from `env`."""
    return argparse.ArgumentParser(
        prog=step_name,
        description=description,
        formatter_class=_HelpFormatter,
        epilog=(
            f"Exit codes: 0 done, {SKIP_EXIT_CODE} nothing to do, {FAILURE_EXIT_CODE} bad input or failure. "
            "Volumes: /data, /models, /reports (override with MINDPULSE_DATA_DIR, "
            "MINDPULSE_MODELS_DIR, MINDPULSE_REPORTS_DIR)."
        ),
    )


def env(name: str, default: Any, kind: Callable[[str], Any] = str) -> Any:
    """The value of environment variable `name` converted by `kind`, or `default` when unset."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as error:
        raise SystemExit(f"ERROR: environment variable {name}={raw!r} is invalid: {error}") from None


def flag(raw: str) -> bool:
    """Parse a boolean environment value ("true"/"false", "1"/"0", "yes"/"no")."""
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")
