"""The retrain steps' logic, called in-process on small seeded data."""

from __future__ import annotations

import csv
import io
import json
import os

import pandas as pd
import pytest

from mindpulse import audit, catalog, datasets, production, registry, results, schema, signing
from mindpulse.demo import synthetic, tools
from mindpulse.paths import Layout
from mindpulse.protocol import NothingToDo, StepError
from mindpulse.retrain import fit, merge, model_file, training, triggers

STAMP = "20261126_120000"


def declared_defaults(step_name: str) -> dict[str, object]:
    """The parameters a step gets when nobody sets them: its declared defaults."""
    return {parameter.name: parameter.default for parameter in catalog.step(step_name).parameters}


def simulate(layout: Layout, rows: int, seed: int = 1, **shift: float) -> None:
    tools.simulate_traffic(
        layout,
        rows=rows,
        covariate_shift=shift.get("covariate", 0.0),
        concept_shift=shift.get("concept", 0.0),
        unlabelled_share=shift.get("unlabelled", 0.0),
        seed=seed,
    )


def merge_data(layout: Layout, run_stamp: str = STAMP, **overrides: object) -> results.Merge:
    """merge_production_data as the step runs it: its declared defaults, then `overrides`."""
    settings = {**declared_defaults("merge_production_data"), "run_stamp": run_stamp, **overrides}
    return merge.merge_production_data(layout, **settings)


def test_enough_labelled_rows_trigger_a_retrain(seeded: Layout) -> None:
    simulate(seeded, 120, unlabelled=0.25)
    labelled = int(schema.load_production(seeded.production_data)[schema.ACTUAL].notna().sum())

    result = triggers.check_production_data(seeded, retrain_threshold=labelled, force=False)
    assert isinstance(result, results.LabelCheck)
    assert result.retrain and result.labelled_rows == labelled and result.production_rows == 120
    assert result.retrain_threshold == labelled and result.quarantined_rows == 0

    with pytest.raises(NothingToDo) as skipped:
        triggers.check_production_data(seeded, retrain_threshold=labelled + 1, force=False)
    assert isinstance(skipped.value.result, results.LabelCheck)
    assert skipped.value.result.retrain is False
    assert "< threshold" in skipped.value.result.reason


def test_force_retrains_without_data(seeded: Layout) -> None:
    result = triggers.check_production_data(seeded, retrain_threshold=1000, force=True)
    assert result.reason == "forced by the caller" and result.retrain and result.force
    assert result.production_rows == 0


def test_drift_decision_follows_the_shift(seeded: Layout) -> None:
    simulate(seeded, 600, seed=2)
    with pytest.raises(NothingToDo) as calm:
        triggers.detect_drift(seeded, drift_threshold=0.3, min_drift_rows=100, force=False)
    assert isinstance(calm.value.result, results.DriftCheck)
    assert calm.value.result.drift_share <= 0.3 and calm.value.result.drift_detected is False

    simulate(seeded, 3000, seed=3, covariate=2.5)
    shifted = triggers.detect_drift(seeded, drift_threshold=0.3, min_drift_rows=100, force=False)
    assert shifted.retrain and shifted.drift_share > 0.3 and shifted.drift_detected
    assert shifted.drift_threshold == 0.3 and shifted.min_drift_rows == 100
    assert "Sleep_Duration" in shifted.drifted_columns
    assert set(shifted.columns) == set(schema.FEATURES)


def test_too_few_rows_are_not_judged_for_drift(seeded: Layout) -> None:
    simulate(seeded, 20)
    with pytest.raises(NothingToDo, match="too few") as skipped:
        triggers.detect_drift(seeded, drift_threshold=0.3, min_drift_rows=100, force=False)
    assert skipped.value.result.drift_share is None and skipped.value.result.production_rows == 20

    forced = triggers.detect_drift(seeded, drift_threshold=0.3, min_drift_rows=100, force=True)
    assert forced.retrain and forced.reason.startswith("forced by the caller") and forced.drift_share is None


