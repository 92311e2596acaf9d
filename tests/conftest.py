"""Fixtures shared by every test layer: throwaway volume folders and small seeded data; and the fast lane."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse import signing
from mindpulse.paths import Layout

TESTS = Path(__file__).resolve().parent
# The tests that need no Docker engine, no image and no Airflow venv: pure logic, run in-process. Every other
# test is marked `docker`, so `pytest -m "not docker and not slow"` is the fast lane (README, "Running the tests").
NEEDS_NOTHING = (TESTS / "unit", TESTS / "bench" / "test_stats.py", TESTS / "bench" / "test_benchmark_report.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.path.is_relative_to(path) for path in NEEDS_NOTHING):
            item.add_marker(pytest.mark.docker)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """Empty folders laid out like the volumes, and a model-signing key pair in the trust and signing ones
    (as airflow-init leaves an install)."""
    folders = Layout.under(tmp_path)
    for folder in folders.volume_dirs.values():
        folder.mkdir()
    signing.ensure_keys(folders)
    return folders
