"""Evidently's workspace as the report steps fill it: Evidently's own reader agrees with the files, parallel
writers make one project, a retry replaces its snapshot, and a workspace that cannot be written costs
one warning."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from evidently import Dataset, Report
from evidently.core.report import Snapshot
from evidently.presets import DataSummaryPreset
from evidently.ui.service.storage.local.base import LocalState
from evidently.ui.service.storage.local.watcher import WorkspaceDirHandler
from evidently.ui.storage.local import base as evidently_layout
from evidently.ui.workspace import Workspace
from watchdog.observers import Observer

from mindpulse.paths import REPORT_KINDS, Layout
from mindpulse.reporting import evidently_workspace

STAMP = "20261126_120000"


def small_snapshot(seed: int) -> Snapshot:
    frame = pd.DataFrame({"x": [seed, seed + 1.0, seed + 3.0], "y": ["a", "b", "a"]})
    return Report([DataSummaryPreset()]).run(Dataset.from_pandas(frame), None)


def add(reports_dir: Path, kind: str, stamp: str, seed: int) -> bool:
    """One report step's part, in a process of its own."""
    layout = Layout.under(reports_dir.parent)
    return evidently_workspace.add_snapshot(layout, kind, stamp, small_snapshot(seed), "v0003")


def test_the_file_names_are_those_evidently_reads(layout: Layout) -> None:
    project = evidently_workspace.PROJECT_ID
    assert layout.evidently_project(project).name == evidently_layout.PROJECT_FILE_NAME
    assert layout.evidently_dashboard(project).name == evidently_layout.DASHBOARD_FILE_NAME
    assert layout.evidently_snapshot(project, "s").parent.name == evidently_layout.SNAPSHOTS_DIR_NAME
    assert layout.evidently_snapshot(project, "s").parent.parent == layout.evidently_project_dir(project)


def test_three_steps_at_once_make_one_project_and_a_retry_replaces_its_snapshot(layout: Layout) -> None:
    with ProcessPoolExecutor(3) as pool:
        added = list(pool.map(add, [layout.reports_dir] * 3, REPORT_KINDS, [STAMP] * 3, range(3)))
    assert added == [True, True, True]
    assert add(layout.reports_dir, "data_drift", STAMP, seed=9), "the retry"

    workspace = Workspace(str(layout.evidently_workspace))
    (project,) = workspace.list_projects()
    assert (project.name, str(project.id)) == ("MindPulse", evidently_workspace.PROJECT_ID)
    snapshots = {snapshot: workspace.get_run(project.id, snapshot) for snapshot in workspace.list_runs(project.id)}
    assert sorted(str(snapshot) for snapshot in snapshots) == sorted(
        evidently_workspace.snapshot_id(kind, STAMP) for kind in REPORT_KINDS
    )
    retried = snapshots[next(s for s in snapshots if str(s) == evidently_workspace.snapshot_id("data_drift", STAMP))]
    assert retried.name == f"data_drift_report_{STAMP}" and "data_drift" in retried.tags
    assert retried.metadata == {"run_stamp": STAMP, "model_version": "v0003"}
    assert [panel.title for panel in workspace.get_dashboard(project.id).panels] == ["Drift share", "Accuracy"]


def test_unchanged_project_files_are_not_rewritten(layout: Layout) -> None:
    """The UI's file watcher reloads on every change: a run must not touch what it would write identically."""
    assert add(layout.reports_dir, "data_quality", STAMP, seed=1)
    project = layout.evidently_project(evidently_workspace.PROJECT_ID)
    dashboard = layout.evidently_dashboard(evidently_workspace.PROJECT_ID)
    before = (project.stat().st_ino, dashboard.stat().st_ino)
    assert add(layout.reports_dir, "data_quality", "20261126_180000", seed=2)
    assert (project.stat().st_ino, dashboard.stat().st_ino) == before


def test_a_workspace_that_cannot_be_written_costs_one_warning(
    layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file where the workspace folder belongs: every write below it fails, even as root.
    layout.evidently_workspace.write_text("not a folder")
    assert add(layout.reports_dir, "data_drift", STAMP, seed=1) is False
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("WARNING: Evidently workspace not updated, the report itself is complete: ")
    assert str(layout.evidently_workspace) in line and "Not a directory" in line
    assert layout.evidently_workspace.read_text() == "not a folder"
    assert sorted(path.name for path in layout.reports_dir.iterdir()) == [layout.evidently_workspace.name]


def test_the_workspace_keeps_the_newest_snapshots(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidently_workspace, "MAX_SNAPSHOTS", 2)
    stamps = ("20261126_000000", "20261126_060000", "20261126_120000")
    for seed, stamp in enumerate(stamps):
        assert add(layout.reports_dir, "data_drift", stamp, seed)
    snapshots = layout.evidently_snapshot(evidently_workspace.PROJECT_ID, "x").parent
    kept = sorted(path.name for path in snapshots.iterdir())
    assert kept == sorted(f"{evidently_workspace.snapshot_id('data_drift', stamp)}.json" for stamp in stamps[1:])


def test_a_running_evidently_ui_sees_each_new_snapshot(layout: Layout) -> None:
    """`evidently ui` watches the workspace with this handler; a rename inside the workspace would name
    only the temporary file, which it ignores."""
    assert add(layout.reports_dir, "data_drift", STAMP, seed=1)
    state = LocalState.load(str(layout.evidently_workspace), None)
    project = uuid.UUID(evidently_workspace.PROJECT_ID)
    observer = Observer()
    observer.schedule(WorkspaceDirHandler(state), str(layout.evidently_workspace), recursive=True)
    observer.start()
    try:
        assert add(layout.reports_dir, "data_drift", "20261126_180000", seed=2)
        deadline = time.monotonic() + 30
        while len(state.snapshots[project]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        observer.stop()
        observer.join()
    assert sorted(map(str, state.snapshots[project])) == sorted(
        evidently_workspace.snapshot_id("data_drift", stamp) for stamp in (STAMP, "20261126_180000")
    )
