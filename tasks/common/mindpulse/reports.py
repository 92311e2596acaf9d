"""The three Evidently reports of the reporting pipeline, each written as
`<kind>_report_<stamp>.html` plus a `.json` twin holding its key figures.

The twin is what other steps read (the run summary, the index page's history), so it repeats the
figures that matter instead of Evidently's full snapshot. It is written after the HTML: a twin on
disk means its report is complete. Both files are published by atomic rename.

Every writer returns the twin's content:
    {"kind", "stamp", "created_at", "html": <file name>, "model_version", ...key figures}
Shares and scores that cannot be computed are null, never NaN (which is not JSON).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.presets import ClassificationPreset, DataSummaryPreset

from mindpulse import atomic, drift, schema
from mindpulse.paths import Layout
from mindpulse.step import NothingToDo

# Labels as words: Evidently's DataSummaryPreset crashes on a categorical column of 0.0/1.0/NaN,
# and a production label is missing until the outcome is known.
LABEL_TEXT = {0: "no", 1: "yes"}


def write_data_quality_report(
    layout: Layout,
    stamp: str,
    reference: pd.DataFrame,
    production: pd.DataFrame | None,
    *,
    model_version: str | None = None,
) -> dict[str, Any]:
    """Data summary of the production rows against the reference, or of the reference alone
    when there is no production data yet.

    Columns: the features plus the label, named Depression in both data sets (production's
    `actual` is the observed Depression outcome, missing while unknown). Ids, timestamps and
    predictions are left out: the first two are unique per row, predictions belong to the
    performance report.
    """
    definition = DataDefinition(
        numerical_columns=list(schema.NUMERIC_FEATURE_NAMES),
        categorical_columns=[*schema.CATEGORICAL_FEATURE_NAMES, schema.TARGET],
    )
    reference_set = Dataset.from_pandas(_with_label(reference, schema.TARGET), data_definition=definition)
    if production is None:
        snapshot = Report([DataSummaryPreset()]).run(reference_set, None)
        described, described_name = reference, "reference"
    else:
        production_set = Dataset.from_pandas(_with_label(production, schema.ACTUAL), data_definition=definition)
        snapshot = Report([DataSummaryPreset()]).run(production_set, reference_set)
        described, described_name = production, "production"

    values = _metric_values(snapshot)
    label = described[schema.TARGET if production is None else schema.ACTUAL]
    figures = {
        "dataset": described_name,
        "rows": int(values[("RowCount", None)]),
        "reference_rows": len(reference),
        "production_rows": 0 if production is None else len(production),
        "duplicated_rows": int(values[("DuplicatedRowCount", None)]),
        "empty_rows": int(values[("EmptyRowsCount", None)]),
        "constant_columns": int(values[("ConstantColumnsCount", None)]),
        "almost_constant_columns": int(values[("AlmostConstantColumnsCount", None)]),
        "missing_values": int(values[("DatasetMissingValueCount", None)]["count"]),
        "missing_feature_values": int(
            sum(values[("MissingValueCount", column)]["count"] for column in schema.FEATURES)
        ),
        "labelled_rows": int(label.notna().sum()),
        "positive_label_share": _share(label),
        "reference_positive_label_share": _share(reference[schema.TARGET]),
    }
    return _publish(layout, "data_quality", stamp, snapshot, model_version, figures)


def write_data_drift_report(
    layout: Layout,
    stamp: str,
    reference: pd.DataFrame,
    production: pd.DataFrame,
    threshold: float = drift.DEFAULT_THRESHOLD,
    *,
    model_version: str | None = None,
) -> dict[str, Any]:
    """Feature drift of the production rows against the reference, by the rule in `drift`.

    Figures: the measurement (`DriftMeasurement.as_dict`), with the share also under the name
    `drift_share` that the run summaries and the retrain pipeline's results use."""
    measurement, snapshot = drift.drift_report(reference, production, threshold)
    figures = {**measurement.as_dict(), "drift_share": measurement.share}
    return _publish(layout, "data_drift", stamp, snapshot, model_version, figures)


