"""The benchmark's one command in smoke mode (tiny data, one repeat) on the real engine and images, and its
refusals: a dirty tree, a smoke run over the published results.

Needs a Docker engine and the images of ./build_images.sh. The sections that need a second Airflow venv or
a cluster (dag_runs) are left to the full run; tests/dags checks the peer DAGs' shape.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from mindpulse import catalog

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
SMOKE_SECTIONS = ("overhead", "guard", "startup", "images", "quality", "drift_power", "concept_shift")


def benchmark(*arguments: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(cwd / "bench" / "benchmark.py"), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The throwaway volumes of harness.Volumes and of the startup section (a cluster has other names).
THROWAWAY_VOLUME = re.compile(r"mindpulse-bench-(startup-)?[0-9a-f]{8}-(data|models|reports)")


def throwaway_volumes() -> set[str]:
    listed = subprocess.run(["docker", "volume", "ls", "--quiet"], capture_output=True, text=True, check=True)
    return {name for name in listed.stdout.split() if THROWAWAY_VOLUME.fullmatch(name)}


@pytest.fixture(scope="module")
def volumes_before() -> set[str]:
    """A run killed with its engine (an ended session) cannot remove its volumes; they are not this run's."""
    return throwaway_volumes()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, volumes_before: set[str]) -> Path:
    out = tmp_path_factory.mktemp("bench")
    completed = benchmark("--smoke", "--allow-dirty", "--out", str(out), "--sections", ",".join(SMOKE_SECTIONS))
    assert completed.returncode == 0, completed.stderr[-4000:]
    return out


def section(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / "benchmark.json").read_text())["sections"][name]


def test_every_section_records_its_revision_machine_and_load(smoke: Path) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    for name in SMOKE_SECTIONS:
        entry = section(smoke, name)
        origin = entry["provenance"]
        assert origin["git_revision"] == head and isinstance(origin["git_dirty"], bool)
        assert origin["cores"] >= 1 and origin["memory_bytes"] > 2**30 and len(origin["load_average"]) == 3
        assert len(entry["load_average_end"]) == 3 and entry["mode"] == "smoke" and entry["seconds"] > 0
        assert all(set(target) == {"target", "measured", "met"} for target in entry["targets"])


def test_the_guard_is_timed_on_the_same_step_both_ways_in_pairs(smoke: Path) -> None:
    result = section(smoke, "guard")["result"]
    direct, guarded, added = (result[key]["samples"] for key in ("direct_s", "guard_s", "added_s"))
    assert len(direct) == len(guarded) == len(added) >= 2
    assert added == pytest.approx([through - straight for straight, through in zip(direct, guarded, strict=True)])
    assert all(seconds > 0 for seconds in direct + guarded)


def test_overhead_is_measured_per_step_and_grouped_like_its_targets(smoke: Path) -> None:
    result = section(smoke, "overhead")["result"]
    steps = result["steps"]
    assert {"check_production_data", "detect_drift", "train_new_model", "archive_production_data"} <= set(steps)
    for entry in steps.values():
        for figure in ("in_process_s", "container_s", "overhead_s"):
            assert entry[figure]["n"] == 1 and number(entry[figure]["median"])
        # A container runs the same function plus Python's start and the imports: never faster by much.
        assert entry["container_s"]["median"] > entry["in_process_s"]["median"] - 0.5
    assert steps["detect_drift"]["group"] == "evidently" and steps["train_new_model"]["group"] == "base/pandas/ml"
    assert set(result["group_median_overhead_s"]) == {"evidently", "base/pandas/ml"}


def test_startup_times_every_family_and_profiles_where_the_import_goes(smoke: Path) -> None:
    result = section(smoke, "startup")["result"]

    def figure(entry: dict[str, float]) -> bool:
        return entry["n"] == 1 and all(math.isfinite(entry[key]) and entry[key] > 0 for key in ("median", "min", "max"))

    assert figure(result["noop_s"]) and list(result["families"]) == list(catalog.FAMILIES)
    for family, entry in result["families"].items():
        for name in ("startup_s", "python_s", "import_s", "import_cpu_s", "exit_s"):
            assert figure(entry[name]), (family, name)
        assert sorted(entry["steps"]) == sorted(step.name for step in catalog.STEPS if step.family == family)
        assert entry["top_modules"] and entry["self_s_by_package"], family
    assert "libraries_import_s" not in result["families"]["base"], "the base family adds no library"
    evidently = result["families"]["evidently"]
    assert figure(evidently["libraries_import_s"]) and figure(evidently["libraries_import_cpu_s"])
    assert "evidently" in {row["module"] for row in evidently["top_modules"]}
    # The subpackage breakdown is of the package with the most self time; which one that is (evidently or
    # scipy) is a timing, and a single smoke repeat on a busy machine may rank them either way.
    largest = next(iter(evidently["self_s_by_package"]))
    assert "evidently" in evidently["self_s_by_package"]
    assert evidently["self_s_by_subpackage"]
    assert all(name.startswith(f"{largest}.") for name in evidently["self_s_by_subpackage"])


