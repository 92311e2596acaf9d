"""Fixtures shared by every test layer: throwaway volume folders and small seeded data."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse import signing
from mindpulse.paths import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """Empty folders laid out like the volumes, and a model-signing key pair in the trust and signing ones
    (as airflow-init leaves an install)."""
    folders = Layout.under(tmp_path)
    for folder in folders.volume_dirs.values():
        folder.mkdir()
    signing.ensure_keys(folders)
    return folders