def test_merge_appends_labelled_rows_with_new_ids_and_records_consumption(seeded: Layout) -> None:
    simulate(seeded, 200, unlabelled=0.5)
    current = schema.load_production(seeded.production_data)
    labelled = schema.labelled(current)

    result = merge_data(seeded)

    training_set = schema.load_reference(seeded.training_data)
    reference = schema.load_reference(seeded.reference_data)
    assert isinstance(result, results.Merge)
    assert result.labelled_rows == len(labelled)
    trained_on = len(labelled) - result.evaluation_rows
    assert len(training_set) == len(reference) + trained_on - result.duplicates_dropped == result.training_rows
    added = training_set.iloc[len(reference) :]
    assert added[schema.ID].min() == reference[schema.ID].max() + 1
    assert added[schema.TARGET].tolist() == labelled[schema.ACTUAL].astype(int).tolist()[:trained_on]
    manifest = production.Consumption.load(seeded)
    assert manifest.rows == 200 and manifest.consumed_bytes == seeded.production_data.stat().st_size


def test_merge_drops_production_rows_the_reference_already_holds(seeded: Layout) -> None:
    reference = schema.load_reference(seeded.reference_data)
    copied = reference.head(5).drop(columns=[schema.ID]).rename(columns={schema.TARGET: schema.ACTUAL})
    copied.insert(0, schema.TIMESTAMP, "2026-11-26T10:00:00+00:00")
    copied.insert(len(copied.columns) - 1, schema.PREDICTION, 0)
    lines = copied[list(schema.PRODUCTION_COLUMNS)].to_csv(index=False, header=False).encode()
    production.append_lines(seeded, schema.header_line(schema.PRODUCTION_COLUMNS), lines)

    merged = merge_data(seeded, evaluation_share=0.0)
    assert merged.duplicates_dropped == 5


def test_bad_production_data_stops_the_merge_before_anything_is_written(seeded: Layout) -> None:
    simulate(seeded, 50)
    with open(seeded.production_data, "ab") as handle:
        handle.write(b"2026-11-26T10:00:00+00:00,-3,Male,Arts,3.1,7.5,4.0,2.5,60,5,0,1\n")

    with pytest.raises(StepError, match=r"prod_data.csv: line 52: column Age value '-3'"):
        merge_data(seeded)
    assert not seeded.training_data.exists()
    assert not seeded.consumption_manifest.exists()


BAD_AGE = b"2026-11-26T10:00:00+00:00,-3,Male,Arts,3.1,7.5,4.0,2.5,60,5,0,1\n"
BAD_DEPARTMENT = b"2026-11-26T10:00:00+00:00,21,Male,Law,3.1,7.5,4.0,2.5,60,5,0,1\n"


def insert_bad_lines(layout: Layout) -> bytes:
    """Lines 3 and 250 of a 300-row prod_data.csv made bad: 2 of 302 rows, within the 1% quarantine share."""
    lines = layout.production_data.read_bytes().splitlines(keepends=True)
    lines.insert(2, BAD_AGE)
    lines.insert(249, BAD_DEPARTMENT)
    layout.production_data.write_bytes(b"".join(lines))
    return b"".join(lines)


def test_merge_quarantines_a_few_bad_rows_and_still_consumes_every_byte(seeded: Layout) -> None:
    simulate(seeded, 300, unlabelled=0.2)
    good = schema.load_production(seeded.production_data)
    raw = insert_bad_lines(seeded)

    result = merge_data(seeded)

    quarantine = seeded.quarantine_file("20261126_120000")
    assert result.quarantined_rows == 2 and result.quarantine_file == str(quarantine)
    assert result.production_rows == 300 and result.labelled_rows == len(schema.labelled(good))
    listed = list(csv.reader(io.StringIO(quarantine.read_text())))
    assert listed == [
        ["line_number", "reason", "original_line"],
        ["3", "column Age value '-3' is outside [16, 60]", BAD_AGE.decode().rstrip("\n")],
        ["250", "column Department value 'Law' is not one of Arts, Business, Engineering, Medical, Science",
         BAD_DEPARTMENT.decode().rstrip("\n")],
    ]  # fmt: skip
    # Every byte is consumed, so the archive holds every line, the bad ones included.
    manifest = production.Consumption.load(seeded)
    assert (manifest.consumed_bytes, manifest.rows) == (len(raw), 302)
    archived = production.archive_production_data(seeded)
    assert seeded.archive_file("20261126_120000").read_bytes() == raw
    assert isinstance(archived, results.Archive)
    assert archived.archived_rows == 302


def test_a_later_merge_replaces_the_quarantine_file_of_a_merge_never_archived(seeded: Layout) -> None:
    simulate(seeded, 300)
    insert_bad_lines(seeded)
    merge_data(seeded)
    # That run failed after the merge: its rows stay in prod_data.csv and the next run lists them again.
    merge_data(seeded, "20261127_120000")
    assert list(seeded.quarantine_dir.iterdir()) == [seeded.quarantine_file("20261127_120000")]


