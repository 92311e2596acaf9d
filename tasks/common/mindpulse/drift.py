"""The drift rule, in one place: used by the retrain step `detect_drift` and the reporting step
`generate_data_drift_report`, so both always agree on whether the data drifted.

Rule: compare each feature column of the current (production) data with the reference data, using
Evidently's default per-column method; drift is detected when the share of drifted feature columns
is strictly greater than the threshold (0.3 by default). Evidently's own dataset-level verdict
uses `share >= drift_share`, so the share and the verdict are computed here from the per-column
results instead.

Per-column methods are chosen by the size of the smaller sample, which is what governs sampling
noise (Evidently itself looks only at the reference size, which here is always large):

- current data of SMALL_SAMPLE_ROWS (1000) rows or more: Evidently's effect-size distances, normed
  Wasserstein (numerical) and Jensen-Shannon (categorical), drifted at score >= 0.1. They measure
  how far a distribution moved, so a trivial shift in a large window is not called drift.
- fewer rows: the two-sample Kolmogorov-Smirnov test (numerical) and chi-square (categorical),
  drifted at p < 0.05. They account for the sample size. With the distances, sampling noise alone
  pushes the normed Wasserstein distance past 0.1: on the demo generator against 20k reference
  rows, a sample of the reference's own distribution was judged drifted (share > 0.3) in 95% of
  trials at 100 rows and 33% at 200; with the tests, in none of 15 trials at 200 or 300 rows,
  while a moderate covariate shift (0.5) was flagged in every trial either way.

Each column records its method: for the tests a lower score (p-value) means more drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.presets import DataDriftPreset

from mindpulse import schema
from mindpulse.parameters import DRIFT_THRESHOLD

DEFAULT_THRESHOLD = DRIFT_THRESHOLD.default
SMALL_SAMPLE_ROWS = 1000

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"


def is_drift(share: float, threshold: float) -> bool:
    """The project's rule: strictly more than `threshold` of the feature columns drifted."""
    return share > threshold


@dataclass(frozen=True)
class DriftMeasurement:
    """The per-column results and the verdict of one comparison of current data with the reference."""

    drift_share: float
    drifted_columns: list[str]
    columns: dict[str, dict[str, Any]]  # column -> {"score", "method", "threshold", "drifted"}
    drift_threshold: float
    reference_rows: int
    production_rows: int

    @property
    def drift_detected(self) -> bool:
        return is_drift(self.drift_share, self.drift_threshold)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drift_detected": self.drift_detected}


def data_definition() -> DataDefinition:
    """Feature column types, declared: Evidently would infer the 1-10 Stress_Level as categorical."""
    return DataDefinition(
        numerical_columns=list(schema.NUMERIC_FEATURE_NAMES),
        categorical_columns=list(schema.CATEGORICAL_FEATURE_NAMES),
    )


def features_dataset(frame: pd.DataFrame, name: str) -> Dataset:
    """Only the feature columns of `frame`: ids, labels, predictions and timestamps never take part."""
    missing = [column for column in schema.FEATURES if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} data lacks feature column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{name} data has no rows")
    return Dataset.from_pandas(frame[list(schema.FEATURES)], data_definition=data_definition())


def drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD
) -> tuple[DriftMeasurement, Snapshot]:
    """Measure drift and keep Evidently's snapshot, so a caller can save it as HTML without
    computing it again.

    The snapshot's headline ("Dataset Drift is detected") is Evidently's `share >= threshold`: it
    disagrees with the measurement only when the share equals the threshold exactly.
    """
    DRIFT_THRESHOLD.check(threshold)
    # include_tests: the per-column "drifted" verdicts are only exposed as ValueDrift test results.
    methods = {"num_method": "ks", "cat_method": "chisquare"} if len(current) < SMALL_SAMPLE_ROWS else {}
    preset = DataDriftPreset(columns=list(schema.FEATURES), drift_share=threshold, **methods)
    report = Report([preset], include_tests=True)
    snapshot = report.run(features_dataset(current, "current"), features_dataset(reference, "reference"))
    columns = _per_column(snapshot)
    drifted = [column for column in schema.FEATURES if columns[column]["drifted"]]
    measurement = DriftMeasurement(
        drift_share=len(drifted) / len(columns),
        drifted_columns=drifted,
        columns=columns,
        drift_threshold=threshold,
        reference_rows=len(reference),
        production_rows=len(current),
    )
    return measurement, snapshot


def measure_drift(
    reference: pd.DataFrame, current: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD
) -> DriftMeasurement:
    return drift_report(reference, current, threshold)[0]


def _per_column(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    document = snapshot.dict()
    verdicts = {
        test["metric_config"]["metric_id"]: test["status"]
        for test in document["tests"]
        if test["metric_config"]["params"].get("type") == _VALUE_DRIFT
    }
    columns: dict[str, dict[str, Any]] = {}
    for metric in document["metrics"]:
        config = metric["config"]
        if config.get("type") != _VALUE_DRIFT:
            continue
        status = verdicts.get(metric["id"])
        if status not in ("SUCCESS", "FAIL"):
            raise RuntimeError(f"Evidently gave no drift verdict for column {config['column']} (test status {status})")
        columns[config["column"]] = {
            "score": float(metric["value"]),
            "method": config["method"],
            "threshold": float(config["threshold"]),
            "drifted": status == "FAIL",
        }
    missing = [column for column in schema.FEATURES if column not in columns]
    if missing:
        raise RuntimeError(f"Evidently returned no drift result for column(s) {', '.join(missing)}")
    return {column: columns[column] for column in schema.FEATURES}
