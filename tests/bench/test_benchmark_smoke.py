"""The benchmark's smoke mode end to end: tiny data, the built step images, real `docker run`s.

Needs a Docker engine and the images of ./build_images.sh. Run from the repository root:
    .venv/bin/python -m pytest tests/bench/test_benchmark_smoke.py
The full benchmark is not part of the tests (it takes about 15 minutes); this checks that every
section of it still runs and reports numbers.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
SECTIONS = (
    "## Targets",
    "## 1. Container overhead per step",
    "## 1b. Whole DAGs",
    "## 2. Image sizes",
    "## 3. Build times",
    "## 4. Scale",
    "## 5. Model quality",
    "## 6. Drift trustworthiness",
)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "benchmark.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return out


def test_json_holds_numbers_for_every_section(smoke_run: Path) -> None:
    results = json.loads((smoke_run / "benchmark.json").read_text())
    assert results["mode"] == "smoke"

    steps = results["overhead"]["steps"]
    assert set(steps) >= {"check_production_data", "detect_drift", "train_new_model", "archive_production_data"}
    for entry in steps.values():
        assert _number(entry["in_process_s"]) and _number(entry["container_s"]) and _number(entry["overhead_s"])
        # A container runs the same function plus Python's start and the imports: never faster by much.
        assert entry["container_s"] > entry["in_process_s"] - 0.5
    assert _number(results["overhead"]["parts"]["bare_container_s"])
    assert _number(results["overhead"]["median_net_of_imports_s"])
    imports = results["overhead"]["parts"]["imports"]
    assert imports["evidently"]["import_in_container_s"] > imports["base"]["import_in_container_s"]

    images = results["images"]
    assert images["python_base"]["size_bytes"] > 0
    assert {entry["family"] for entry in images["steps"].values()} == {"base", "pandas", "ml", "evidently"}
    # Layers shared by several images are counted once: the total is less than the sum of all image sizes.
    summed = sum(entry["size_bytes"] for entry in images["steps"].values())
    assert 0 < images["unique_total_bytes"] < summed
    assert images["airflow"]["ml_libraries"] == []

    assert _number(results["build"]["warm_rebuild"]["seconds"])
    for entry in next(iter(results["scale"].values()))["steps"].values():
        assert _number(entry["seconds"]) and entry["peak_mb"] > 10

    quality = results["quality"]
    assert 0.5 < quality["bayes_accuracy"] < 1
    assert set(quality["algorithms"]) == {"logistic_regression", "random_forest", "xgboost"}

    flags = results["drift"]["flag_rate"]
    assert set(flags) == {"0.0", "0.25", "0.5", "1.0"} and all(0 <= rate <= 1 for rate in flags.values())
    concept = results["concept_shift"]
    assert concept["accuracy_after_shift"] < concept["accuracy_before_shift"], "a full concept shift costs accuracy"
    assert all(_number(entry["accuracy"]) for entry in concept["retrain"].values())

    assert {target["met"] for target in results["targets"]} <= {True, False, None}
    assert len(results["targets"]) >= 10


def test_markdown_has_every_section_with_figures(smoke_run: Path) -> None:
    text = (smoke_run / "benchmark.md").read_text()
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions), "sections appear in order"
    bodies = [text[start:end] for start, end in zip(positions, [*positions[1:], len(text)], strict=True)]
    for heading, body in zip(SECTIONS, bodies, strict=True):
        if heading.startswith("## 1b"):
            assert "not run in smoke mode" in body
        else:
            assert re.search(r"\d+\.\d+", body), f"{heading} holds no figure"
    assert "| train_new_model | ml |" in text
