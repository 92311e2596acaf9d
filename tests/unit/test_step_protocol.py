"""The step protocol when the system under a step fails (a full disk): one ERROR line naming the file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from mindpulse import atomic, step


def _full_disk(path: Path) -> None:
    path.write_bytes(b"half a file")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a failing write() raises it: no file name


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
    def body() -> dict:
        atomic.write_with(tmp_path / "model.joblib", _full_disk)
        return {}

    with pytest.raises(SystemExit) as exited:
        step.run("train_new_model", body)

    assert exited.value.code == step.FAILURE_EXIT_CODE
    captured = capsys.readouterr()
    assert captured.err == f"ERROR: {tmp_path / 'model.joblib'}: No space left on device\n"
    assert captured.out == ""


def test_an_os_error_without_a_file_is_still_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> dict:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(SystemExit):
        step.run("train_new_model", body)

    assert capsys.readouterr().err == "ERROR: No space left on device\n"
