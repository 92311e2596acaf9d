"""Every retrain step SIGKILLed mid-run (`docker kill --signal KILL`), then resumed by hand.

After the kill: the live model still loads (its checksum verified first), production data is intact, and
every file under a final name is either what was there before or the complete file an uninterrupted run
writes (leftovers are allowed only under the dot-prefixed temporary names of mindpulse.atomic and the
registry). Then the killed step and the ones after it run again, as a retry of the same DAG run would
(same RUN_STAMP), and the volumes end byte for byte as after the uninterrupted run, leftovers under
temporary names aside (fault_harness.VARYING lists the only other exceptions). detect_drift is re-run
only when it was the step killed: it only decides, and check_production_data has already decided to
retrain.

Kill points. Most steps do milliseconds of work after a Python start-up, so they run throttled to a CPU
share (fault_harness.THROTTLE). The steps whose only work is one write (backup_current_model,
archive_production_data, notify_retrain_success) print a phase marker just before it, and are killed on
that line; the test asserts the marker was printed and that some of what the uninterrupted run writes or
removes is not done (fault_harness.unfinished_writes): the kill landed inside the write, not before it
began nor after it ended. A kill that lands after the write is retried with less CPU time. The read-only
steps and the early merge kill are timed: fractions of their throttled duration, measured by the
uninterrupted run of the same session (retried earlier when the step was done first). Where a step
announces a phase on stdout, the kill follows that line instead: merge_production_data has said what it
will write, train_new_model has started training, or has registered its version (the container is
throttled hard from the line before, so the kill lands in what follows: going live, the audit line, the
reference data). Each test asserts that the kill really interrupted the step: exit code 137, not
OOM-killed, and no result line.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.faults.conftest import Baseline, step_environment
from tests.faults.fault_harness import (
    KILLED_EXIT_CODE,
    LEAST_CPUS,
    THROTTLE,
    FaultHarness,
    Trigger,
    assert_only_old_or_complete_files,
    assert_production_rows_intact,
    assert_same_end_state,
    unfinished_writes,
)
from tests.integration.airflow_harness import RETRAIN_STEPS, TOOL_IMAGE

pytestmark = pytest.mark.docker

REGISTERED = r"\bas v\d{4}\b"
# Stands for the line the uninterrupted run printed just before the trigger line.
LINE_BEFORE = "<line before>"
# The line each single-write step prints just before its write.
WRITE_MARKERS = {
    "backup_current_model": r"^copying model v\d{4} to /models/backups/",
    "archive_production_data": r"^archiving \d+ rows to /data/archive/",
    "notify_retrain_success": r"^writing /reports/retrain_summary_",
}
MID_WRITE = "mid-write"
WRITE_SLOWDOWN = 0.4
KILLS = [
    ("check_production_data", Trigger("midway", fraction=0.5)),
    ("detect_drift", Trigger("midway", fraction=0.5)),
    ("backup_current_model", Trigger(MID_WRITE, line=WRITE_MARKERS["backup_current_model"])),
    ("merge_production_data", Trigger("early", fraction=0.4)),
    ("merge_production_data", Trigger("writing", line="held out for evaluation")),
    ("train_new_model", Trigger("training", line=r"^training on")),
    ("train_new_model", Trigger("registered", line=REGISTERED, throttle_on=LINE_BEFORE)),
    ("archive_production_data", Trigger(MID_WRITE, line=WRITE_MARKERS["archive_production_data"])),
    ("notify_retrain_success", Trigger(MID_WRITE, line=WRITE_MARKERS["notify_retrain_success"])),
]
# More tries at the least CPU share when the machine is busy (CI runs the compose stack beside this layer).
ATTEMPTS = 6
NEXT_RUN_STAMP = "20261128_120000"


def _line_before(stdout: str, pattern: str) -> str:
    """A pattern for the line printed just before the first line matching `pattern` (its text up to any
    figures in brackets, which vary between runs)."""
    lines = stdout.splitlines()
    index = next(number for number, line in enumerate(lines) if re.search(pattern, line))
    assert index > 0, f"nothing printed before the line matching {pattern!r}"
    return "^" + re.escape(lines[index - 1].split(" (")[0])


@pytest.mark.parametrize(("step", "trigger"), KILLS, ids=[f"{step}-{trigger.name}" for step, trigger in KILLS])
def test_a_killed_step_breaks_nothing_and_a_rerun_finishes_the_run(
    faults: FaultHarness, baseline: Baseline, step: str, trigger: Trigger
) -> None:
    if trigger.throttle_on == LINE_BEFORE:
        throttle_on = _line_before(baseline.runs[step].stdout, trigger.line or "")
        trigger = Trigger(trigger.name, line=trigger.line, throttle_on=throttle_on)
    seconds = baseline.seconds(step)
    before, complete = baseline.state_before(step), baseline.state_after(step)
    for attempt in range(ATTEMPTS):
        volumes = faults.copy_of(baseline.before[step], f"kill-{step}-{trigger.name}-{attempt}")
        # A write of a few kilobytes can end before the kill arrives: each retry gives it less CPU time.
        cpus = max(LEAST_CPUS, THROTTLE[step] * WRITE_SLOWDOWN**attempt) if trigger.name == MID_WRITE else None
        killed = faults.run_and_kill(step, volumes, trigger, seconds, step_environment(step, {}), cpus)
        (after,) = faults.inspect(volumes, load_model=True)
        landed = killed.exit_code == KILLED_EXIT_CODE and killed.result is None
        if trigger.name == MID_WRITE:
            landed = landed and bool(unfinished_writes(before, after, complete))
        elif trigger.fraction is None:
            break
        if landed:
            break
        seconds *= 0.6  # its work was done before the kill landed: kill earlier
    print(f"{step} killed after {killed.killed_after:.2f} s (uninterrupted: {baseline.seconds(step):.2f} s)")

    assert killed.exit_code == KILLED_EXIT_CODE, f"not killed mid-run:\n{killed.describe()}"
    assert not killed.oom_killed
    assert killed.result is None, "the step had finished: its result line is there"
    if trigger.name == MID_WRITE:
        assert re.search(trigger.line or "", killed.stdout, re.MULTILINE), f"no phase marker:\n{killed.describe()}"
        pending = unfinished_writes(before, after, complete)
        assert pending, f"the kill landed after the write was done, in {ATTEMPTS} attempts"
        print(f"left undone by the kill: {pending}")
    assert after.model.startswith("loaded"), after.model
    assert after.live in (before.live, complete.live)
    assert_only_old_or_complete_files(after, before, complete)
    assert_production_rows_intact(after, baseline.seed_state)
    if after.temporary():
        print(f"left under temporary names: {after.temporary()}")

    index = RETRAIN_STEPS.index(step)
    results = {name: run.xcom for name, run in baseline.runs.items() if RETRAIN_STEPS.index(name) < index}
    for name in RETRAIN_STEPS[index:]:
        if name == "detect_drift" and step != "detect_drift":
            continue
        rerun = faults.run(name, volumes, step_environment(name, results))
        assert rerun.exit_code == baseline.runs[name].exit_code, rerun.describe()
        results[name] = rerun.xcom
    (final,) = faults.inspect(volumes)
    assert_same_end_state(final, baseline.final)


def test_a_new_run_after_an_archive_killed_between_its_two_renames_archives_each_row_once(
    faults: FaultHarness, baseline: Baseline
) -> None:
    """archive_production_data writes the archive, then rewrites prod_data.csv, then drops the manifest, each
    step an atomic rename. Killed between the first two, it leaves the archive complete, prod_data.csv as it
    was and the manifest. A retry of the same run finishes the move (the kill tests above); this is the other
    way on: the run gave up, and the next run (another RUN_STAMP) starts from that state."""
    volumes = faults.copy_of(baseline.before["archive_production_data"], "archive-window")
    archived = baseline.after["archive_production_data"]
    faults.client.containers.run(
        TOOL_IMAGE,
        ["cp", "-a", "/archived/archive", "/data/"],
        volumes={archived.data: {"bind": "/archived", "mode": "ro"}, volumes.data: {"bind": "/data", "mode": "rw"}},
        user="root",
        network_mode="none",
        remove=True,
    )
    (window,) = faults.inspect(volumes)
    assert_production_rows_intact(window, baseline.seed_state)

    results: dict[str, dict | None] = {}
    for name in RETRAIN_STEPS:
        if name == "detect_drift":
            continue
        run = faults.run(name, volumes, {"RUN_STAMP": NEXT_RUN_STAMP, **step_environment(name, results)})
        assert run.exit_code == 0, run.describe()
        results[name] = run.xcom

    (final,) = faults.inspect(volumes)
    assert final.production_rows == []
    assert final.archived() == Counter(baseline.seed_state.production_rows), "rows archived twice or lost"
