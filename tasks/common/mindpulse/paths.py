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
           versions/vNNNN/MLmodel + input_example.json   an MLflow model: the sklearn and python_function
             + requirements.txt, python_env.yaml,        flavors, the signature, and the libraries it was
               conda.yaml                                trained with (`signature`); older versions lack
                                                         some or all of these
           versions/vNNNN/inputs.json                    the training and evaluation files it was made from,
                                                         as lists of chunks of rows (`chunk_store`)
           inputs/chunks/<ab>/<sha256>.csv.gz            those rows, each chunk stored once for every version
           current -> versions/vNNNN                     relative symlink, switched atomically:
                                                         serving loads /models/current/model.joblib
           audit.jsonl                                   one line per decision: promoted, rejected, rolled back
           .registry.lock                                held while `current`, the versions or the audit log
                                                         change (`atomic.exclusive`): one writer at a time
           backups/model_YYYYMMDD_HHMMSS/                copies made by backup_current_model

/reports   data_quality_report_YYYYMMDD_HHMMSS.html (+ .json), data_drift_report_..., model_performance_report_...
           retrain_summary_YYYYMMDD_HHMMSS.json, report_summary_YYYYMMDD_HHMMSS.json
           history.jsonl   one line per reporting run, the source of index.html's charts
           index.html      the page a person opens: the last days of runs
           history.html    the same page over every run
           evidently_workspace/<project id>/metadata.json, dashboard.json, snapshots/<snapshot id>.json
                           Evidently's own local workspace (the layout of Evidently 0.7's LocalState),
                           which `evidently ui` serves: every report run adds its snapshots

Temporary names, on every volume: a writer works under a hidden name and renames it into place, so a
killed writer leaves only hidden leftovers that `apply_retention` sweeps once they are stale:
           .<final name>.XXXXXXXX.tmp    a file being written (mindpulse.atomic)
           .<final name>.XXXXXXXX        a folder being written (a version, a backup)
           .current.vNNNN.tmp            the symlink that is about to replace `current`
           .deleting.<name>              something retention has decided to delete

Two small volumes hold the key every model version is signed with (`mindpulse.signing`), apart from the
models volume, so that whoever can write a model cannot also make it trusted:

/trust     model-signing.pub   the public key: every step that loads or checks a model mounts it read-only
/signing   model-signing.key   the private key: only the steps that register models mount it
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Where each volume is mounted in a step container, and the variable that moves it (tests, a host run).
VOLUME_DIRS = {"data": "/data", "models": "/models", "reports": "/reports", "trust": "/trust", "signing": "/signing"}
DIR_ENVS = {volume: f"MINDPULSE_{volume.upper()}_DIR" for volume in VOLUME_DIRS}
# The two that hold the model-signing key pair, a few hundred bytes that never grow: not measured, not swept.
KEY_VOLUMES = ("trust", "signing")

STAMP_FORMAT = "%Y%m%d_%H%M%S"
STAMP_PATTERN = re.compile(r"\d{8}_\d{6}")

REPORT_KINDS = ("data_quality", "data_drift", "model_performance")
# The file-name patterns of what the pipelines write; nothing outside this module spells a file name.
REPORT_FILE = re.compile(
    rf"(?P<kind>{'|'.join(REPORT_KINDS)})_report_(?P<stamp>{STAMP_PATTERN.pattern})\.(?P<suffix>html|json)"
)
RETRAIN_SUMMARY = "retrain_summary"
REPORT_SUMMARY = "report_summary"
SUMMARY_FILE = re.compile(rf"(?P<name>{RETRAIN_SUMMARY}|{REPORT_SUMMARY})_(?P<stamp>{STAMP_PATTERN.pattern})\.json")
VERSION_PATTERN = re.compile(r"v(\d{4,})")
BACKUP_DIR = re.compile(rf"model_(?P<stamp>{STAMP_PATTERN.pattern})")
ARCHIVE_FILE = re.compile(rf"prod_data_archived_(?P<stamp>{STAMP_PATTERN.pattern})\.csv")
QUARANTINE_FILE = re.compile(rf"prod_data_quarantined_(?P<stamp>{STAMP_PATTERN.pattern})\.csv")

# Temporary names (see the module doc). tempfile adds 8 characters from [a-z0-9_] to the prefix.
TEMP_SUFFIX = ".tmp"
TRASH_PREFIX = ".deleting."
TEMP_NAME = re.compile(
    rf"\.(?:.+\.[a-z0-9_]{{8}}(?:{re.escape(TEMP_SUFFIX)})?|current\.v\d{{4,}}{re.escape(TEMP_SUFFIX)})"
    rf"|{re.escape(TRASH_PREFIX)}.+"
)


def temp_prefix(final: Path) -> str:
    """The prefix of the hidden temporary file or folder a writer of `final` works under."""
    return f".{final.name}."


def trash_name(path: Path) -> Path:
    """Where retention moves `path` before deleting it: a half-deleted folder never looks complete."""
    return path.with_name(TRASH_PREFIX + path.name)


def utc_stamp(moment: datetime | None = None) -> str:
    """The YYYYMMDD_HHMMSS stamp used in every timestamped file name (UTC)."""
    return (moment or datetime.now(UTC)).strftime(STAMP_FORMAT)


