"""Fixtures shared by every test layer: throwaway volume folders and small seeded data."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse.paths import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """Empty data, models and reports folders, laid out like the three volumes."""
    folders = Layout(tmp_path / "data", tmp_path / "models", tmp_path / "reports")
    for folder in (folders.data_dir, folders.models_dir, folders.reports_dir):
        folder.mkdir()
    return folders
