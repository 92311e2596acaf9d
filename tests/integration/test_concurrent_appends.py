"""No production row lost or used twice: the serving API appends to prod_data.csv while a retrain run goes on.

A container plays the serving API (production_appender.py): from before the run merges production data
until after it has archived them, it appends thousands of rows, labelled and not, through
`mindpulse.production.append_lines`, while `airflow dags test ml_retrain_pipeline` runs the real step images
on the same data volume. Then every appended row must be in exactly one place, the run's archive or the
live prod_data.csv, and the training and evaluation sets must hold exactly the archived labelled rows.
Whether the gate promotes or rejects the new model does not matter here.

Also: a run that fails at train_new_model leaves production data as it was, and an append that does not
fit on the disk is undone instead of leaving a torn line.
Run from the repository root (-s shows the figures):
    .venv/bin/python -m pytest -s tests/integration/test_concurrent_appends.py
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from docker.models.containers import Container

from mindpulse import schema
from tests.integration.airflow_harness import TAG, TOOL_IMAGE, Harness, Volumes

pytestmark = [pytest.mark.airflow, pytest.mark.docker]

APPENDER_IMAGE = f"mindpulse/family-pandas:{TAG}"
APPENDER_SOURCE = Path(__file__).with_name("production_appender.py")
# About 150 rows a second on a 2-core machine: thousands over a run, and CPU left for training.
APPEND_PAUSE = "0.02"
ROW_NUMBER = r"\.(\d{6})\+00:00$"

# Sets every label of the reference data to 0 (as the step user, so ownership stays).
ONE_CLASS_REFERENCE = """
import csv
path = "/data/reference_data.csv"
with open(path, newline="") as handle:
    rows = list(csv.reader(handle))
label = rows[0].index("Depression")
for row in rows[1:]:
    row[label] = "0"
with open(path, "w", newline="") as handle:
    csv.writer(handle, lineterminator="\\n").writerows(rows)
"""

# On a 16 KiB data volume: one row, then 56 KB of rows that cannot fit, then one more row.
APPEND_ON_A_FULL_DISK = """
import json
from mindpulse import production
from mindpulse.paths import Layout
layout = Layout.from_env()
header = b"timestamp,value\\n"
production.append_lines(layout, header, b"2026-01-01T00:00:00+00:00,1\\n")
before = layout.production_data.read_bytes()
try:
    production.append_lines(layout, header, b"2026-01-01T00:00:01+00:00,2\\n" * 2000)
    outcome = "appended"
except OSError as error:
    outcome = str(error)