def test_the_read_only_steps_count_quarantined_rows_alike(seeded: Layout) -> None:
    simulate(seeded, 300, unlabelled=0.5)
    insert_bad_lines(seeded)
    labelled = len(schema.labelled(schema.parse_production_rows(seeded.production_data.read_bytes(), "p", 0.01).rows))
    counts = {"production_rows": 300, "labelled_rows": labelled, "quarantined_rows": 2}

    checked = triggers.check_production_data(seeded, retrain_threshold=1, force=False)
    with pytest.raises(NothingToDo) as too_few:
        triggers.detect_drift(seeded, drift_threshold=0.3, min_drift_rows=1000, force=False)
    available = datasets.check_data_availability(seeded)
    for result in (checked, too_few.value.result, available):
        assert {key: result.as_dict()[key] for key in counts} == counts
    assert available.production_available and available.model_version == "v0001"
    assert not seeded.quarantine_dir.exists(), "only the merge writes the quarantine file"


def test_too_many_bad_rows_fail_every_step_that_reads_production_data(seeded: Layout) -> None:
    simulate(seeded, 100)
    insert_bad_lines(seeded)  # 2 of 102 rows: 2%
    for run in (
        lambda: triggers.check_production_data(seeded, retrain_threshold=1, force=False),
        lambda: triggers.detect_drift(seeded, drift_threshold=0.3, min_drift_rows=1, force=False),
        lambda: merge_data(seeded),
        lambda: datasets.check_data_availability(seeded),
    ):
        with pytest.raises(StepError, match=r"prod_data.csv: line 3: column Age value '-3' .*\(2 of 102 rows are bad"):
            run()
    assert not seeded.quarantine_dir.exists() and not seeded.consumption_manifest.exists()


def train(layout: Layout, **overrides: object) -> results.Training:
    """train_new_model as the step runs it: its declared defaults, then `overrides`."""
    return training.train_new_model(layout, **{**declared_defaults("train_new_model"), **overrides})


def test_past_the_cap_training_gets_exactly_the_newest_rows_and_nothing_is_lost(seeded: Layout) -> None:
    simulate(seeded, 1500)
    reference = schema.load_reference(seeded.reference_data)
    uncapped = merge_data(seeded, run_stamp="20261201T000000Z", max_training_rows=10_000_000)
    everything = schema.load_reference(seeded.training_data)
    seeded.consumption_manifest.unlink()
    cap = len(reference) // 2 + 1000
    assert uncapped.training_rows > cap, "the fault must land: more rows than the cap"

    result = merge_data(seeded, max_training_rows=cap)

    training_set = schema.load_reference(seeded.training_data)
    assert result.training_rows == len(training_set) == cap
    assert result.left_out_by_cap == uncapped.training_rows - cap
    # The newest rows, in order: the reference's youngest half and every production row past the held-out ones.
    assert training_set.equals(everything.tail(cap).reset_index(drop=True))
    assert training_set[schema.ID].iloc[-1] == everything[schema.ID].iloc[-1]
    assert set(training_set[schema.ID]) <= set(everything[schema.ID])
    # Nothing is lost: the reference is untouched and the consumed production bytes are recorded to be archived.
    assert schema.load_reference(seeded.reference_data).equals(reference)
    assert production.Consumption.load(seeded).rows == 1500


def test_a_row_that_arrives_again_is_kept_where_it_last_arrived_so_the_cap_keeps_it(seeded: Layout) -> None:
    """A production row repeating the reference's oldest row (same features and outcome): the copy kept is the newest,
    so the cap that cuts the reference's start still trains on it."""
    simulate(seeded, 300, unlabelled=0)
    reference = pd.read_csv(seeded.reference_data, dtype=str, keep_default_na=False)
    production_rows = pd.read_csv(seeded.production_data, dtype=str, keep_default_na=False)
    for column in schema.FEATURES:
        production_rows.loc[0, column] = reference.loc[0, column]
    production_rows.loc[0, schema.ACTUAL] = reference.loc[0, schema.TARGET]
    production_rows.to_csv(seeded.production_data, index=False)
    oldest = schema.load_reference(seeded.reference_data).iloc[0]

    result = merge_data(seeded, max_training_rows=len(reference))

    training_set = schema.load_reference(seeded.training_data)
    assert result.duplicates_dropped >= 1 and result.left_out_by_cap > 0, "the repeat and the cut both happened"
    repeats = training_set[(training_set[list(schema.FEATURES)] == oldest[list(schema.FEATURES)]).all(axis=1)]
    assert len(repeats) == 1, "the row is trained on, once"
    assert repeats[schema.ID].iloc[0] > schema.load_reference(seeded.reference_data)[schema.ID].max(), "its new copy"