def test_the_runs_leave_no_volume_behind(smoke: Path, volumes_before: set[str]) -> None:
    assert not sorted(throwaway_volumes() - volumes_before)


def test_images_are_sized_per_layer_and_named_against_the_fat_image_of_their_locks(smoke: Path) -> None:
    result = section(smoke, "images")["result"]
    assert {entry["family"] for entry in result["steps"].values()} == {"base", "pandas", "ml", "evidently"}
    # Layers shared by several images are counted once: the total is less than the sum of all image sizes.
    assert 0 < result["ours_total_bytes"] < sum(entry["size_bytes"] for entry in result["steps"].values())
    assert result["airflow"]["ml_libraries"] == []
    # Built by a full run only (minutes of installs); a smoke run compares with it when it exists.
    fat = result["fat"]
    assert fat["image"].startswith("mindpulse-bench/fat:")
    if fat["present"]:
        assert fat["size_bytes"] > result["families"]["evidently"]["size_bytes"]
    else:
        assert "size_bytes" not in fat
    assert number(result["warm_rebuild_s"]["median"])


def test_quality_drift_and_concept_shift_hold_their_figures(smoke: Path) -> None:
    quality = section(smoke, "quality")["result"]
    assert 0.5 < quality["bayes_accuracy"] < 1
    assert set(quality["algorithms"]) == {"logistic_regression", "random_forest", "xgboost"}
    drift = section(smoke, "drift_power")["result"]
    for point in drift["points"]:
        assert 0 <= point["flagged"] <= point["trials"] and point["low"] <= point["rate"] <= point["high"]
        checked = point["checked_against_measure_drift"]
        assert checked["windows"] >= 1 and checked["same"] == checked["windows"], "the fast path is the detector"
    concept = section(smoke, "concept_shift")["result"]
    assert concept["accuracy_after_shift"] < concept["accuracy_before_shift"], "a full concept shift costs accuracy"


def test_the_markdown_is_the_rendering_of_the_json(smoke: Path) -> None:
    document = json.loads((smoke / "benchmark.json").read_text())
    text = (smoke / "benchmark.md").read_text()
    assert text == report.markdown(document)
    assert "## 1. Container overhead per step" in text and "| train_new_model | ml |" in text
    for family in catalog.FAMILIES:
        assert f"\n| {family} | " in text and f"### {family}: where the import time goes" in text
    assert "mode smoke" in text
    # The run wrote its figures beside it: the overhead chart, a bar per step.
    figure = (smoke / "overhead.svg").read_text()
    measured = document["sections"]["overhead"]["result"]["steps"]
    assert (
        "](overhead.svg)" in text and figure.count("<rect") > len(measured) and all(step in figure for step in measured)
    )


def test_a_partial_run_replaces_only_its_sections(smoke: Path, tmp_path: Path) -> None:
    shutil.copy(smoke / "benchmark.json", tmp_path / "benchmark.json")
    before = json.loads((tmp_path / "benchmark.json").read_text())["sections"]
    completed = benchmark("--smoke", "--allow-dirty", "--out", str(tmp_path), "--sections", "quality")
    assert completed.returncode == 0, completed.stderr[-4000:]
    after = json.loads((tmp_path / "benchmark.json").read_text())["sections"]
    assert set(after) == set(before)
    assert after["quality"]["provenance"]["date"] >= before["quality"]["provenance"]["date"]
    assert after["quality"]["seconds"] != before["quality"]["seconds"], "the quality section was measured again"
    assert all(after[name] == before[name] for name in before if name != "quality")


def test_a_dirty_tree_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (clone / "bench" / "uncommitted.py").write_text("# not committed\n")
    out = tmp_path / "out"
    completed = benchmark("--smoke", "--out", str(out), "--sections", "quality", cwd=clone)
    assert completed.returncode == 2
    assert completed.stderr.startswith("ERROR: uncommitted changes") and "bench/uncommitted.py" in completed.stderr
    assert not out.exists()


def test_the_files_a_run_renders_do_not_make_the_tree_dirty(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    for rendered in ("README.md", "bench/README.md", "bench/results/benchmark.md"):
        with open(clone / rendered, "a") as handle:
            handle.write("\nrendered by an earlier section\n")
    out = tmp_path / "out"
    completed = benchmark("--smoke", "--out", str(out), "--sections", "quality", cwd=clone)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert section(out, "quality")["provenance"]["git_dirty"] is False


def test_a_smoke_run_never_replaces_the_published_results() -> None:
    completed = benchmark("--smoke", "--allow-dirty", "--sections", "quality")
    assert completed.returncode == 2 and "give --out DIR" in completed.stderr
