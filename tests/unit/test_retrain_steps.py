"""The retrain steps' logic, called in-process on small seeded data."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from mindpulse import demo, merge, monitoring, production, registry, schema, training
from mindpulse.paths import Layout
from mindpulse.step import NothingToDo, StepError


def simulate(layout: Layout, rows: int, seed: int = 1, **shift: float) -> None:
    demo.simulate_traffic(
        layout,
        rows,
        seed,
        shift.get("covariate", 0.0),
        shift.get("concept", 0.0),
        shift.get("unlabelled", 0.0),
    )


def test_enough_labelled_rows_trigger_a_retrain(seeded: Layout) -> None:
    simulate(seeded, 120, unlabelled=0.25)
    labelled = int(schema.load_production(seeded.production_data)[schema.ACTUAL].notna().sum())

    result = monitoring.check_production_data(seeded, threshold=labelled, force=False)
    assert result["retrain"] and result["labelled_rows"] == labelled and result["production_rows"] == 120

    with pytest.raises(NothingToDo) as skipped:
        monitoring.check_production_data(seeded, threshold=labelled + 1, force=False)
    assert skipped.value.result["retrain"] is False
    assert "< threshold" in skipped.value.result["reason"]


def test_force_retrains_without_data(seeded: Layout) -> None:
    assert monitoring.check_production_data(seeded, threshold=1000, force=True)["reason"] == "forced by the caller"


def test_drift_decision_follows_the_shift(seeded: Layout) -> None:
    simulate(seeded, 600, seed=2)
    with pytest.raises(NothingToDo) as calm:
        monitoring.detect_drift(seeded, threshold=0.3, min_rows=100, force=False)
    assert calm.value.result["drift_share"] <= 0.3

    simulate(seeded, 3000, seed=3, covariate=2.5)
    shifted = monitoring.detect_drift(seeded, threshold=0.3, min_rows=100, force=False)
    assert shifted["retrain"] and shifted["drift_share"] > 0.3
    assert "Sleep_Duration" in shifted["drifted_columns"]


def test_too_few_rows_are_not_judged_for_drift(seeded: Layout) -> None:
    simulate(seeded, 20)
    with pytest.raises(NothingToDo, match="too few"):
        monitoring.detect_drift(seeded, threshold=0.3, min_rows=100, force=False)


def test_merge_appends_labelled_rows_with_new_ids_and_records_consumption(seeded: Layout) -> None:
    simulate(seeded, 200, unlabelled=0.5)
    current = schema.load_production(seeded.production_data)
    labelled = schema.labelled(current)

    result = merge.merge_production_data(seeded, "20261126_120000")

    training_set = schema.load_reference(seeded.training_data)
    reference = schema.load_reference(seeded.reference_data)
    assert result["labelled_production_rows"] == len(labelled)
    assert len(training_set) == len(reference) + len(labelled) - result["duplicates_dropped"]
    added = training_set.iloc[len(reference) :]
    assert added[schema.ID].min() == reference[schema.ID].max() + 1
    assert added[schema.TARGET].tolist() == labelled[schema.ACTUAL].astype(int).tolist()
    manifest = production.Consumption.load(seeded)
    assert manifest.rows == 200 and manifest.consumed_bytes == seeded.production_data.stat().st_size


def test_merge_drops_production_rows_the_reference_already_holds(seeded: Layout) -> None:
    reference = schema.load_reference(seeded.reference_data)
    copied = reference.head(5).drop(columns=[schema.ID]).rename(columns={schema.TARGET: schema.ACTUAL})
    copied.insert(0, schema.TIMESTAMP, "2026-11-26T10:00:00+00:00")
    copied.insert(len(copied.columns) - 1, schema.PREDICTION, 0)
    lines = copied[list(schema.PRODUCTION_COLUMNS)].to_csv(index=False, header=False).encode()
    production.append_lines(seeded, schema.header_line(schema.PRODUCTION_COLUMNS), lines)

    assert merge.merge_production_data(seeded, "20261126_120000")["duplicates_dropped"] == 5


def test_bad_production_data_stops_the_merge_before_anything_is_written(seeded: Layout) -> None:
    simulate(seeded, 50)
    with open(seeded.production_data, "ab") as handle:
        handle.write(b"2026-11-26T10:00:00+00:00,-3,Male,Arts,3.1,7.5,4.0,2.5,60,5,0,1\n")

    with pytest.raises(StepError, match=r"prod_data.csv: line 52: column Age value '-3'"):
        merge.merge_production_data(seeded, "20261126_120000")
    assert not seeded.training_data.exists()
    assert not seeded.consumption_manifest.exists()


def test_training_promotes_the_best_candidate_and_makes_its_data_the_reference(seeded: Layout) -> None:
    simulate(seeded, 300)
    merge.merge_production_data(seeded, "20261126_120000")
    before = registry.current_metadata(seeded)

    result = training.train_and_promote(
        seeded, seeded.training_data, "f1", seed=1, test_size=0.25, provenance={"trained_by": "test"}
    )

    assert result["version"] == "v0002" == registry.current_version(seeded)
    best = max(result["candidates"].values(), key=lambda metrics: metrics["f1"])
    assert result["metrics"] == best
    metadata = registry.current_metadata(seeded)
    assert metadata["previous"] == {"version": "v0001", "metrics": before["metrics"]}
    assert set(metadata["candidates"]) == set(training.ALGORITHMS)
    assert metadata["training_rows"] == result["training_rows"]
    assert seeded.reference_data.read_bytes() == seeded.training_data.read_bytes()
    assert (seeded.versions_dir / "v0001" / "model.joblib").exists(), "old versions are kept"
    model = training.load_current_model(seeded)
    assert set(model.predict(schema.load_reference(seeded.reference_data)[list(schema.FEATURES)])) <= {0, 1}


def test_an_unknown_selection_metric_changes_nothing(seeded: Layout) -> None:
    merge.merge_production_data(seeded, "20261126_120000")
    with pytest.raises(StepError, match="selection metric 'speed'"):
        training.train_and_promote(seeded, seeded.training_data, "speed", 1, 0.2, {})
    assert registry.current_version(seeded) == "v0001"


def test_single_class_training_data_is_refused(seeded: Layout) -> None:
    frame = schema.load_reference(seeded.reference_data).head(300).assign(Depression=1)
    frame.to_csv(seeded.training_data, index=False)
    with pytest.raises(StepError, match="single class"):
        training.train_and_promote(seeded, seeded.training_data, "accuracy", 1, 0.2, {})


def test_a_tampered_model_is_refused(seeded: Layout) -> None:
    model_file = seeded.current_model.resolve()
    model_file.write_bytes(model_file.read_bytes()[:-10])
    with pytest.raises(StepError, match="checksum does not match"):
        training.load_current_model(seeded)
    with pytest.raises(StepError, match="checksum does not match"):
        registry.backup_current_model(seeded, "20261126_120000")
    assert not seeded.backups_dir.exists()


def test_backup_copies_model_and_metadata(seeded: Layout) -> None:
    result = registry.backup_current_model(seeded, "20261126_120000")
    backup = seeded.backups_dir / "model_20261126_120000"
    assert result == {"backed_up": True, "version": "v0001", "backup": str(backup)}
    assert (backup / "model.joblib").read_bytes() == seeded.current_model.read_bytes()
    assert json.loads((backup / "metadata.json").read_text())["version"] == "v0001"


def test_backup_without_a_model_is_a_no_op(layout: Layout) -> None:
    assert registry.backup_current_model(layout, "20261126_120000")["backed_up"] is False
    assert not layout.backups_dir.exists()


def test_promotion_switches_the_current_link_atomically(seeded: Layout) -> None:
    version = registry.promote(seeded, {"algorithm": "test"}, lambda path: path.write_bytes(b"model"))
    assert os.readlink(seeded.current_model_dir) == f"versions/{version}"
    assert [p.name for p in seeded.models_dir.iterdir() if p.name.startswith(".")] == []
    assert registry.current_metadata(seeded)["model_sha256"] == registry.file_sha256(seeded.current_model)


def test_bootstrap_prefers_the_kaggle_file_and_keeps_existing_data(layout: Layout) -> None:
    kaggle = demo.demo_data.generate_reference(500, seed=3)
    kaggle.to_csv(layout.kaggle_data, index=False)
    demo.bootstrap(layout, rows=10, seed=1, metric="accuracy")
    assert len(pd.read_csv(layout.reference_data)) == 500
    reference = layout.reference_data.read_bytes()

    assert demo.bootstrap(layout, rows=10, seed=1, metric="accuracy") == {
        "reference_data": "kept",
        "model": "kept v0001",
    }
    assert layout.reference_data.read_bytes() == reference