def write_model_performance_report(
    layout: Layout,
    stamp: str,
    reference: pd.DataFrame,
    production: pd.DataFrame,
    model_version: str | None,
) -> dict[str, Any]:
    """Classification quality of the logged predictions on production rows whose outcome is known.

    Predictions are hard 0/1 labels, so there is no ROC AUC (on labels it would only restate
    balanced accuracy). Evidently's default tests are included: they compare each metric with a
    dummy model's, which tells whether the live model beats guessing. `reference` has no
    predictions; only its size is recorded, to put the figures in context.
    """
    evaluated = schema.labelled(production)
    if evaluated.empty:
        raise NothingToDo(
            {"reason": "no production row has a known outcome (actual) yet", "production_rows": len(production)}
        )
    actual = evaluated[schema.ACTUAL].astype("int64")
    predicted = evaluated[schema.PREDICTION].astype("int64")
    classes = set(actual) | set(predicted)
    if len(classes) < 2:
        # Evidently cannot build a confusion matrix from one class; the figures would be trivial anyway.
        raise NothingToDo(
            {
                "reason": f"all {len(evaluated)} labelled rows have outcome and prediction {classes.pop()}: "
                "too little to evaluate",
                "rows_evaluated": len(evaluated),
            }
        )
    frame = pd.DataFrame({schema.ACTUAL: actual.to_numpy(), schema.PREDICTION: predicted.to_numpy()})
    definition = DataDefinition(
        classification=[BinaryClassification(target=schema.ACTUAL, prediction_labels=schema.PREDICTION, pos_label=1)],
        categorical_columns=[schema.ACTUAL, schema.PREDICTION],
    )
    snapshot = Report([ClassificationPreset()], include_tests=True).run(
        Dataset.from_pandas(frame, data_definition=definition), None
    )
    values = _metric_values(snapshot)
    figures = {
        "accuracy": _number(values[("Accuracy", None)]),
        "precision": _number(values[("Precision", None)]),
        "recall": _number(values[("Recall", None)]),
        "f1": _number(values[("F1Score", None)]),
        "rows_evaluated": len(evaluated),
        "production_rows": len(production),
        "unlabelled_rows": len(production) - len(evaluated),
        "actual_positive_share": _number(actual.mean()),
        "predicted_positive_share": _number(predicted.mean()),
        "reference_rows": len(reference),
        "failed_tests": [test["name"] for test in snapshot.dict()["tests"] if test["status"] != "SUCCESS"],
    }
    return _publish(layout, "model_performance", stamp, snapshot, model_version, figures)


def _with_label(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    columns = frame[list(schema.FEATURES)].copy()
    columns[schema.TARGET] = frame[label].map(LABEL_TEXT)
    return columns


def _share(label: pd.Series) -> float | None:
    known = label.dropna()
    return None if known.empty else _number((known == 1).mean())


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _metric_values(snapshot: Snapshot) -> dict[tuple[str, str | None], Any]:
    """Top-level metric values keyed by (metric type, column), e.g. ("MissingValueCount", "Age").

    Metrics told apart by other parameters (ColumnCount per column type) share a key; none is read."""
    values = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        values[(config["type"].rsplit(":", 1)[-1], config.get("column"))] = metric["value"]
    return values


def _publish(
    layout: Layout, kind: str, stamp: str, snapshot: Snapshot, model_version: str | None, figures: dict[str, Any]
) -> dict[str, Any]:
    html = layout.report_file(kind, stamp, "html")
    atomic.write_with(html, lambda tmp: _save_html(snapshot, tmp))
    twin = {
        "kind": kind,
        "stamp": stamp,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "html": html.name,
        "model_version": model_version,
        **figures,
    }
    atomic.write_json(layout.report_file(kind, stamp, "json"), twin)
    return twin


def _save_html(snapshot: Snapshot, path: Path) -> None:
    snapshot.save_html(str(path))  # given a Path, Evidently silently writes nothing
    if path.stat().st_size == 0:
        raise RuntimeError(f"Evidently wrote an empty report to {path}")