def test_merge_holds_out_the_newest_labelled_rows_for_evaluation(seeded: Layout) -> None:
    simulate(seeded, 500, unlabelled=0.2)
    labelled = schema.labelled(schema.load_production(seeded.production_data))

    result = merge_data(seeded, evaluation_share=0.25)

    evaluation = schema.load_reference(seeded.evaluation_data)
    assert result.evaluation_rows == len(evaluation) == len(labelled) // 4
    newest = labelled.tail(len(evaluation))
    assert evaluation[schema.TARGET].tolist() == newest[schema.ACTUAL].astype(int).tolist()
    assert evaluation["CGPA"].tolist() == newest["CGPA"].tolist()
    training_ids = set(schema.load_reference(seeded.training_data)[schema.ID])
    assert training_ids.isdisjoint(evaluation[schema.ID]), "evaluation rows are never trained on"


def test_a_better_challenger_after_a_concept_shift_goes_live_and_its_window_becomes_the_reference(
    seeded: Layout,
) -> None:
    simulate(seeded, 2000, seed=5, concept=1.0)
    merge_data(seeded)

    result = train(seeded, selection_metric="accuracy")

    assert isinstance(result, results.Training)
    assert result.promoted and result.version == "v0002" == registry.current_version(seeded) == result.live_version
    assert result.status == "promoted" and result.selection_metric == "accuracy"
    assert result.window == "recent", "after a full concept shift only the new rows teach the right relation"
    gate = result.gate
    assert gate["champion_version"] == "v0001" and gate["evaluation_rows"] == 400
    assert gate["challenger"]["accuracy"] > gate["champion"]["accuracy"]
    metadata = registry.current_metadata(seeded)
    assert metadata["status"] == "promoted" and metadata["live_when_registered"] == "v0001"
    assert set(metadata["candidates"]) == {f"{a}@{w}" for a in fit.ALGORITHMS for w in fit.WINDOWS}
    assert metadata["training_data_sha256"] == production.digest(seeded.training_data.read_bytes())
    reference = schema.load_reference(seeded.reference_data)
    assert len(reference) == metadata["training_rows"] == 1600
    assert audit.entries(seeded)[-1] | {"at": None} == {
        "at": None,
        "event": "promoted",
        "version": "v0002",
        "previous": "v0001",
        "live": "v0002",
        "reason": result.reason,
        "by": "pipeline",
        "gate": {name: gate[name] for name in registry.AUDITED_FIGURES},
    }
    assert gate["p_worse"] > 0.5 and gate["floor"] == pytest.approx(gate["live_score"] - 0.01)


def test_a_worse_challenger_is_registered_as_rejected_and_the_live_model_stays(seeded: Layout) -> None:
    simulate(seeded, 1000, seed=6)
    merge_data(seeded)
    noise = schema.load_reference(seeded.training_data).sample(frac=1.0, random_state=1)[schema.TARGET].to_numpy()
    scrambled = schema.load_reference(seeded.training_data).assign(**{schema.TARGET: noise})
    scrambled.to_csv(seeded.training_data, index=False)
    reference_before = seeded.reference_data.read_bytes()

    result = train(seeded)

    assert not result.promoted and result.status == "rejected"
    assert registry.current_version(seeded) == "v0001" == result.live_version
    assert "significantly worse" in result.reason and result.gate["p_worse"] < 0.05
    rejected = registry.version_metadata(seeded, "v0002")
    assert rejected["status"] == "rejected" and rejected["gate"]["champion"]["accuracy"] > 0.7
    assert seeded.reference_data.read_bytes() == reference_before, "the reference stays the live model's data"
    assert audit.entries(seeded)[-1]["event"] == "rejected"

    forced = train(seeded, force_promote=True)
    assert forced.promoted and forced.version == "v0003" == registry.current_version(seeded)
    assert forced.reason.startswith("forced by a person over the gate")
    logged = audit.entries(seeded)[-1]
    assert logged["event"] == "promoted" and logged["reason"] == forced.reason
    assert logged["gate"]["p_worse"] < 0.05, "the audit line keeps the figures the gate was overridden on"