def volume_name(volume: str, environ: Mapping[str, str] = os.environ) -> str:
    """The named Docker volume behind one of the steps' volumes: MINDPULSE_<VOLUME>_VOLUME, default
    mindpulse_<volume>. An empty value counts as unset, as compose passes `${VAR:-}` through empty."""
    return environ.get(f"MINDPULSE_{volume.upper()}_VOLUME", "").strip() or f"mindpulse_{volume}"


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    models_dir: Path
    reports_dir: Path
    trust_dir: Path
    signing_dir: Path

    @classmethod
    def from_env(cls) -> Layout:
        return cls(*(Path(os.environ.get(DIR_ENVS[volume], VOLUME_DIRS[volume])) for volume in VOLUME_DIRS))

    @classmethod
    def under(cls, root: Path) -> Layout:
        """Every volume as a folder of `root` named after it (tests, the benchmark, a run on a host)."""
        return cls(*(root / volume for volume in VOLUME_DIRS))

    @property
    def volume_dirs(self) -> dict[str, Path]:
        """Each volume's name and where it is mounted."""
        return {volume: getattr(self, f"{volume}_dir") for volume in VOLUME_DIRS}

    def environment(self) -> dict[str, str]:
        """The variables that point a step run outside its image (a host, a test) at these folders."""
        return {DIR_ENVS[volume]: str(folder) for volume, folder in self.volume_dirs.items()}

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
    def chunks_dir(self) -> Path:
        """The rows the kept versions were trained and judged on, stored once each (mindpulse.chunk_store)."""
        return self.models_dir / "inputs" / "chunks"

    def current_link_temp(self, version: str) -> Path:
        """The symlink made next to `current` and renamed over it, to switch versions atomically."""
        return self.models_dir / f".current.{version}{TEMP_SUFFIX}"

    @property
    def audit_log(self) -> Path:
        return self.models_dir / "audit.jsonl"

    @property
    def registry_lock(self) -> Path:
        return self.models_dir / ".registry.lock"

    @property
    def backups_dir(self) -> Path:
        return self.models_dir / "backups"

    def backup_dir(self, stamp: str) -> Path:
        return self.backups_dir / f"model_{stamp}"

    # --- trust and signing volumes (mindpulse.signing) ----------------------------------------
    @property
    def public_key(self) -> Path:
        return self.trust_dir / "model-signing.pub"

    @property
    def private_key(self) -> Path:
        return self.signing_dir / "model-signing.key"

    # --- reports volume ----------------------------------------------------------------------
    def report_file(self, kind: str, stamp: str, suffix: str) -> Path:
        if kind not in REPORT_KINDS:
            raise ValueError(f"unknown report kind {kind!r}")
        return self.reports_dir / f"{kind}_report_{stamp}.{suffix}"

    def summary_file(self, name: str, stamp: str) -> Path:
        if name not in (RETRAIN_SUMMARY, REPORT_SUMMARY):
            raise ValueError(f"unknown summary {name!r}")
        return self.reports_dir / f"{name}_{stamp}.json"

    def summaries(self, name: str) -> list[Path]:
        """Every `name` summary in the reports volume, oldest first (the stamp sorts as time)."""
        found = self.reports_dir.glob(f"{name}_*.json") if self.reports_dir.is_dir() else ()
        return sorted(
            (path for path in found if (match := SUMMARY_FILE.fullmatch(path.name)) and match["name"] == name),
            key=lambda path: path.name,
        )

    @property
    def history(self) -> Path:
        return self.reports_dir / "history.jsonl"

    @property
    def index_page(self) -> Path:
        return self.reports_dir / "index.html"

    @property
    def history_page(self) -> Path:
        return self.reports_dir / "history.html"

    # Evidently's local workspace: the names are Evidently 0.7's (evidently.ui.storage.local.base), which
    # `evidently ui --workspace` reads; tests/unit/test_evidently_workspace.py checks they still agree.
    @property
    def evidently_workspace(self) -> Path:
        return self.reports_dir / "evidently_workspace"

    def evidently_project_dir(self, project_id: str) -> Path:
        return self.evidently_workspace / project_id

    def evidently_project(self, project_id: str) -> Path:
        return self.evidently_project_dir(project_id) / "metadata.json"

    def evidently_dashboard(self, project_id: str) -> Path:
        return self.evidently_project_dir(project_id) / "dashboard.json"

    def evidently_snapshot(self, project_id: str, snapshot_id: str) -> Path:
        return self.evidently_project_dir(project_id) / "snapshots" / f"{snapshot_id}.json"


def find_reports(reports_dir: Path) -> dict[str, dict[str, dict[str, Path]]]:
    """{kind: {stamp: {suffix: path}}} for every report file directly in `reports_dir`."""
    found: dict[str, dict[str, dict[str, Path]]] = {kind: {} for kind in REPORT_KINDS}
    if not reports_dir.is_dir():
        return found
    for path in reports_dir.iterdir():
        match = REPORT_FILE.fullmatch(path.name)
        if match and path.is_file():
            found[match["kind"]].setdefault(match["stamp"], {})[match["suffix"]] = path
    return found


# A plain pickle (mindpulse.retrain.model_file), which MLflow's sklearn flavor, joblib and pickle all load; the
# name is the serving side's stable path, /models/current/model.joblib.
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
# MLflow's own file names, so MLflow tooling finds them in a version folder.
SIGNATURE_FILE = "MLmodel"
INPUT_EXAMPLE_FILE = "input_example.json"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"
ENVIRONMENT_FILES = (REQUIREMENTS_FILE, PYTHON_ENV_FILE, CONDA_FILE)
# Which kept rows a version was trained and judged on: its data files as lists of chunks (mindpulse.chunk_store).
INPUTS_FILE = "inputs.json"
# Its roles: the file a version was trained on, and the one the gate judged it on.
TRAINING_INPUT, EVALUATION_INPUT = "training", "evaluation"
# The Ed25519 signature of METADATA_FILE's bytes (mindpulse.signing), which hold the model's checksum.
METADATA_SIGNATURE_FILE = "metadata.json.sig"
