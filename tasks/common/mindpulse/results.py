"""What each step returns: one dataclass per result, in one vocabulary.

A step's result is its last stdout line (the task's XCom) and, for a report, its JSON twin. Readers (the
run summaries, the dashboard) turn those JSON objects back into these types with `read`, and then use
named fields. The same figure has the same name everywhere: `production_rows`, `labelled_rows` (rows whose
true outcome is known), `quarantined_rows`, `drift_share`, `drift_threshold`, `model_version`.

Standard library only: every image family imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class Result:
    """Base of every step result."""

    @classmethod
    def read(cls, data: Any) -> Self | None:
        """The result in a JSON object (an XCom, a twin file), or None when there is none.

        Lenient on purpose: a field a writer of an older version did not write is None, and keys that are
        not fields (the protocol's `step` and `status`) are ignored, so history written before a field was
        added still renders.
        """
        if not isinstance(data, dict):
            return None
        return cls(**{item.name: data.get(item.name) for item in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- retrain pipeline -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductionCounts(Result):
    production_rows: int
    labelled_rows: int
    quarantined_rows: int


@dataclass(frozen=True)
class RetrainDecision(ProductionCounts):
    """check_production_data and detect_drift: whether to retrain, and why."""

    retrain: bool
    reason: str
    force: bool


@dataclass(frozen=True)
class LabelCheck(RetrainDecision):
    retrain_threshold: int


@dataclass(frozen=True)
class DriftCheck(RetrainDecision):
    min_drift_rows: int
    drift_threshold: float
    # None when too few rows were there to judge.
    drift_share: float | None = None
    drift_detected: bool | None = None
    drifted_columns: list[str] = field(default_factory=list)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Backup(Result):
    backed_up: bool
    version: str | None = None
    backup: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Merge(ProductionCounts):
    training_rows: int
    evaluation_rows: int
    reference_rows: int
    duplicates_dropped: int
    # The oldest rows past max_training_rows: not trained on; the archive keeps them under retention.
    left_out_by_cap: int
    quarantine_file: str | None
    training_data: str
    evaluation_data: str


@dataclass(frozen=True)
class Training(Result):
    """train_new_model (and the bootstrap's first model): the registered version and the gate's decision."""

    promoted: bool
    version: str
    status: str
    reason: str
    live_version: str | None
    algorithm: str
    window: str
    selection_metric: str
    metrics: dict[str, float]
    gate: dict[str, Any]
    candidates: dict[str, dict[str, float]]
    training_rows: int


@dataclass(frozen=True)
class Archive(Result):
    archived_rows: int
    archived_labelled_rows: int | None = None
    archive_file: str | None = None
    rows_left_in_production: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Delivery(Result):
    """What became of a summary: the file written, and the webhook's fate (which never fails a run)."""

    summary_file: str
    webhook: str  # "not configured" | "sent" | "failed"
    http_status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class RetrainSummary(Result):
    stamp: str
    reasons: list[str]
    production_rows: int | None
    labelled_rows: int | None
    evaluation_rows: int | None
    drift_share: float | None
    drifted_columns: list[str] | None
    winner: dict[str, Any]
    promoted: bool | None
    decision: str | None
    gate: dict[str, Any] | None
    live_version: str | None
    selection_metric: str | None
    training_rows: int | None
    archived_rows: int | None
    quarantined_rows: int | None
    quarantine_file: str | None


@dataclass(frozen=True)
class Rollback(Result):
    rolled_back: bool
    version: str
    previous: str | None
    reason: str


@dataclass(frozen=True)
class Verification(Result):
    version: str
    # "bytes": the rebuilt model file is the kept one; "predictions": it differs in bytes, not in what it predicts.
    identical: str
    model_sha256: str
    rebuilt_sha256: str
    algorithm: str
    window: str
    training_rows: int
    # Libraries whose version here is not the one that trained the version: {name: "recorded (here ...)"}.
    libraries_differ: dict[str, str]


# --- reporting pipeline -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability(ProductionCounts):
    reference_rows: int
    production_available: bool
    model_version: str | None


@dataclass(frozen=True)
class ReportSkipped(Result):
    reason: str
    production_rows: int | None = None
    labelled_rows: int | None = None


@dataclass(frozen=True)
class Report(Result):
    """The head of every report's JSON twin: which report, of which run, about which model."""

    KIND: ClassVar[str] = ""

    kind: str
    stamp: str
    created_at: str
    html: str
    model_version: str | None


@dataclass(frozen=True)
class DataQualityReport(Report):
    KIND: ClassVar[str] = "data_quality"

    dataset: str
    rows: int
    reference_rows: int
    production_rows: int
    labelled_rows: int
    duplicated_rows: int
    empty_rows: int
    constant_columns: int
    almost_constant_columns: int
    missing_values: int
    missing_feature_values: int
    positive_label_share: float | None
    reference_positive_label_share: float | None


@dataclass(frozen=True)
class DataDriftReport(Report):
    KIND: ClassVar[str] = "data_drift"

    drift_share: float
    drift_detected: bool
    drift_threshold: float
    drifted_columns: list[str]
    columns: dict[str, dict[str, Any]]
    reference_rows: int
    production_rows: int


@dataclass(frozen=True)
class ModelPerformanceReport(Report):
    KIND: ClassVar[str] = "model_performance"

    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    labelled_rows: int
    production_rows: int
    unlabelled_rows: int
    actual_positive_share: float | None
    predicted_positive_share: float | None
    reference_rows: int
    failed_tests: list[str]


REPORT_TYPES: dict[str, type[Report]] = {
    report.KIND: report for report in (DataQualityReport, DataDriftReport, ModelPerformanceReport)
}


@dataclass(frozen=True)
class Cleanup(Result):
    max_reports: int
    kept: dict[str, int]
    deleted: dict[str, int]


@dataclass(frozen=True)
class Retention(Result):
    """apply_retention: what went (in a dry run: what would go), what stayed and why."""

    dry_run: bool
    deleted: dict[str, list[str]]  # kind (version, backup, archive, quarantine) -> names
    kept: dict[str, int]
    protected: dict[str, str]  # name -> why it must stay
    swept: list[str]  # stale temporary leftovers, as <volume>/<path>
    chunks_deleted: int  # chunks of kept rows (models/inputs) no kept version or backup lists any more
    freed_bytes: int


@dataclass(frozen=True)
class HistoryEntry(Result):
    """One reporting run, as history.jsonl records it and the dashboard draws it."""

    stamp: str
    created_at: str
    drift_share: float | None
    drift_detected: bool | None
    accuracy: float | None
    model_version: str | None
    reports: dict[str, str]  # kind -> HTML file name
    # mindpulse.reporting.volumes.measure; keyword-only with a default, so entries written before it still read.
    volumes: dict[str, dict[str, Any]] | None = field(default=None, kw_only=True)
    disk_alerts: list[str] | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class ReportSummary(HistoryEntry):
    index: str
    delivery: Delivery


# --- demo tools -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap(Result):
    reference_data: str
    model: str


@dataclass(frozen=True)
class Traffic(Result):
    appended_rows: int
    labelled_rows: int
    covariate_shift: float
    concept_shift: float
    model_version: str | None
    bayes_accuracy: float