def test_the_drawdown_of_the_live_model_raises_the_floor_of_the_next_challenger(seeded: Layout) -> None:
    simulate(seeded, 1000, seed=6)
    merge_data(seeded)
    live = registry.current_metadata(seeded)
    live["gate"] = {"drawdown": 0.01}  # as if earlier promotions had spent the whole loss budget
    (seeded.versions_dir / "v0001" / "metadata.json").write_text(json.dumps(live))
    signing.sign(seeded, seeded.versions_dir / "v0001" / "metadata.json")  # as if registered so

    result = train(seeded)

    gate = result.gate
    assert gate["live_drawdown"] == 0.01 and gate["floor"] == gate["live_score"]
    assert result.promoted == (gate["challenger_score"] >= gate["live_score"] and gate["p_worse"] >= 0.05)


def test_a_selection_metric_undefined_on_one_class_evaluation_rows_fails_in_one_line(seeded: Layout) -> None:
    simulate(seeded, 1000, seed=6)
    merge_data(seeded)
    evaluation = schema.load_reference(seeded.evaluation_data)
    evaluation.assign(**{schema.TARGET: True}).to_csv(seeded.evaluation_data, index=False)

    with pytest.raises(StepError, match=r"evaluation_data.csv: column Depression holds one class only") as error:
        train(seeded, selection_metric="roc_auc")
    assert "\n" not in str(error.value) and "roc_auc" in str(error.value)
    assert registry.current_version(seeded) == "v0001" and registry.versions(seeded) == ["v0001"]


def test_without_enough_evaluation_rows_the_gate_keeps_the_live_model(seeded: Layout) -> None:
    simulate(seeded, 100, seed=8)
    merge_data(seeded)
    result = train(seeded)
    assert not result.promoted and "only 20 evaluation rows" in result.reason
    assert registry.current_version(seeded) == "v0001"


def test_a_retried_training_finishes_the_version_it_registered_instead_of_adding_one(seeded: Layout) -> None:
    simulate(seeded, 2000, seed=5, concept=1.0)
    merge_data(seeded)
    first = train(seeded)
    # As if the first attempt had crashed after registering, before switching the live model.
    registry._point_current_at(seeded, "v0001")
    seeded.audit_log.write_text(seeded.audit_log.read_text().splitlines(keepends=True)[0])

    again = train(seeded)

    assert again.version == first.version == "v0002" == registry.current_version(seeded)
    assert registry.versions(seeded) == ["v0001", "v0002"]
    assert [entry["event"] for entry in audit.entries(seeded)] == ["promoted", "promoted"]


def test_a_whole_run_repeated_after_a_promotion_trains_nothing_twice(seeded: Layout) -> None:
    simulate(seeded, 2000, seed=5, concept=1.0)
    first_merge = merge_data(seeded)
    training_set = seeded.training_data.read_bytes()
    first = train(seeded)
    assert first.promoted, "the reference is replaced: a fresh merge would now differ"

    again = merge_data(seeded)

    assert again == first_merge and seeded.training_data.read_bytes() == training_set
    assert train(seeded).version == first.version and registry.versions(seeded) == ["v0001", "v0002"]


def test_an_unknown_selection_metric_changes_nothing(seeded: Layout) -> None:
    merge_data(seeded)
    with pytest.raises(StepError, match=r"selection_metric must be one of .*, got 'speed'"):
        train(seeded, selection_metric="speed")
    assert registry.current_version(seeded) == "v0001"


def test_single_class_training_data_is_refused(seeded: Layout) -> None:
    frame = schema.load_reference(seeded.reference_data).head(300).assign(Depression=1)
    frame.to_csv(seeded.training_data, index=False)
    with pytest.raises(StepError, match="single class"):
        train(seeded)
    assert registry.versions(seeded) == ["v0001"]


