from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mindpulse import demo
from mindpulse.paths import Layout

SEEDED_ROWS = 3000


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """Reference data and a first model, made once per session; tests get copies."""
    root = tmp_path_factory.mktemp("seeded")
    template = Layout(root / "data", root / "models", root / "reports")
    template.reports_dir.mkdir(parents=True)
    demo.bootstrap(template, reference_rows=SEEDED_ROWS, seed=7, selection_metric="accuracy")
    return template


@pytest.fixture
def seeded(seeded_template: Layout, tmp_path: Path) -> Layout:
    """A layout with 3000 reference rows and model v0001 live, private to the test."""
    copy = Layout(tmp_path / "data", tmp_path / "models", tmp_path / "reports")
    for source, target in zip(
        (seeded_template.data_dir, seeded_template.models_dir, seeded_template.reports_dir),
        (copy.data_dir, copy.models_dir, copy.reports_dir),
        strict=True,
    ):
        shutil.copytree(source, target, symlinks=True)
    return copy
