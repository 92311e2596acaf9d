"""Where every file of the pipelines lives: the one module that owns paths and file contracts.

Three volumes, mounted at fixed paths in every step container:

/data      reference_data.csv          training data of the live model; drift is measured against it
           prod_data.csv               appended by the serving API (see `production.append_lines`)
           prod_data.csv.lock          lock file of the append protocol
           student_lifestyle_100k.csv  optional: the Kaggle file, used by the bootstrap when present
           training_data.csv           written by merge_production_data, read by train_new_model
           evaluation_data.csv         the newest labelled production rows, held out from training:
                                       the promotion gate compares challenger and live model on them
           consumption.json            which production bytes the current retrain run consumed
           archive/prod_data_archived_YYYYMMDD_HHMMSS.csv
           quarantine/prod_data_quarantined_YYYYMMDD_HHMMSS.csv   bad production rows set aside, with reasons

/models    versions/vNNNN/model.joblib + metadata.json   every trained model, promoted or rejected by the
                                                         gate; written once, never modified
           current -> versions/vNNNN                     relative symlink, switched atomically:
                                                         serving loads /models/current/model.joblib
           audit.jsonl                                   one line per decision: promoted, rejected, rolled back
           backups/model_YYYYMMDD_HHMMSS/                copies made by backup_current_model

/reports   data_quality_report_YYYYMMDD_HHMMSS.html (+ .json), data_drift_report_..., model_performance_report_...
           retrain_summary_YYYYMMDD_HHMMSS.json, report_summary_YYYYMMDD_HHMMSS.json
           history.jsonl   one line per reporting run, the source of index.html's charts
           index.html      the page a person opens
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DATA_DIR_ENV = "MINDPULSE_DATA_DIR"
MODELS_DIR_ENV = "MINDPULSE_MODELS_DIR"
REPORTS_DIR_ENV = "MINDPULSE_REPORTS_DIR"

STAMP_FORMAT = "%Y%m%d_%H%M%S"
STAMP_PATTERN = re.compile(r"\d{8}_\d{6}")

REPORT_KINDS = ("data_quality", "data_drift", "model_performance")


def utc_stamp(moment: datetime | None = None) -> str:
    """The YYYYMMDD_HHMMSS stamp used in every timestamped file name (UTC)."""
    return (moment or datetime.now(UTC)).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    models_dir: Path
    reports_dir: Path

    @classmethod
    def from_env(cls) -> Layout:
        return cls(
            Path(os.environ.get(DATA_DIR_ENV, "/data")),
            Path(os.environ.get(MODELS_DIR_ENV, "/models")),
            Path(os.environ.get(REPORTS_DIR_ENV, "/reports")),
        )

    # --- data volume -------------------------------------------------------------------------
    @property
    def reference_data(self) -> Path:
        return self.data_dir / "reference_data.csv"

    @property
    def production_data(self) -> Path:
        return self.data_dir / "prod_data.csv"

    @property
    def production_lock(self) -> Path:
        return self.data_dir / "prod_data.csv.lock"

    @property
    def kaggle_data(self) -> Path:
        return self.data_dir / "student_lifestyle_100k.csv"

    @property
    def training_data(self) -> Path:
        return self.data_dir / "training_data.csv"

    @property
    def evaluation_data(self) -> Path:
        return self.data_dir / "evaluation_data.csv"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    def quarantine_file(self, stamp: str) -> Path:
        return self.quarantine_dir / f"prod_data_quarantined_{stamp}.csv"

    @property
    def consumption_manifest(self) -> Path:
        return self.data_dir / "consumption.json"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    def archive_file(self, stamp: str) -> Path:
        return self.archive_dir / f"prod_data_archived_{stamp}.csv"

    # --- models volume -----------------------------------------------------------------------
    @property
    def versions_dir(self) -> Path:
        return self.models_dir / "versions"

    @property
    def current_model_dir(self) -> Path:
        return self.models_dir / "current"

    @property
    def current_model(self) -> Path:
        return self.current_model_dir / "model.joblib"

    @property
    def current_metadata(self) -> Path:
        return self.current_model_dir / "metadata.json"

    @property
    def audit_log(self) -> Path:
        return self.models_dir / "audit.jsonl"

    @property
    def backups_dir(self) -> Path:
        return self.models_dir / "backups"

    # --- reports volume ----------------------------------------------------------------------
    def report_file(self, kind: str, stamp: str, suffix: str) -> Path:
        if kind not in REPORT_KINDS:
            raise ValueError(f"unknown report kind {kind!r}")
        return self.reports_dir / f"{kind}_report_{stamp}.{suffix}"

    def summary_file(self, name: str, stamp: str) -> Path:
        return self.reports_dir / f"{name}_{stamp}.json"

    @property
    def history(self) -> Path:
        return self.reports_dir / "history.jsonl"

    @property
    def index_page(self) -> Path:
        return self.reports_dir / "index.html"


MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