def test_rollback_goes_back_to_the_version_live_before_and_says_why(seeded: Layout) -> None:
    registry.register(seeded, {}, lambda path: path.write_bytes(b"v2"), True, "test")
    registry.register(seeded, {}, lambda path: path.write_bytes(b"v3"), True, "test")

    result = registry.rollback_model(seeded, None, "v0003 misreads new students", requested_by="ana")

    assert result == results.Rollback(
        rolled_back=True, version="v0002", previous="v0003", reason="v0003 misreads new students"
    )
    assert registry.current_version(seeded) == "v0002"
    last = audit.entries(seeded)[-1]
    assert last["event"] == "rolled_back" and last["by"] == "ana" and last["reason"] == "v0003 misreads new students"
    assert (
        registry.rollback_model(seeded, "v0001", "test", "ana").version == "v0001" == registry.current_version(seeded)
    )
    assert registry.rollback_model(seeded, "v0001", "a retry", "ana").rolled_back is False


def test_rollback_as_the_step_calls_it_reads_an_empty_version_as_the_previous_one(seeded: Layout) -> None:
    registry.register(seeded, {}, lambda path: path.write_bytes(b"v2"), True, "test")
    step = catalog.step("rollback_model")
    to_version = next(parameter for parameter in step.parameters if parameter.name == "to_version")

    result = registry.rollback_model(
        seeded, to_version=to_version.default, reason="  v0002 is worse  ", requested_by=None
    )

    assert result.version == "v0001" == registry.current_version(seeded) and result.reason == "v0002 is worse"


def test_rollback_refuses_a_missing_or_tampered_version(seeded: Layout) -> None:
    registry.register(seeded, {}, lambda path: path.write_bytes(b"v2"), True, "test")
    with pytest.raises(StepError, match="v0009: no such model version"):
        registry.rollback_model(seeded, "v0009", "test", "ana")
    (seeded.versions_dir / "v0001" / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(StepError, match="checksum does not match"):
        registry.rollback_model(seeded, "v0001", "test", "ana")
    assert registry.current_version(seeded) == "v0002"


def test_a_tampered_model_is_refused(seeded: Layout) -> None:
    live_file = seeded.current_model.resolve()
    live_file.write_bytes(live_file.read_bytes()[:-10])
    with pytest.raises(StepError, match="checksum does not match"):
        model_file.load(seeded)
    with pytest.raises(StepError, match="checksum does not match"):
        registry.backup_current_model(seeded, "20261126_120000")
    assert not seeded.backups_dir.exists()


def test_backup_copies_model_and_metadata(seeded: Layout) -> None:
    result = registry.backup_current_model(seeded, "20261126_120000")
    backup = seeded.backups_dir / "model_20261126_120000"
    assert result == results.Backup(backed_up=True, version="v0001", backup=str(backup))
    assert (backup / "model.joblib").read_bytes() == seeded.current_model.read_bytes()
    assert json.loads((backup / "metadata.json").read_text())["version"] == "v0001"


def test_backup_without_a_model_is_a_no_op(layout: Layout) -> None:
    assert registry.backup_current_model(layout, "20261126_120000").backed_up is False
    assert not layout.backups_dir.exists()


def test_promotion_switches_the_current_link_atomically(seeded: Layout) -> None:
    version = registry.register(seeded, {"algorithm": "test"}, lambda path: path.write_bytes(b"model"), True, "test")
    assert os.readlink(seeded.current_model_dir) == f"versions/{version}"
    leftovers = [p.name for p in seeded.models_dir.iterdir() if p.name.startswith(".") and p != seeded.registry_lock]
    assert leftovers == []
    assert registry.current_metadata(seeded)["model_sha256"] == registry.file_sha256(seeded.current_model)


def test_a_retried_backup_keeps_the_first_copy(seeded: Layout) -> None:
    first = registry.backup_current_model(seeded, "20261126_120000")
    again = registry.backup_current_model(seeded, "20261126_120000")
    assert first == again and sorted(p.name for p in seeded.backups_dir.iterdir()) == ["model_20261126_120000"]


def test_bootstrap_prefers_the_kaggle_file_and_keeps_existing_data(layout: Layout) -> None:
    kaggle = synthetic.generate_reference(500, seed=3)
    kaggle.to_csv(layout.kaggle_data, index=False)
    tools.bootstrap(layout, reference_rows=10, seed=1, selection_metric="accuracy")
    assert len(pd.read_csv(layout.reference_data)) == 500
    reference = layout.reference_data.read_bytes()

    assert tools.bootstrap(layout, reference_rows=10, seed=1, selection_metric="accuracy") == results.Bootstrap(
        reference_data="kept", model="kept v0001"
    )
    assert layout.reference_data.read_bytes() == reference
