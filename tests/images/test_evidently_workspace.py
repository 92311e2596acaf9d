"""The report step images fill Evidently's workspace: two runs of the three report steps (and a retry)
with `docker run` on throwaway volumes, the workspace then read with Evidently's own Python API; and
a full workspace disk, which costs a warning and not the report."""

from __future__ import annotations

import subprocess

import pytest
from evidently.ui.workspace import Workspace

from mindpulse.paths import REPORT_KINDS, Layout
from mindpulse.reporting import evidently_workspace
from tests.images.docker_steps import TAG, Volumes

RO, RW = "ro", "rw"
REPORT_STEPS = {kind: f"generate_{kind}_report" for kind in REPORT_KINDS}
STAMPS = ("20261128_000000", "20261128_060000")
WORKSPACE = Layout.from_env().evidently_workspace  # where the steps see it: /reports/evidently_workspace


@pytest.fixture(scope="module")
def filled(module_volumes: Volumes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Reference data, a model and 400 labelled production rows; the three reports of two runs, then
    a retry of the second run's performance report; the workspace copied out to the host."""
    v = module_volumes
    assert v.run("bootstrap", {"REFERENCE_ROWS": "20000", "SEED": "5"}, data=RW, models=RW).code == 0
    assert v.run("simulate_traffic", {"ROWS": "400", "SEED": "12"}, data=RW, models=RO).code == 0
    runs = {}
    for stamp in STAMPS:
        for kind, step in REPORT_STEPS.items():
            runs[kind, stamp] = v.run(step, {"RUN_STAMP": stamp}, data=RO, models=RO, reports=RW)
    retry = v.run(REPORT_STEPS["model_performance"], {"RUN_STAMP": STAMPS[1]}, data=RO, models=RO, reports=RW)
    copy = tmp_path_factory.mktemp("workspace")
    container = subprocess.run(
        ["docker", "create", "--mount", v.mount("reports"), f"mindpulse/family-base:{TAG}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        subprocess.run(["docker", "cp", f"{container}:{WORKSPACE}", str(copy)], capture_output=True, check=True)
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True)
    return {"runs": runs, "retry": retry, "workspace": copy / WORKSPACE.name}


def test_two_runs_make_one_project_with_six_snapshots_and_its_dashboard(filled: dict) -> None:
    for (kind, stamp), run in [*filled["runs"].items(), (("retry", STAMPS[1]), filled["retry"])]:
        assert run.code == 0, f"{kind} {stamp}: {run.stderr}"
        assert "WARNING" not in run.stdout, run.stdout

    workspace = Workspace(str(filled["workspace"]))
    (project,) = workspace.list_projects()
    assert (str(project.id), project.name) == (evidently_workspace.PROJECT_ID, "MindPulse")
    snapshots = [workspace.get_run(project.id, snapshot) for snapshot in workspace.list_runs(project.id)]
    # The retry replaced its own snapshot: 3 kinds x 2 runs, not 7.
    assert sorted((snapshot.tags[0], snapshot.metadata["run_stamp"]) for snapshot in snapshots) == sorted(
        (kind, stamp) for kind in REPORT_KINDS for stamp in STAMPS
    )
    assert {snapshot.metadata["model_version"] for snapshot in snapshots} == {"v0001"}

    dashboard = workspace.get_dashboard(project.id)
    panels = {panel.title: [value.metric for value in panel.values] for panel in dashboard.panels}
    assert panels == {
        "Drift share": ["evidently:metric_v2:DriftedColumnsCount"],
        "Accuracy": ["evidently:metric_v2:Accuracy"],
    }
    assert [panel.plot_params["plot_type"] for panel in dashboard.panels] == ["line", "line"]
    (tab,) = dashboard.tabs
    assert tab.panels == [panel.id for panel in dashboard.panels]


def test_a_full_disk_costs_the_workspace_not_the_report(filled: dict, module_volumes: Volumes) -> None:
    """A reports disk with room for the report and its twin (the same step's HTML of the run before, plus
    40 kB), not for the snapshot (about 70 kB): the disk fills up while the workspace is written."""
    v = module_volumes
    html = f"/reports/model_performance_report_{STAMPS[1]}.html"
    room = int(v.shell("reports", f"stat -c %s {html}")) + 40 * 1024
    stamp = "20261128_120000"
    # Owned by the image's user (uid 10001), as a fresh volume is.
    full_disk = ("--tmpfs", f"/reports:size={room},uid=10001,gid=10001")
    run = v.run(REPORT_STEPS["model_performance"], {"RUN_STAMP": stamp}, data=RO, models=RO, options=full_disk)
    assert run.code == 0, run.stderr
    warnings = [line for line in run.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "No space left on device" in warnings[0], run.stdout
    assert f"{WORKSPACE}/{evidently_workspace.PROJECT_ID}/snapshots/" in warnings[0]
    # The result line comes after the twin is published: the report itself is complete.
    assert (run.result["stamp"], run.result["html"]) == (stamp, f"model_performance_report_{stamp}.html")
