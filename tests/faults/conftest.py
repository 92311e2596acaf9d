"""Fixtures of the fault layer: one seeded volume set and one uninterrupted retrain run, made once per
session; every test copies the state it starts from."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.faults.fault_harness import ACCESS, THROTTLE, FaultHarness, State, StepRun
from tests.integration.airflow_harness import RETRAIN_STEPS, Harness, Volumes

# The session harness of the integration layer (Docker client, Airflow home, volume clean-up).
from tests.integration.conftest import harness  # noqa: F401

# Small enough that training takes seconds: 600 labelled production rows pass a retrain threshold of 500, and
# are too few for train_new_model's second, recent-rows-only window, which would double the training time.
REFERENCE_ROWS = "2000"
PRODUCTION_ROWS = "600"
RETRAIN_THRESHOLD = 500
RETRAIN_CONF = {"retrain_threshold": RETRAIN_THRESHOLD}


@dataclass
class Baseline:
    """The retrain sequence run once without a fault, every step as the DAG runs it, from `seed`."""

    seed: Volumes
    before: dict[str, Volumes]  # step -> a copy of the state it started from (never written again)
    after: dict[str, Volumes]  # step -> a copy of the state it left
    runs: dict[str, StepRun]
    states: dict[Volumes, State]

    def state_before(self, step: str) -> State:
        return self.states[self.before[step]]

    def state_after(self, step: str) -> State:
        return self.states[self.after[step]]

    @property
    def seed_state(self) -> State:
        return self.states[self.seed]

    @property
    def final(self) -> State:
        return self.states[self.after[RETRAIN_STEPS[-1]]]

    def seconds(self, step: str) -> float:
        """How long the step took uninterrupted (throttled as THROTTLE says)."""
        return self.runs[step].seconds


def step_environment(step: str, results: dict[str, dict | None]) -> dict[str, str]:
    """What the DAG passes a step besides RUN_STAMP (with the conf RETRAIN_CONF): the threshold to the check,
    the earlier steps' results to the summary."""
    if step == "check_production_data":
        return {"RETRAIN_THRESHOLD": str(RETRAIN_THRESHOLD)}
    if step != "notify_retrain_success":
        return {}
    decided = ("check_production_data", "detect_drift", "merge_production_data", "archive_production_data")
    return {"STEP_RESULTS": json.dumps({name: results.get(name) for name in decided})}


@pytest.fixture(scope="session")
def faults(harness: Harness) -> FaultHarness:  # noqa: F811
    return FaultHarness.sharing(harness)


@pytest.fixture(scope="session")
def baseline(faults: FaultHarness) -> Baseline:
    seed = faults.new_volumes("fault-seed")
    faults.run_step("bootstrap", seed, REFERENCE_ROWS=REFERENCE_ROWS, SEED="42")
    faults.run_step("simulate_traffic", seed, ROWS=PRODUCTION_ROWS, SEED="1")
    work = faults.copy_of(seed, "fault-baseline")
    before: dict[str, Volumes] = {}
    after: dict[str, Volumes] = {}
    runs: dict[str, StepRun] = {}
    results: dict[str, dict | None] = {}
    state = seed
    for step in RETRAIN_STEPS:
        before[step] = state
        run = faults.run(step, work, step_environment(step, results), cpus=THROTTLE.get(step))
        assert run.exit_code in (0, 99), run.describe()
        runs[step], results[step] = run, run.xcom
        if "rw" in ACCESS[step].values():
            # The last state is the work set itself: nothing runs on it any more.
            state = work if step == RETRAIN_STEPS[-1] else faults.copy_of(work, f"fault-after-{step}")
        after[step] = state
    sets = list(dict.fromkeys([seed, *after.values()]))
    states = dict(zip(sets, faults.inspect(*sets, load_model=True), strict=True))
    for volumes, found in states.items():
        assert found.problems == [] and found.model.startswith("loaded"), (volumes, found.problems, found.model)
    print("uninterrupted retrain: " + ", ".join(f"{step} {run.seconds:.1f} s" for step, run in runs.items()))
    return Baseline(seed, before, after, runs, states)
