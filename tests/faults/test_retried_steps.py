"""Retries are safe: a retrain step run a second time, as an Airflow retry of the same DAG run runs it
(same RUN_STAMP, same inputs), leaves the volumes exactly as its first run did.

The comparison is strict: every path, link and byte, temporary names included. Nothing is exempt, because
nothing needs to be: the files a step names by time take the run's stamp (backup, archive, summary), a
retried backup keeps the copy it finds, a retried train_new_model finds the version it registered (by its
inputs) instead of registering another and writes no second audit line, a retried archive finds no
manifest, and a rewritten file gets the same bytes. What differs is only file times, which no step reads.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import Baseline, step_environment
from tests.faults.fault_harness import FaultHarness
from tests.integration.airflow_harness import RETRAIN_STEPS

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("step", RETRAIN_STEPS)
def test_a_step_run_twice_ends_as_a_step_run_once(faults: FaultHarness, baseline: Baseline, step: str) -> None:
    volumes = faults.copy_of(baseline.after[step], f"retry-{step}")
    results = {name: run.xcom for name, run in baseline.runs.items()}

    again = faults.run(step, volumes, step_environment(step, results))

    assert again.exit_code == baseline.runs[step].exit_code, again.describe()
    (twice,) = faults.inspect(volumes)
    once = baseline.state_after(step)
    assert twice.files == once.files
    assert (twice.live, twice.versions, twice.audit) == (once.live, once.versions, once.audit)
