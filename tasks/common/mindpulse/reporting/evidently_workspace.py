"""Evidently's own workspace on the reports volume, which `evidently ui` serves as the project "MindPulse".

Each report step adds its snapshot here after its HTML and JSON twin are published. The workspace is a
second view, never the step's work: a workspace that cannot be written (a full disk, a permission) costs
one `WARNING:` line and the step still succeeds.

Files are written in Evidently 0.7's local layout (`Layout.evidently_*`), serialised by Evidently's own
models, but each one by atomic rename rather than through `Workspace`, whose writes can leave half a file
and whose random ids would turn a retried run into a second snapshot. The temporary files are staged in
the reports folder, outside the workspace: a running `evidently ui` watches the workspace and takes a file
moved in from outside as a new one, while a rename inside it names only the temporary file, which it
ignores. Every id is derived from a name:
- the project and its dashboard have fixed ids, so the three report steps, which run in parallel, write
  identical files and no lock is needed: whichever rename lands last, the content is the same;
- a snapshot's id comes from its report kind and run stamp, so a retry replaces its own snapshot.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from evidently.core.report import Snapshot
from evidently.legacy.utils import NumpyEncoder
from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric, ProjectModel
from evidently.sdk.panels import line_plot_panel

from mindpulse import atomic
from mindpulse.paths import Layout
from mindpulse.protocol import describe_os_error, say

PROJECT_NAME = "MindPulse"
PROJECT_DESCRIPTION = (
    "Evidently reports of the MindPulse reporting pipeline: data quality, data drift, model performance"
)
# All ids are UUIDs in this namespace, named after what they identify.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "mindpulse:evidently-workspace")
PROJECT_ID = str(uuid.uuid5(NAMESPACE, "project"))
DASHBOARD_TAB = "Over time"
# Bounds the workspace (cleanup_old_reports bounds only the HTML reports, so the UI keeps a longer
# history): the newest 1200 snapshots, 100 days of the 6-hourly schedule's three reports, about 0.5 GB.
MAX_SNAPSHOTS = 1200
# (panel title, its series) for each panel of the dashboard. Drift share is `DriftedColumnsCount`'s
# share value; the drift rule (`mindpulse.drift`) compares it with DRIFT_THRESHOLD.
PANELS = (
    (
        "Drift share",
        PanelMetric(
            legend="share of drifted features", metric="DriftedColumnsCount", metric_labels={"value_type": "share"}
        ),
    ),
    ("Accuracy", PanelMetric(legend="accuracy on labelled production rows", metric="Accuracy")),
)


def snapshot_id(kind: str, stamp: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"snapshot:{kind}:{stamp}"))


def add_snapshot(layout: Layout, kind: str, stamp: str, snapshot: Snapshot, model_version: str | None) -> bool:
    """Add the snapshot of a `kind` report of run `stamp` to the workspace, creating the project and its
    dashboard when missing. False, after one WARNING line, when the workspace cannot be written."""
    model = snapshot.to_snapshot_model()
    # Tags and metadata let the UI tell the kinds and runs apart (filters, snapshot list).
    model.name = f"{kind}_report_{stamp}"
    model.tags = sorted({*model.tags, kind})
    model.metadata = {**model.metadata, "run_stamp": stamp, "model_version": model_version or "none"}
    try:
        _write_if_changed(layout.evidently_project(PROJECT_ID), project_model().dict(), layout.reports_dir, indent=2)
        _write_if_changed(layout.evidently_dashboard(PROJECT_ID), dashboard_model().dict(), layout.reports_dir)
        snapshot_file = layout.evidently_snapshot(PROJECT_ID, snapshot_id(kind, stamp))
        atomic.write_text(snapshot_file, _dump(model.dict()), layout.reports_dir)
        _prune(snapshot_file.parent)
    except OSError as error:
        say(f"WARNING: Evidently workspace not updated, the report itself is complete: {describe_os_error(error)}")
        return False
    return True


def project_model() -> ProjectModel:
    return ProjectModel(id=PROJECT_ID, name=PROJECT_NAME, description=PROJECT_DESCRIPTION)


def dashboard_model() -> DashboardModel:
    panels = [
        line_plot_panel(title, [metric], size="half").copy(update={"id": uuid.uuid5(NAMESPACE, f"panel:{title}")})
        for title, metric in PANELS
    ]
    tab = DashboardTabModel(
        id=uuid.uuid5(NAMESPACE, f"tab:{DASHBOARD_TAB}"), title=DASHBOARD_TAB, panels=[p.id for p in panels]
    )
    return DashboardModel(tabs=[tab], panels=panels)


def _dump(document: object, indent: int | None = None) -> str:
    return json.dumps(document, cls=NumpyEncoder, indent=indent)


def _write_if_changed(path: Path, document: object, staging: Path, indent: int | None = None) -> None:
    """Leave an identical file alone: the UI's file watcher reloads on every change."""
    text = _dump(document, indent)
    try:
        if path.read_bytes() == text.encode("utf-8"):
            return
    except FileNotFoundError:
        pass
    atomic.write_text(path, text, staging)


def _prune(snapshots_dir: Path) -> None:
    """Delete all but the MAX_SNAPSHOTS newest snapshots. Newest by write time: a snapshot's id does not
    say which run it belongs to, and a retried run's snapshot is rightly the newest."""
    found = []
    for path in snapshots_dir.glob("*.json"):
        try:
            found.append((path.stat().st_mtime_ns, path))
        except FileNotFoundError:  # pruned by a parallel step meanwhile
            continue
    for _, path in sorted(found, reverse=True)[MAX_SNAPSHOTS:]:
        path.unlink(missing_ok=True)
