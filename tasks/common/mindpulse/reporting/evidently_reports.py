"""The reporting pipeline's three Evidently reports, each written as `<kind>_report_<stamp>.html`
plus a `.json` twin holding its key figures.

The twin is what other steps read (the run summary, the index page's history), so it repeats the
figures that matter instead of Evidently's full snapshot: its content is the step's result, a
`mindpulse.results.Report`. It is written after the HTML: a twin on disk means its report is complete.
Both files are published by atomic rename; then the snapshot joins Evidently's workspace
(`evidently_workspace`), for `evidently ui`. Shares and scores that cannot be computed are null, never
NaN (which is not JSON).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.presets import ClassificationPreset, DataSummaryPreset

from mindpulse import atomic, drift, registry, results, schema
from mindpulse.datasets import MAX_QUARANTINE_SHARE, count_production, load_production, load_reference
from mindpulse.paths import Layout
from mindpulse.protocol import NothingToDo
from mindpulse.reporting import evidently_workspace

# --- the steps ----------------------------------------------------------------------------------------


def generate_data_quality_report(
    layout: Layout, run_stamp: str, max_quarantine_share: float = MAX_QUARANTINE_SHARE
) -> results.DataQualityReport:
    current = load_production(layout, max_quarantine_share)
    return write_data_quality_report(
        layout,
        run_stamp,
        load_reference(layout),
        None if current is None else current.rows,
        model_version=registry.current_version(layout),
    )


def generate_data_drift_report(
    layout: Layout,
    run_stamp: str,
    drift_threshold: float,
    min_drift_rows: int,
    max_quarantine_share: float = MAX_QUARANTINE_SHARE,
) -> results.DataDriftReport:
    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    counts = count_production(current)
    if current is None or counts.production_rows < min_drift_rows:
        reason = f"{counts.production_rows} production rows < {min_drift_rows}: no drift report"
        raise NothingToDo(results.ReportSkipped(reason, counts.production_rows, counts.labelled_rows))
    return write_data_drift_report(
        layout, run_stamp, reference, current.rows, drift_threshold, model_version=registry.current_version(layout)
    )


def generate_model_performance_report(
    layout: Layout, run_stamp: str, max_quarantine_share: float = MAX_QUARANTINE_SHARE
) -> results.ModelPerformanceReport:
    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    if current is None or not schema.labelled(current.rows).size:
        counts = count_production(current)
        reason = "no production rows with a known outcome: no performance report"
        raise NothingToDo(results.ReportSkipped(reason, counts.production_rows, counts.labelled_rows))
    return write_model_performance_report(layout, run_stamp, reference, current.rows, registry.current_version(layout))


# --- the writers --------------------------------------------------------------------------------------


ReportType = TypeVar("ReportType", bound=results.Report)
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
) -> results.DataQualityReport:
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
    return _publish(layout, results.DataQualityReport, stamp, snapshot, model_version, figures)


def write_data_drift_report(
    layout: Layout,
    stamp: str,
    reference: pd.DataFrame,
    production: pd.DataFrame,
    threshold: float = drift.DEFAULT_THRESHOLD,
    *,
    model_version: str | None = None,
) -> results.DataDriftReport:
    """Feature drift of the production rows against the reference, by the rule in `drift`."""
    measurement, snapshot = drift.drift_report(reference, production, threshold)
    return _publish(layout, results.DataDriftReport, stamp, snapshot, model_version, measurement.as_dict())


def write_model_performance_report(
    layout: Layout,
    stamp: str,
    reference: pd.DataFrame,
    production: pd.DataFrame,
    model_version: str | None,
) -> results.ModelPerformanceReport:
    """Classification quality of the logged predictions on production rows whose outcome is known.

    Predictions are hard 0/1 labels, so there is no ROC AUC (on labels it would only restate
    balanced accuracy). Evidently's default tests are included: they compare each metric with a
    dummy model's, which tells whether the live model beats guessing. `reference` has no
    predictions; only its size is recorded, to put the figures in context.
    """
    evaluated = schema.labelled(production)
    if evaluated.empty:
        raise NothingToDo(
            results.ReportSkipped("no production row has a known outcome (actual) yet", len(production), 0)
        )
    actual = evaluated[schema.ACTUAL].astype("int64")
    predicted = evaluated[schema.PREDICTION].astype("int64")
    classes = set(actual) | set(predicted)
    if len(classes) < 2:
        # Evidently cannot build a confusion matrix from one class; the figures would be trivial anyway.
        reason = (
            f"all {len(evaluated)} labelled rows have outcome and prediction {classes.pop()}: too little to evaluate"
        )
        raise NothingToDo(results.ReportSkipped(reason, len(production), len(evaluated)))
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
        "labelled_rows": len(evaluated),
        "production_rows": len(production),
        "unlabelled_rows": len(production) - len(evaluated),
        "actual_positive_share": _number(actual.mean()),
        "predicted_positive_share": _number(predicted.mean()),
        "reference_rows": len(reference),
        "failed_tests": [test["name"] for test in snapshot.dict()["tests"] if test["status"] != "SUCCESS"],
    }
    return _publish(layout, results.ModelPerformanceReport, stamp, snapshot, model_version, figures)


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
    layout: Layout,
    report: type[ReportType],
    stamp: str,
    snapshot: Snapshot,
    model_version: str | None,
    figures: dict[str, Any],
) -> ReportType:
    kind = report.KIND
    html = layout.report_file(kind, stamp, "html")
    atomic.write_with(html, lambda tmp: _save_html(snapshot, tmp))
    twin = report(
        kind=kind,
        stamp=stamp,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        html=html.name,
        model_version=model_version,
        **figures,
    )
    atomic.write_json(layout.report_file(kind, stamp, "json"), twin.as_dict())
    # After the twin: the workspace is a second view, and a failure to write it fails nothing.
    evidently_workspace.add_snapshot(layout, kind, stamp, snapshot, model_version)
    return twin


def _save_html(snapshot: Snapshot, path: Path) -> None:
    snapshot.save_html(str(path))  # given a Path, Evidently silently writes nothing
    if path.stat().st_size == 0:
        raise RuntimeError(f"Evidently wrote an empty report to {path}")
