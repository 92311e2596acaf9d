"""The three report writers: an HTML report and a JSON twin with the key figures, published whole."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evidently.core.report import Snapshot
from sklearn import metrics

from mindpulse import results, schema
from mindpulse.demo import synthetic
from mindpulse.paths import Layout
from mindpulse.protocol import NothingToDo
from mindpulse.reporting import evidently_reports

STAMP = "20261126_120000"


def reference_frame(rows: int, seed: int) -> pd.DataFrame:
    raw = synthetic.generate_reference(rows, seed).to_csv(index=False).encode()
    return schema.parse_reference(raw, "reference.csv")


def production_frame(features: pd.DataFrame, predictions: list[int], actuals: list[int | None]) -> pd.DataFrame:
    """Production rows with the given predictions and outcomes, typed as the pipeline reads them."""
    frame = pd.DataFrame({schema.TIMESTAMP: ["2026-11-26T10:00:00+00:00"] * len(features)})
    frame = pd.concat([frame, features.reset_index(drop=True)], axis=1)
    frame[schema.PREDICTION] = predictions
    frame[schema.ACTUAL] = pd.array(actuals, dtype="Int8")
    return schema.parse_production(frame.to_csv(index=False).encode(), "prod_data.csv")


def features(rows: int, seed: int) -> pd.DataFrame:
    return synthetic.lifestyle(rows, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return reference_frame(2000, seed=1)


@pytest.fixture(scope="module")
def production() -> pd.DataFrame:
    """600 rows, a third of them without a known outcome yet."""
    rng = np.random.default_rng(2)
    actual = rng.integers(0, 2, 600)
    predicted = np.where(rng.random(600) < 0.8, actual, 1 - actual)
    outcomes = [None if unknown else int(value) for value, unknown in zip(actual, rng.random(600) < 1 / 3, strict=True)]
    return production_frame(features(600, seed=3), predicted.tolist(), outcomes)


def published(layout: Layout, kind: str, twin: results.Report) -> dict:
    """Check the two files of a report and nothing else are on disk, and that the JSON twin is the step's
    result; return the twin as read back."""
    assert kind == twin.KIND and isinstance(twin, results.REPORT_TYPES[kind])
    html = layout.report_file(kind, STAMP, "html")
    twin_file = layout.report_file(kind, STAMP, "json")
    written = sorted(path.name for path in layout.reports_dir.iterdir() if path != layout.evidently_workspace)
    assert written == sorted([html.name, twin_file.name])
    assert len(list(layout.evidently_workspace.glob("*/snapshots/*.json"))) == 1, "the snapshot joins the workspace"
    assert html.stat().st_size > 10_000
    page = html.read_text(encoding="utf-8")
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    document = json.loads(twin_file.read_text())
    assert document == twin.as_dict()
    assert type(twin).read(document) == twin, "readers get the same result back from the twin"
    assert (document["kind"], document["stamp"], document["html"]) == (kind, STAMP, html.name)
    assert document["created_at"].endswith("+00:00")
    return document


def test_data_quality_of_production_against_reference(layout: Layout, reference, production) -> None:
    twin = evidently_reports.write_data_quality_report(layout, STAMP, reference, production, model_version="v0003")
    document = published(layout, "data_quality", twin)
    labelled = production[schema.ACTUAL].dropna()
    assert document["model_version"] == "v0003"
    assert document["dataset"] == "production"
    assert (document["rows"], document["reference_rows"], document["production_rows"]) == (600, 2000, 600)
    assert document["labelled_rows"] == len(labelled)
    # The only missing values are the outcomes not known yet; the validator admits no empty feature.
    assert document["missing_values"] == 600 - len(labelled)
    assert document["missing_feature_values"] == 0
    assert document["positive_label_share"] == pytest.approx(labelled.mean())
    assert document["reference_positive_label_share"] == pytest.approx(reference[schema.TARGET].mean())


def test_data_quality_of_the_reference_alone(layout: Layout, reference) -> None:
    twin = evidently_reports.write_data_quality_report(layout, STAMP, reference, None)
    document = published(layout, "data_quality", twin)
    assert document["dataset"] == "reference"
    assert (document["rows"], document["production_rows"], document["labelled_rows"]) == (2000, 0, 2000)
    assert document["missing_values"] == 0
    assert document["model_version"] is None


def test_data_drift_report_records_the_measurement(layout: Layout, reference, production) -> None:
    current = production.copy()
    current["Sleep_Duration"] = (current["Sleep_Duration"] - 3).clip(lower=0)
    current["Stress_Level"] = (current["Stress_Level"] + 3).clip(upper=10)
    current["Social_Media_Hours"] = current["Social_Media_Hours"] + 4
    current["Physical_Activity"] = current["Physical_Activity"] + 120
    twin = evidently_reports.write_data_drift_report(layout, STAMP, reference, current, 0.3, model_version="v0003")
    document = published(layout, "data_drift", twin)
    drifted = ["Sleep_Duration", "Social_Media_Hours", "Physical_Activity", "Stress_Level"]
    assert document["drifted_columns"] == drifted
    assert document["drift_share"] == 4 / 9
    assert "share" not in document, "one name for one figure"
    assert document["drift_detected"] is True
    assert document["drift_threshold"] == 0.3
    assert set(document["columns"]) == set(schema.FEATURES)
    assert (document["reference_rows"], document["production_rows"]) == (2000, 600)


def test_model_performance_matches_sklearn(layout: Layout, reference) -> None:
    # 7 true positives, 3 false positives, 5 false negatives, 9 true negatives, and 6 rows without
    # an outcome whose predictions must not count.
    pairs = [(1, 1)] * 7 + [(1, 0)] * 3 + [(0, 1)] * 5 + [(0, 0)] * 9 + [(1, None)] * 6
    predictions = [prediction for prediction, _ in pairs]
    actuals = [actual for _, actual in pairs]
    production = production_frame(features(len(pairs), seed=4), predictions, actuals)

    twin = evidently_reports.write_model_performance_report(layout, STAMP, reference, production, "v0002")
    document = published(layout, "model_performance", twin)
    y_true, y_pred = actuals[:24], predictions[:24]
    assert document["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert document["precision"] == pytest.approx(metrics.precision_score(y_true, y_pred))
    assert document["recall"] == pytest.approx(metrics.recall_score(y_true, y_pred))
    assert document["f1"] == pytest.approx(metrics.f1_score(y_true, y_pred))
    assert (document["labelled_rows"], document["unlabelled_rows"], document["production_rows"]) == (24, 6, 30)
    assert "rows_evaluated" not in document
    assert document["actual_positive_share"] == pytest.approx(12 / 24)
    assert document["predicted_positive_share"] == pytest.approx(10 / 24)
    assert document["model_version"] == "v0002"
    assert "roc_auc" not in document  # hard 0/1 predictions: no ranking to score
    assert document["failed_tests"] == []


def test_a_model_worse_than_guessing_fails_the_dummy_model_tests(layout: Layout, reference) -> None:
    predictions = [0] * 10 + [1] * 14  # the predictions of the test above, inverted
    actuals = [1] * 7 + [0] * 3 + [1] * 5 + [0] * 9
    production = production_frame(features(len(predictions), seed=4), predictions, actuals)
    twin = evidently_reports.write_model_performance_report(layout, STAMP, reference, production, "v0002")
    assert twin.accuracy == pytest.approx(8 / 24)
    assert any(name.startswith("Accuracy") for name in twin.failed_tests)


def test_model_performance_without_known_outcomes_is_skipped(layout: Layout, reference) -> None:
    production = production_frame(features(5, seed=5), [1, 0, 1, 0, 1], [None] * 5)
    with pytest.raises(NothingToDo, match="no production row has a known outcome") as skipped:
        evidently_reports.write_model_performance_report(layout, STAMP, reference, production, "v0001")
    assert skipped.value.result == results.ReportSkipped(
        "no production row has a known outcome (actual) yet", production_rows=5, labelled_rows=0
    )
    assert list(layout.reports_dir.iterdir()) == []


def test_model_performance_with_a_single_class_is_skipped(layout: Layout, reference) -> None:
    production = production_frame(features(4, seed=6), [0, 0, 0, 1], [0, 0, 0, None])
    with pytest.raises(NothingToDo) as skipped:
        evidently_reports.write_model_performance_report(layout, STAMP, reference, production, "v0001")
    assert skipped.value.result == results.ReportSkipped(
        "all 3 labelled rows have outcome and prediction 0: too little to evaluate", production_rows=4, labelled_rows=3
    )
    assert list(layout.reports_dir.iterdir()) == []


def test_a_report_evidently_failed_to_write_leaves_nothing(
    layout: Layout, reference, production, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Evidently does when handed a pathlib.Path instead of a str: write nothing, raise nothing.
    monkeypatch.setattr(Snapshot, "save_html", lambda self, filename: None)
    with pytest.raises(RuntimeError, match="empty report"):
        evidently_reports.write_model_performance_report(layout, STAMP, reference, production, "v0001")
    assert list(layout.reports_dir.iterdir()) == []


# --- the steps, as the catalog calls them -----------------------------------------------------------------


def test_the_report_steps_without_production_data(layout: Layout, reference) -> None:
    reference.to_csv(layout.reference_data, index=False)

    with pytest.raises(NothingToDo) as drift_skipped:
        evidently_reports.generate_data_drift_report(layout, run_stamp=STAMP, drift_threshold=0.3, min_drift_rows=100)
    with pytest.raises(NothingToDo) as performance_skipped:
        evidently_reports.generate_model_performance_report(layout, run_stamp=STAMP)

    assert drift_skipped.value.result == results.ReportSkipped("0 production rows < 100: no drift report", 0, 0)
    assert performance_skipped.value.result == results.ReportSkipped(
        "no production rows with a known outcome: no performance report", 0, 0
    )
    assert list(layout.reports_dir.iterdir()) == []
    twin = evidently_reports.generate_data_quality_report(layout, run_stamp=STAMP)
    document = published(layout, "data_quality", twin)
    assert (document["dataset"], document["rows"], document["model_version"]) == ("reference", 2000, None)
