"""Both pipelines replayed by hand with `docker run` only, on throwaway volumes."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from mindpulse import catalog
from tests.images.docker_steps import READ_ONLY as RO
from tests.images.docker_steps import STEPS, Volumes, image
from tests.images.docker_steps import WRITABLE as RW

SKIPPED = 99
# The demo seeds the volumes, then every retrain step but detect_drift (undrifted traffic: it skips).
RETRAIN_RUN = (
    "bootstrap",
    "simulate_traffic",
    *(step.name for step in catalog.steps_of(catalog.RETRAIN) if step.name != "detect_drift"),
)
FAST_BOOTSTRAP = {"REFERENCE_ROWS": "20000", "SEED": "5"}


@pytest.mark.parametrize("step", STEPS)
def test_every_image_explains_itself(step: str) -> None:
    help_command = ["docker", "run", "--rm", "--network", "none", image(step), "--help"]
    done = subprocess.run(help_command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"usage: {step}" in done.stdout
    assert "Exit codes: 0 done, 99 nothing to do" in done.stdout


def test_every_image_runs_as_a_non_root_user() -> None:
    for step in STEPS:
        inspect = ["docker", "image", "inspect", "--format", "{{.Config.User}}", image(step)]
        user = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
        assert user not in ("", "root", "0"), f"{image(step)} runs as root"


@pytest.fixture(scope="module")
def replay(module_volumes: Volumes) -> dict[str, object]:
    """Bootstrap, 1500 production rows whose outcomes follow a new relation (so the new model is
    clearly better and the gate promotes it), then the seven retrain steps in DAG order."""
    v = module_volumes
    runs = {"bootstrap": v.run("bootstrap", FAST_BOOTSTRAP, data=RW, models=RW)}
    traffic = {"ROWS": "1500", "SEED": "11", "CONCEPT_SHIFT": "1.0"}
    runs["simulate_traffic"] = v.run("simulate_traffic", traffic, data=RW, models=RO)
    runs["prod_before"] = v.read("data", "prod_data.csv")
    runs["check_production_data"] = v.run("check_production_data", data=RO)
    runs["detect_drift"] = v.run("detect_drift", data=RO)
    runs["backup_current_model"] = v.run("backup_current_model", models=RW)
    runs["merge_production_data"] = v.run("merge_production_data", data=RW)
    runs["train_new_model"] = v.run("train_new_model", data=RW, models=RW)
    runs["archive_production_data"] = v.run("archive_production_data", data=RW)
    decided = (
        "check_production_data",
        "detect_drift",
        "merge_production_data",
        "train_new_model",
        "archive_production_data",
    )
    results = {name: runs[name].result if runs[name].code == 0 else None for name in decided}
    runs["notify_retrain_success"] = v.run(
        "notify_retrain_success", {"STEP_RESULTS": json.dumps(results)}, data=RO, models=RO, reports=RW
    )
    return runs


def test_replay_retrains_promotes_backs_up_and_archives(replay: dict, module_volumes: Volumes) -> None:
    v = module_volumes
    for step in RETRAIN_RUN:
        assert replay[step].code == 0, f"{step}: {replay[step].stderr}"
    assert replay["check_production_data"].result["retrain"] is True
    assert replay["detect_drift"].code == SKIPPED, "undrifted traffic must not count as drift"
    assert replay["backup_current_model"].result["version"] == "v0001"
    trained = replay["train_new_model"].result
    assert trained["version"] == "v0002" and trained["promoted"] is True, trained["reason"]
    assert trained["gate"]["evaluation_rows"] == 300

    assert v.shell("models", "readlink /models/current").strip() == "versions/v0002"
    metadata = json.loads(v.shell("models", "cat /models/versions/v0002/metadata.json"))
    assert metadata["image"] is None, "by hand no MINDPULSE_IMAGE is set; the DAG sets it"
    assert metadata["status"] == "promoted" and metadata["live_when_registered"] == "v0001"
    # The stdlib-only backup step checked v0001's signature; every version folder carries one.
    assert {"MLmodel", "input_example.json"} <= set(v.shell("models", "ls /models/versions/v0002").split())
    assert "metadata.json" in v.shell("models", "ls /models/backups/model_*")
    archived = v.shell("data", "cat /data/archive/prod_data_archived_*.csv").encode("latin-1")
    assert archived == replay["prod_before"]
    assert v.read("data", "prod_data.csv") == replay["prod_before"].split(b"\n", 1)[0] + b"\n"
    summary = json.loads(v.shell("reports", "cat /reports/retrain_summary_*.json"))
    assert summary["winner"]["version"] == "v0002" == summary["live_version"] and summary["promoted"] is True
    assert summary["reasons"] == ["1500 labelled rows >= threshold 1000"]
    assert summary["archived_rows"] == 1500
    assert "v0002" in replay["notify_retrain_success"].stdout


def test_rollback_makes_the_previous_version_live_and_logs_why(replay: dict, module_volumes: Volumes) -> None:
    v = module_volumes
    refused = v.run("rollback_model", models=RW)
    assert refused.code == 2 and "--reason (or REASON) is required" in refused.stderr

    rolled = v.run("rollback_model", {"REASON": "v0002 misreads new students", "REQUESTED_BY": "ana"}, models=RW)
    assert rolled.code == 0, rolled.stderr
    assert rolled.result | {"step": None} == {
        "step": None,
        "status": "success",
        "rolled_back": True,
        "version": "v0001",
        "previous": "v0002",
        "reason": "v0002 misreads new students",
    }
    assert v.shell("models", "readlink /models/current").strip() == "versions/v0001"
    audit = [json.loads(line) for line in v.shell("models", "cat /models/audit.jsonl").splitlines()]
    assert [(entry["event"], entry["version"], entry["by"]) for entry in audit] == [
        ("promoted", "v0001", "pipeline"),
        ("promoted", "v0002", "pipeline"),
        ("rolled_back", "v0001", "ana"),
    ]
    back = v.run("rollback_model", {"TO_VERSION": "v0002", "REASON": "false alarm"}, models=RW)
    assert back.code == 0 and back.result["version"] == "v0002", back.stderr
    assert v.shell("models", "readlink /models/current").strip() == "versions/v0002"


def test_verify_model_rebuilds_every_version_byte_identical_in_the_image(replay: dict, module_volumes: Volumes) -> None:
    """The README's `verify-model`: v0001 (the bootstrap's) after a retrain replaced the data files, and v0002 (the
    train_new_model image's), each from the rows it kept, with the models volume read-only."""
    v = module_volumes
    for version in ("v0001", "v0002"):
        verified = v.run("verify_model", {"VERSION": version}, models=RO)
        assert verified.code == 0, verified.stderr
        assert verified.result["identical"] == "bytes" and verified.result["libraries_differ"] == {}
    missing = v.run("verify_model", {"VERSION": "v0009"}, models=RO)
    assert missing.code == 1 and missing.stderr.strip() == "ERROR: /models/versions/v0009: no such model version"


def test_replay_reporting_writes_three_reports_and_the_index(replay: dict, module_volumes: Volumes) -> None:
    v = module_volumes
    assert v.run("simulate_traffic", {"ROWS": "400", "SEED": "12"}, data=RW, models=RO).code == 0
    stamp = {"RUN_STAMP": "20261127_060000"}
    availability = v.run("check_data_availability", data=RO, models=RO)
    assert availability.code == 0 and availability.result["production_rows"] == 400
    for step in ("generate_data_quality_report", "generate_data_drift_report", "generate_model_performance_report"):
        run = v.run(step, stamp, data=RO, models=RO, reports=RW)
        assert run.code == 0, f"{step}: {run.stderr}"
    assert v.run("cleanup_old_reports", reports=RW).code == 0
    summary = v.run("send_report_summary", stamp, data=RO, models=RO, reports=RW)
    assert summary.code == 0, summary.stderr
    assert summary.result["model_version"] == "v0002"

    files = set(v.shell("reports", "ls /reports").split())
    for kind in ("data_quality", "data_drift", "model_performance"):
        assert {f"{kind}_report_20261127_060000.html", f"{kind}_report_20261127_060000.json"} <= files
    assert {"index.html", "history.jsonl", "report_summary_20261127_060000.json"} <= files
    index = v.read("reports", "index.html").decode()
    assert "data_drift_report_20261127_060000.html" in index


def test_skip_path_changes_nothing(volumes: Volumes) -> None:
    assert volumes.run("bootstrap", FAST_BOOTSTRAP, data=RW, models=RW).code == 0
    assert volumes.run("simulate_traffic", {"ROWS": "200", "SEED": "13"}, data=RW, models=RO).code == 0
    before = volumes.shell("data", "sha256sum /data/* | sort") + volumes.shell("models", "sha256sum /models/current/*")

    check = volumes.run("check_production_data", data=RO)
    drift = volumes.run("detect_drift", data=RO)

    assert (check.code, drift.code) == (SKIPPED, SKIPPED)
    assert check.result == check.result | {"status": "skipped", "retrain": False, "labelled_rows": 200}
    assert drift.result["retrain"] is False
    after = volumes.shell("data", "sha256sum /data/* | sort") + volumes.shell("models", "sha256sum /models/current/*")
    assert after == before


def test_bad_production_data_fails_with_one_line_naming_the_row(volumes: Volumes) -> None:
    assert volumes.run("bootstrap", FAST_BOOTSTRAP, data=RW, models=RW).code == 0
    assert volumes.run("simulate_traffic", {"ROWS": "1200", "SEED": "14"}, data=RW, models=RO).code == 0
    bad_row = "2026-11-26T10:00:00+00:00,-3,Male,Arts,3.1,7.5,4,2.5,60,5,0,1"
    volumes.shell("data", f"printf '{bad_row}\\n' >> /data/prod_data.csv")

    # One bad row in 1201 would be quarantined; with no share to quarantine, it fails the file.
    merge = volumes.run("merge_production_data", {"MAX_QUARANTINE_SHARE": "0"}, data=RW)

    assert merge.code == 1
    assert merge.stderr.strip() == "ERROR: /data/prod_data.csv: line 1202: column Age value '-3' is outside [16, 60]"
    assert volumes.shell("data", "ls /data").split() == ["prod_data.csv", "prod_data.csv.lock", "reference_data.csv"]


def test_quoted_production_data_is_read_like_unquoted_data(volumes: Volumes) -> None:
    assert volumes.run("bootstrap", FAST_BOOTSTRAP, data=RW, models=RW).code == 0
    assert volumes.run("simulate_traffic", {"ROWS": "1200", "SEED": "15"}, data=RW, models=RO).code == 0
    plain = volumes.run("check_production_data", data=RO)
    # Quote every field, empty ones too, as a serving API writing with csv.QUOTE_ALL does; then one bad row.
    bad_row = '"2026-11-26T10:00:00+00:00","-3","Male","Arts","3.1","7.5","4","2.5","60","5","0","1"'
    quote_all = "sed -i 's/[^,]*/\"&\"/g' /data/prod_data.csv"
    volumes.shell("data", f"{quote_all} && printf '%s\\n' '{bad_row}' >> /data/prod_data.csv")
    assert volumes.read("data", "prod_data.csv").startswith(b'"timestamp","Age","Gender"')

    quoted = volumes.run("check_production_data", data=RO)
    merge = volumes.run("merge_production_data", {"RUN_STAMP": "20261127_000000"}, data=RW)

    assert (quoted.code, quoted.result["labelled_rows"]) == (plain.code, plain.result["labelled_rows"])
    assert quoted.result["quarantined_rows"] == 1
    assert merge.code == 0, merge.stderr
    assert merge.result["quarantined_rows"] == 1
    quarantine = volumes.read("data", "quarantine/prod_data_quarantined_20261127_000000.csv").decode()
    [(line, reason, text)] = list(csv.reader(io.StringIO(quarantine)))[1:]
    assert (line, reason, text) == ("1202", "column Age value '-3' is outside [16, 60]", bad_row)
