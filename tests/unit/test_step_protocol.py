"""The step protocol: the last stdout line is the step's typed result as JSON, exit 0 / 99 / 1, and when the
system under a step fails (a full disk) one ERROR line naming the file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from mindpulse import atomic, protocol, results
from mindpulse.paths import DIR_ENVS, SUMMARY_FILE, Layout


def _full_disk(path: Path) -> None:
    path.write_bytes(b"half a file")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a failing write() raises it: no file name


def last_line(out: str) -> dict:
    return json.loads(out.splitlines()[-1])


# --- results ------------------------------------------------------------------------------------------


def test_a_result_is_printed_as_its_fields_after_step_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    result = results.Backup(backed_up=True, version="v0001", backup="/models/backups/model_20261126_120000")

    def body() -> results.Result:
        protocol.say("progress first")
        return result

    with pytest.raises(SystemExit) as exited:
        protocol.run("backup_current_model", body)

    assert exited.value.code == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "progress first"
    printed = last_line(captured.out)
    assert printed == {"step": "backup_current_model", "status": "success", **result.as_dict()}
    assert list(printed)[:2] == ["step", "status"]
    assert results.Backup.read(printed) == result, "a reader gets the same result back from the JSON line"
    assert captured.err == ""


def test_nested_results_and_non_json_values_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    delivery = results.Delivery(
        summary_file="/reports/report_summary_20261126_120000.json", webhook="sent", http_status=200
    )
    summary = results.ReportSummary(
        stamp="20261126_120000",
        created_at="2026-11-26T12:00:00+00:00",
        drift_share=0.25,
        drift_detected=False,
        accuracy=None,
        model_version="v0001",
        reports={"data_drift": "data_drift_report_20261126_120000.html"},
        index=str(Path("/reports/index.html")),
        delivery=delivery,
    )

    with pytest.raises(SystemExit):
        protocol.run("send_report_summary", lambda: summary)

    printed = last_line(capsys.readouterr().out)
    assert printed["delivery"] == {
        "summary_file": delivery.summary_file,
        "webhook": "sent",
        "http_status": 200,
        "error": None,
    }
    assert printed["accuracy"] is None and printed["drift_share"] == 0.25


def test_nothing_to_do_exits_99_with_its_result(capsys: pytest.CaptureFixture[str]) -> None:
    skipped = results.ReportSkipped("20 production rows < 100: no drift report", 20, 5)

    def body() -> results.Result:
        raise protocol.NothingToDo(skipped)

    with pytest.raises(SystemExit) as exited:
        protocol.run("generate_data_drift_report", body)

    assert exited.value.code == protocol.SKIP_EXIT_CODE == 99
    assert last_line(capsys.readouterr().out) == {
        "step": "generate_data_drift_report",
        "status": "skipped",
        "reason": "20 production rows < 100: no drift report",
        "production_rows": 20,
        "labelled_rows": 5,
    }


def test_nothing_to_do_says_its_reason() -> None:
    assert str(protocol.NothingToDo(results.ReportSkipped("too few rows"))) == "too few rows"
    assert str(protocol.NothingToDo(results.Cleanup(max_reports=1, kept={}, deleted={}))) == "nothing to do"


def test_a_step_error_is_one_line_and_no_result(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> results.Result:
        raise protocol.StepError("/data/prod_data.csv: line 3: column Age value '-3' is outside [16, 60]")

    with pytest.raises(SystemExit) as exited:
        protocol.run("check_production_data", body)

    assert exited.value.code == protocol.FAILURE_EXIT_CODE == 1
    captured = capsys.readouterr()
    assert captured.err == "ERROR: /data/prod_data.csv: line 3: column Age value '-3' is outside [16, 60]\n"
    assert captured.out == ""


# --- system failures ----------------------------------------------------------------------------------


def test_a_full_disk_during_an_atomic_write_names_the_file_and_leaves_the_old_one(tmp_path: Path) -> None:
    final = tmp_path / "reference_data.csv"
    final.write_bytes(b"old\n")

    with pytest.raises(OSError) as raised:
        atomic.write_with(final, _full_disk)

    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(final)
    assert final.read_bytes() == b"old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reference_data.csv"]


def test_an_os_error_ends_a_step_with_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> results.Result:
        atomic.write_with(tmp_path / "model.joblib", _full_disk)
        return results.Cleanup(max_reports=1, kept={}, deleted={})

    with pytest.raises(SystemExit) as exited:
        protocol.run("train_new_model", body)

    assert exited.value.code == protocol.FAILURE_EXIT_CODE
    captured = capsys.readouterr()
    assert captured.err == f"ERROR: {tmp_path / 'model.joblib'}: No space left on device\n"
    assert captured.out == ""


def test_an_os_error_without_a_file_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> results.Result:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SystemExit):
        protocol.run("train_new_model", body)

    assert capsys.readouterr().err == "ERROR: No space left on device\n"


def test_an_os_error_with_two_files_names_both() -> None:
    error = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "/data/a.tmp", None, "/reports/a")
    assert protocol.describe_os_error(error) == f"/data/a.tmp -> /reports/a: {os.strerror(errno.EXDEV)}"


# --- main: from the declaration to the result line ----------------------------------------------------


def test_main_calls_the_declared_function_with_the_parsed_flags(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for volume, folder in layout.volume_dirs.items():
        monkeypatch.setenv(DIR_ENVS[volume], str(folder))
    monkeypatch.delenv("MAX_REPORTS", raising=False)
    for stamp in ("20260101_000000", "20260102_000000"):
        layout.report_file("data_drift", stamp, "html").write_text("report")

    with pytest.raises(SystemExit) as exited:
        protocol.main("cleanup_old_reports", ["--max-reports", "1"])

    assert exited.value.code == 0
    assert last_line(capsys.readouterr().out) == {
        "step": "cleanup_old_reports",
        "status": "success",
        "max_reports": 1,
        "kept": {"data_quality": 0, "data_drift": 1, "model_performance": 0},
        "deleted": {"data_quality": 0, "data_drift": 1, "model_performance": 0},
    }
    assert [path.name for path in layout.reports_dir.iterdir()] == ["data_drift_report_20260102_000000.html"]


def test_main_refuses_a_flag_outside_its_bounds_before_any_work(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MINDPULSE_REPORTS_DIR", str(layout.reports_dir))
    layout.report_file("data_drift", "20260101_000000", "html").write_text("report")

    with pytest.raises(SystemExit) as exited:
        protocol.main("cleanup_old_reports", ["--max-reports", "0"])

    assert exited.value.code == 2  # argparse's usage error
    assert "max_reports must be at least 1, got 0" in capsys.readouterr().err
    assert layout.report_file("data_drift", "20260101_000000", "html").exists()


def test_a_step_run_by_hand_without_a_stamp_stamps_its_files_with_the_time_now(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for volume, folder in layout.volume_dirs.items():
        monkeypatch.setenv(DIR_ENVS[volume], str(folder))
    for name in ("RUN_STAMP", "STEP_RESULTS", "WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(SystemExit) as exited:
        protocol.main("notify_retrain_success", [])

    assert exited.value.code == 0
    written = Path(last_line(capsys.readouterr().out)["summary_file"])
    assert SUMMARY_FILE.fullmatch(written.name), written.name
