from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mindpulse.demo import tools
from mindpulse.paths import Layout

SEEDED_ROWS = 3000


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """Reference data and a first model, made once per session; tests get copies."""
    root = tmp_path_factory.mktemp("seeded")
    template = Layout.under(root)
    template.reports_dir.mkdir(parents=True)
    tools.bootstrap(template, reference_rows=SEEDED_ROWS, seed=7, selection_metric="accuracy")
    return template


@pytest.fixture
def seeded(seeded_template: Layout, tmp_path: Path) -> Layout:
    """A layout with 3000 reference rows, model v0001 live and the key pair it is signed with, private to the test."""
    copy = Layout.under(tmp_path)
    for volume, source in seeded_template.volume_dirs.items():
        shutil.copytree(source, copy.volume_dirs[volume], symlinks=True)
    return copy
