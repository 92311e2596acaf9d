"""What a step loads before its function runs, checked in a fresh interpreter: only what its work needs.

Start-up is most of a short step's wall time (bench/startup.py measures it), so these guard the cuts:
no library of a later image family, Evidently only once a step's input is known good, the webhook's
HTTP stack only when there is a webhook, and the imported libraries frozen out of garbage collection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from mindpulse import catalog
from mindpulse.paths import DIR_ENVS, Layout

# Each check starts a fresh interpreter that imports the family's libraries (seconds each): the full command runs them.
pytestmark = pytest.mark.slow

REQUIREMENTS = Path(__file__).resolve().parents[2] / "tasks" / "requirements"
# What mindpulse.protocol.main imports before it calls a step's function: the step's module.
STEP_MODULES = sorted({(step.family, step.module) for step in catalog.STEPS})


def _distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def libraries_of(family: str) -> set[str]:
    """Top-level modules of the libraries a family adds to the one before (its requirements file)."""
    lines = (REQUIREMENTS / f"{family}.txt").read_text().splitlines()
    wanted = {_distribution(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()}
    return {
        module
        for module, distributions in packages_distributions().items()
        if module.isidentifier() and any(_distribution(item) in wanted for item in distributions)
    }


@cache
def loaded_by(*modules: str) -> set[str]:
    """Every module in sys.modules after a fresh interpreter imports `modules`."""
    code = f"import importlib, json, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
    code += "print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(completed.stdout))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(("family", "module"), STEP_MODULES, ids=lambda value: value)
def test_a_step_module_imports_no_library_of_a_later_family(family: str, module: str) -> None:
    later = catalog.FAMILIES[catalog.FAMILIES.index(family) + 1 :]
    forbidden = set().union(*(libraries_of(name) for name in later))

    assert top_level(loaded_by("mindpulse.protocol", module)) & forbidden == set()


@pytest.mark.parametrize("family", catalog.FAMILIES[1:])
def test_each_family_library_is_imported_by_a_step_of_that_family(family: str) -> None:
    """The check above is not vacuous: it sees the libraries where they are imported."""
    modules = [module for owner, module in STEP_MODULES if owner == family]
    loaded = set().union(*(top_level(loaded_by("mindpulse.protocol", module)) for module in modules))

    assert libraries_of(family) and libraries_of(family) <= loaded


def test_detect_drift_imports_evidently_only_once_its_input_is_valid() -> None:
    """Bad input fails at once instead of after seconds of importing Evidently (mindpulse.retrain.triggers)."""
    module = catalog.step("detect_drift").module

    assert "evidently" not in top_level(loaded_by("mindpulse.protocol", module))


@pytest.mark.parametrize("step", ["notify_retrain_success", "send_report_summary"])
def test_a_summary_step_loads_no_http_client_until_it_posts(step: str) -> None:
    loaded = loaded_by("mindpulse.protocol", catalog.step(step).module)

    assert {"urllib.request", "http.client", "ssl"} & loaded == set()


def test_a_step_runs_with_its_imports_frozen_and_the_collector_on(layout: Layout) -> None:
    """What the step's module loaded sits in the permanent generation (no collection walks it, nor the
    interpreter's shutdown), and the collector still runs for what the step allocates."""
    step = catalog.step("check_data_availability")  # fails fast on empty volumes, after its imports
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.get_freeze_count(), gc.isenabled(), file=sys.stderr))\n"
        f"from mindpulse.protocol import main\nmain({step.name!r})\n"
    )
    environment = {env: str(getattr(layout, f"{volume}_dir")) for volume, env in DIR_ENVS.items()}
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ | environment
    )

    error, frozen_line = completed.stderr.strip().splitlines()[-2:]
    assert completed.returncode == 1 and error.startswith("ERROR:") and "reference data is missing" in error
    frozen, enabled = frozen_line.split()
    assert int(frozen) > 100_000, "pandas and numpy alone leave far more objects than that"
    assert enabled == "True"
