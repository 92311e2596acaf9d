"""bench/drift_power.py and bench/concept_shift.py in smoke mode (tiny data, no Docker), and the statistics
their figures rest on, against known values.

Run from the repository root: .venv/bin/python -m pytest tests/bench/test_ml_measurements_smoke.py
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import concept_shift, drift_power, stats

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Closed forms at the edges: (alpha/2)^(1/n).
        (0, 60, 0.0, 1 - 0.025 ** (1 / 60)),
        (60, 60, 0.025 ** (1 / 60), 1.0),
        # R: binom.test(5, 20)$conf.int
        (5, 20, 0.08657147, 0.49104587),
        (1, 10, 0.002528579, 0.445016117),
    ],
)
def test_clopper_pearson_matches_known_intervals(successes: int, trials: int, low: float, high: float) -> None:
    assert stats.clopper_pearson(successes, trials) == pytest.approx((low, high), abs=1e-7)


def test_sixty_trials_without_a_false_alarm_cannot_show_five_percent_but_seventy_five_can() -> None:
    assert stats.clopper_pearson(0, 60)[1] > 0.05 > stats.clopper_pearson(0, 75)[1]


def test_mean_interval_is_the_student_t_interval() -> None:
    interval = stats.mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert interval["mean"] == 2.0 and interval["sd"] == 1.0
    assert (interval["low"], interval["high"]) == pytest.approx((2.0 - half, 2.0 + half))
    with pytest.raises(ValueError):
        stats.mean_interval([1.0])


def run_smoke(module: str, out: Path) -> dict:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            f"bench.{module}",
            "--smoke",
            "--out",
            str(out),
            *(["--jobs", "1"] * (module == "drift_power")),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads((out / f"{module}.json").read_text())


def assert_provenance(results: dict) -> None:
    machine = results["provenance"]
    assert len(machine["git_revision"]) == 40 and isinstance(machine["git_dirty"], bool)
    assert machine["cores"] >= 1 and len(machine["load_average"]) == 3 and machine["date"].startswith("20")
    assert results["mode"] == "smoke"


def test_drift_power_smoke_counts_trials_and_renders_the_json(tmp_path: Path) -> None:
    results = run_smoke("drift_power", tmp_path)
    assert_provenance(results)
    for point in results["points"]:
        assert 0 <= point["flagged"] <= point["trials"] and point["low"] <= point["rate"] <= point["high"]
        checked = point["checked_against_measure_drift"]
        assert checked["windows"] >= 1 and checked["same"] == checked["windows"], "the fast path is the detector"
    assert {point["shift_sd"] for point in results["points"]} == {0.0, 0.35}
    assert results["columns_needed"] == 3, "more than 30% of 9 columns"

    # The Markdown is generated from the JSON: change a count there and the table changes with it.
    point = results["points"][0]
    point["flagged"], point["rate"] = 2, 2 / point["trials"]
    assert f"2/{point['trials']}" in drift_power.render(results)
    text = (tmp_path / "drift_power.md").read_text()
    assert "## Targets" in text and "## Where the detector is blind" in text and "at least 3 columns" in text


def test_concept_shift_smoke_reports_a_mean_and_interval_per_row_count(tmp_path: Path) -> None:
    results = run_smoke("concept_shift", tmp_path)
    assert_provenance(results)
    assert results["accuracy_after_shift"] < results["accuracy_before_shift"], "a full concept shift costs accuracy"
    assert set(results["retrain"]) == set(concept_shift.RULES)
    entry = results["retrain"]["one_standard_error"]["600"]
    shares = [run["recovered_share"] for run in entry["runs"]]
    assert len(shares) == results["seeds"] and entry["recovered_share"]["mean"] == pytest.approx(sum(shares) / 2)
    assert entry["recovered_share"]["low"] <= entry["recovered_share"]["mean"] <= entry["recovered_share"]["high"]
    assert concept_shift.render(results) == (tmp_path / "concept_shift.md").read_text()