after_failure = layout.production_data.read_bytes()
production.append_lines(layout, header, b"2026-01-01T00:00:02+00:00,3\\n")
final = layout.production_data.read_text()
print(json.dumps({"outcome": outcome, "unchanged": after_failure == before, "file": final}))
"""


@dataclass(frozen=True)
class Appended:
    """What the appender reported: rows 1..rows were appended, in batches that were in at these times."""

    rows: int
    appends: list[tuple[datetime, int]]

    @property
    def first(self) -> datetime:
        return self.appends[0][0]

    @property
    def last(self) -> datetime:
        return self.appends[-1][0]

    def rows_between(self, start: datetime, end: datetime) -> int:
        return sum(size for moment, size in self.appends if start <= moment <= end)


def _appender(harness: Harness, volumes: Volumes, name: str, environment: dict[str, str]) -> Container:
    """The appender, started, with only the data volume and nothing else a step would not get either."""
    return harness.client.containers.run(
        APPENDER_IMAGE,
        ["python", "-c", APPENDER_SOURCE.read_text()],
        name=f"{harness.prefix}-appender-{name}",
        environment=environment,
        volumes={volumes.data: {"bind": "/data", "mode": "rw"}},
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": ""},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        detach=True,
    )


def _report(container: Container) -> Appended:
    status = container.wait(timeout=120)
    stdout = container.logs(stdout=True, stderr=False).decode()
    assert status["StatusCode"] == 0, container.logs().decode()[-4000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["event"] == "stopped"
    appends = [(datetime.fromtimestamp(moment, UTC), size) for moment, size in report["appends"]]
    return Appended(report["rows"], appends)


def _wait_until_appending(container: Container) -> None:
    deadline = time.monotonic() + 120
    while b'"appending"' not in container.logs(stdout=True, stderr=False):
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()[-4000:]
        assert time.monotonic() < deadline, "the appender did not start appending within 2 minutes"
        time.sleep(0.2)


def _production_rows(text: str, source: str) -> pd.DataFrame:
    """Validated production rows, with their row number checked against both places it is encoded in."""
    frame = schema.parse_production(text.encode(), source)
    number = frame[schema.TIMESTAMP].str.extract(ROW_NUMBER)[0].astype("int64")
    assert (_row_numbers(frame["Physical_Activity"]) == number).all(), f"{source}: a row is torn or mixed"
    return frame.assign(row=number)


def _row_numbers(activity: pd.Series) -> pd.Series:
    return ((activity % 1) * 1_000_000).round().astype("int64")


def _keys(frame: pd.DataFrame, label: str) -> list[tuple[object, ...]]:
    """Feature values and label of every row, sorted: equal lists are equal multisets. Numbers are rounded
    to the six decimals they were written with, as a CSV round trip may move a float by its last bit."""
    columns = [
        (frame[name].round(6) if name in schema.NUMERIC_FEATURES else frame[name]).tolist() for name in schema.FEATURES
    ]
    columns.append(frame[label].astype(int).tolist())
    return sorted(zip(*columns, strict=True))


def _csv(harness: Harness, volumes: Volumes, path: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(harness.read(volumes, path)))


def _under(snapshot: dict[str, str], folder: str) -> list[str]:
    return sorted(path for path in snapshot if path.startswith(folder))


def test_rows_appended_during_a_retrain_run_are_archived_or_kept_exactly_once(
    harness: Harness, seeded: Volumes, record_property: Callable[[str, object], None]
) -> None:
    volumes = harness.copy_of(seeded, "concurrent")
    reference_max_id = int(_csv(harness, volumes, "/data/reference_data.csv")[schema.ID].max())

    appender = _appender(harness, volumes, "concurrent", {"PAUSE": APPEND_PAUSE, "SEED": "7"})
    try:
        _wait_until_appending(appender)
        started = time.monotonic()
        run = harness.dag_test("ml_retrain_pipeline", volumes, conf={"force": True})
        seconds = time.monotonic() - started
        appender.stop(timeout=30)
        appended = _report(appender)
    finally:
        appender.remove(force=True)

    assert run.state == "success", run.tasks
    for task in ("merge_production_data", "train_new_model", "archive_production_data"):
        assert run.tasks[task] == "success", run.tasks
    merge_start = run.times["merge_production_data"][0]
    archive_end = run.times["archive_production_data"][1]
    assert merge_start is not None and archive_end is not None
    assert appended.first < merge_start, "the appender must be appending before the merge reads prod_data.csv"
    assert appended.last > archive_end, "the appender must still be appending after the archive step"

    after = harness.snapshot(volumes)
    archives = _under(after, "/data/archive/")
    assert len(archives) == 1, archives
    assert "/data/consumption.json" not in after, "the archive step consumes its manifest"
    assert _under(after, "/data/quarantine/") == [], "valid rows are never set aside"
    archived = _production_rows(harness.read(volumes, archives[0]), archives[0])
    live = _production_rows(harness.read(volumes, "/data/prod_data.csv"), "/data/prod_data.csv")
    found = archived["row"].tolist() + live["row"].tolist()
    lost = len(set(range(1, appended.rows + 1)) - set(found))
    duplicated = len(found) - len(set(found))
    labelled = int(archived[schema.ACTUAL].notna().sum()) + int(live[schema.ACTUAL].notna().sum())
    figures = {
        "rows_appended": appended.rows,
        "labelled": labelled,
        "appends": len(appended.appends),
        "rows_appended_between_merge_start_and_archive_end": appended.rows_between(merge_start, archive_end),
        "archived": len(archived),
        "left_in_prod_data": len(live),
        "lost": lost,
        "duplicated": duplicated,
        "dag_run_seconds": round(seconds),
    }
    print(f"\nconcurrent appends during a retrain run: {json.dumps(figures)}")
    for name, value in figures.items():
        record_property(name, value)

    # Every row in exactly one place, in append order: the archive is a prefix, prod_data.csv the rest.
    assert found == list(range(1, appended.rows + 1))
    assert lost == 0 and duplicated == 0
    assert len(archived) == run.results["archive_production_data"]["archived_rows"]
    assert len(live) > 0 and figures["rows_appended_between_merge_start_and_archive_end"] > 0
    assert archived[schema.ACTUAL].notna().any() and archived[schema.ACTUAL].isna().any()

    # The training set holds exactly the archived labelled rows: those before the evaluation split in
    # training_data.csv (numbered after the reference's largest id), the newest in evaluation_data.csv.
    training = _csv(harness, volumes, "/data/training_data.csv")
    evaluation = _csv(harness, volumes, "/data/evaluation_data.csv")
    is_reference = training[schema.ID] <= reference_max_id
    # The seed's reference rows have whole minutes of activity; appended rows do not.
    assert not (_row_numbers(training.loc[is_reference, "Physical_Activity"]) > 0).any(), "production row, reference id"
    used = pd.concat([training[~is_reference], evaluation], ignore_index=True)
    archived_labelled = schema.labelled(archived)
    assert _keys(used, schema.TARGET) == _keys(archived_labelled, schema.ACTUAL)
    used_rows = _row_numbers(used["Physical_Activity"])
    assert sorted(used_rows) == sorted(archived_labelled["row"])
    assert not set(used_rows) & set(archived.loc[archived[schema.ACTUAL].isna(), "row"]), "an unlabelled row was used"
    assert not set(used_rows) & set(live["row"]), "a row appended after the merge was used"


def test_a_run_that_fails_at_training_leaves_production_data_as_it_was(harness: Harness, seeded: Volumes) -> None:
    """Every label one class, in the reference data and in production: train_new_model cannot train on that."""
    volumes = harness.copy_of(seeded, "train-fails")
    harness.client.containers.run(
        TOOL_IMAGE, ["python", "-c", ONE_CLASS_REFERENCE], volumes=volumes.binds("rw"), network_mode="none", remove=True
    )
    appender = _appender(harness, volumes, "one-class", {"ROWS": "1500", "LABEL": "0", "SEED": "8"})
    try:
        assert _report(appender).rows == 1500
    finally:
        appender.remove(force=True)
    before = harness.snapshot(volumes)

    started = time.monotonic()
    run = harness.dag_test("ml_retrain_pipeline", volumes, conf={"force": True}, check=False)
    print(f"\nretrain failing at train_new_model: {time.monotonic() - started:.0f} s")

    assert run.state == "failed"
    assert run.tasks["merge_production_data"] == "success"
    assert run.tasks["train_new_model"] == "failed"
    assert "single class" in run.output, "train_new_model fails for the reason this test sets up"
    assert run.tasks["archive_production_data"] == "upstream_failed"
    after = harness.snapshot(volumes)
    assert after["/data/prod_data.csv"] == before["/data/prod_data.csv"], "prod_data.csv is byte-identical"
    assert _under(after, "/data/archive/") == []
    assert after["/models/current"] == before["/models/current"], "the live model stays"


def test_an_append_that_does_not_fit_on_the_disk_is_undone(harness: Harness) -> None:
    output = harness.client.containers.run(
        TOOL_IMAGE,
        ["python", "-c", APPEND_ON_A_FULL_DISK],
        tmpfs={"/data": "size=16k,uid=10001,gid=10001"},
        network_mode="none",
        remove=True,
    )
    result = json.loads(output.decode().strip().splitlines()[-1])
    assert "bytes written" in result["outcome"], "the caller is told, so it can retry"
    assert result["unchanged"], "no torn line is left behind"
    assert result["file"] == "timestamp,value\n2026-01-01T00:00:00+00:00,1\n2026-01-01T00:00:02+00:00,3\n"
