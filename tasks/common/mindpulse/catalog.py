"""Every pipeline step, declared once: its image, the volumes it reads and writes, its parameters, its result.

Everything else derives from these declarations:
- the step's command line and `--help` (`mindpulse.protocol.main`),
- the image list and each image's family (`./build_images.sh` reads `python3 -m mindpulse.catalog`),
- the DAG tasks' mounts, environment and the DAGs' trigger-form Params (orchestrator/dags),
- the step lists of the tests and the benchmark.

A step named `detect_drift` lives in `tasks/<pipeline folder>/detect_drift/entrypoint.py`, runs as image
`mindpulse/detect-drift:<tag>` on the family image named by `family`, and calls `call` with a `Layout` and
one keyword argument per parameter. docs/adding-a-step.md walks through adding one.

Standard library only: every image family and the Airflow image import it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

from mindpulse import results
from mindpulse.parameters import (
    DISK_ALERT_SHARE,
    DRIFT_THRESHOLD,
    FORCE,
    MAX_QUARANTINE_SHARE,
    MIN_DRIFT_ROWS,
    RUN_STAMP,
    SEED,
    SELECTION_METRIC,
    WEBHOOK_URL,
    Parameter,
)

Volume = Literal["data", "models", "reports"]
Family = Literal["base", "pandas", "ml", "evidently"]
# The family images, each adding one layer of libraries to the one before.
FAMILIES: tuple[Family, ...] = ("base", "pandas", "ml", "evidently")


@dataclass(frozen=True)
class Pipeline:
    """A DAG (or, for the demo tools, none) and the folder of tasks/ its steps live in."""

    dag_id: str | None
    folder: str


RETRAIN = Pipeline("ml_retrain_pipeline", "retrain")
REPORTING = Pipeline("evidently_reporting_pipeline", "reporting")
ROLLBACK = Pipeline("model_rollback", "retrain")
DEMO = Pipeline(None, "demo")


@dataclass(frozen=True)
class Step:
    name: str
    pipeline: Pipeline
    family: Family
    # "module:function", called as function(layout, **parameters); imported only when the step runs, so
    # `--help` is instant and a pandas-free image never imports pandas.
    call: str
    # First line: what the step does. The rest: inputs, outputs, exit codes, shown by --help.
    doc: str
    result: type[results.Result]
    reads: tuple[Volume, ...] = ()
    writes: tuple[Volume, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    memory: str = "2g"
    timeout_minutes: int = 30

    @property
    def image_name(self) -> str:
        """The image without its tag: mindpulse/<name with dashes>."""
        return "mindpulse/" + self.name.replace("_", "-")

    @property
    def folder(self) -> str:
        """The step's folder, relative to the repository root."""
        return f"tasks/{self.pipeline.folder}/{self.name}"

    @property
    def volumes(self) -> tuple[Volume, ...]:
        return self.reads + self.writes

    def defaults(self) -> dict[str, Any]:
        """Every parameter's declared default: the step function's keyword arguments when nothing is set."""
        return {parameter.name: parameter.default for parameter in self.parameters}

    @property
    def network(self) -> bool:
        """Whether the step may need a network: only to post to a webhook, and only when one is configured."""
        return any(parameter.secret for parameter in self.parameters)


_RETRAIN_THRESHOLD = Parameter(
    "retrain_threshold",
    int,
    1000,
    "labelled production rows that trigger a retrain",
    minimum=1,
    in_form=True,
    title="Retrain threshold",
)

STEPS: tuple[Step, ...] = (
    # --- ml_retrain_pipeline, in the order it runs ---------------------------------------------------
    Step(
        "check_production_data",
        RETRAIN,
        "pandas",
        "mindpulse.triggers:check_production_data",
        """are there enough new labelled production rows to retrain?

Inputs:   /data/prod_data.csv (read-only)
Outputs:  none; the decision and its reason are the result JSON
Exit:     0 retrain, 99 fewer labelled rows than the threshold, 1 bad input""",
        results.LabelCheck,
        reads=("data",),
        parameters=(_RETRAIN_THRESHOLD, FORCE, MAX_QUARANTINE_SHARE),
    ),
    Step(
        "detect_drift",
        RETRAIN,
        "evidently",
        "mindpulse.triggers:detect_drift",
        """have production features drifted from the live model's training data?

Inputs:   /data/reference_data.csv, /data/prod_data.csv (read-only)
Outputs:  none; the share of drifted feature columns, each column's score and the decision
          are the result JSON
Exit:     0 retrain (share > threshold), 99 no drift or too few rows, 1 bad input""",
        results.DriftCheck,
        reads=("data",),
        parameters=(DRIFT_THRESHOLD, MIN_DRIFT_ROWS, FORCE, MAX_QUARANTINE_SHARE),
    ),
    Step(
        "backup_current_model",
        RETRAIN,
        "base",
        "mindpulse.registry:backup_current_model",
        """keep a copy of the live model before a new one may replace it.

Inputs:   /models/current/ (model.joblib + metadata.json)
Outputs:  /models/backups/model_<RUN_STAMP>/ (kept as it is when a retry finds it)
Exit:     0 backed up (or no model yet, said in the result), 1 the live model fails its checksum""",
        results.Backup,
        writes=("models",),
        parameters=(RUN_STAMP,),
    ),
    Step(
        "merge_production_data",
        RETRAIN,
        "pandas",
        "mindpulse.merge:merge_production_data",
        """reference data + labelled production rows, validated and de-duplicated, with the newest
labelled rows held out to judge the new model on.

Inputs:   /data/reference_data.csv, /data/prod_data.csv
Outputs:  /data/training_data.csv, /data/evaluation_data.csv, /data/consumption.json (which
          production bytes were used, so archive_production_data moves exactly those),
          /data/quarantine/prod_data_quarantined_<RUN_STAMP>.csv when bad rows were set aside
Exit:     0 written, 1 bad input (nothing written)""",
        results.Merge,
        writes=("data",),
        parameters=(
            RUN_STAMP,
            Parameter(
                "evaluation_share",
                float,
                0.2,
                "share of the labelled production rows, the newest, held out for the promotion gate",
                minimum=0.0,
                below=1.0,
            ),
            MAX_QUARANTINE_SHARE,
        ),
    ),
    Step(
        "train_new_model",
        RETRAIN,
        "ml",
        "mindpulse.training:train_new_model",
        """train Logistic Regression, Random Forest and XGBoost on two windows of the training data
(all rows, recent production rows only), register the best as a new version, and make it live only if it
is at least as good as the live model on the held-out evaluation rows.

Inputs:   /data/training_data.csv, /data/evaluation_data.csv (both from merge_production_data),
          /models/current (the live model: the champion)
Outputs:  /models/versions/vNNNN/{model.joblib,metadata.json} (status promoted or rejected, with
          the figures and the reason), a line in /models/audit.jsonl; when promoted: /models/current
          -> that version, and /data/reference_data.csv replaced by its training window
Exit:     0 registered (promoted or rejected: see "promoted" in the result), 1 bad input or failed
          training (the live model is untouched)""",
        results.Training,
        writes=("data", "models"),
        parameters=(
            SELECTION_METRIC,
            Parameter(
                "validation_share",
                float,
                0.2,
                "share of the recent rows (all rows when too few) held out to compare the candidates",
                minimum=0.0,
                below=1.0,
            ),
            Parameter(
                "promotion_tolerance",
                float,
                0.01,
                "the challenger goes live if it scores at least the live model minus this",
                minimum=0.0,
                maximum=1.0,
                in_form=True,
                title="Promotion tolerance",
            ),
            Parameter(
                "force_promote",
                bool,
                False,
                "make the challenger live even when the gate would keep the live model (for people, not schedules)",
                in_form=True,
                configurable=False,
                title="Force promote",
            ),
            SEED,
        ),
        memory="6g",
        timeout_minutes=120,
    ),
    Step(
        "archive_production_data",
        RETRAIN,
        "base",
        "mindpulse.production:archive_consumed",
        """move the production rows this run trained on out of prod_data.csv.

Inputs:   /data/consumption.json (written by merge_production_data), /data/prod_data.csv
Outputs:  /data/archive/prod_data_archived_YYYYMMDD_HHMMSS.csv; prod_data.csv keeps its header
          and every row appended since the merge
Exit:     0 archived (or nothing to archive), 1 prod_data.csv changed under the consumed rows""",
        results.Archive,
        writes=("data",),
    ),
    Step(
        "notify_retrain_success",
        RETRAIN,
        "base",
        "mindpulse.summaries:retrain_summary",
        """what this retrain run decided and achieved, to stdout, a file and a webhook.

Inputs:   /models/current/metadata.json (read-only); STEP_RESULTS, the JSON results of the
          earlier steps by task id (the DAG fills it in; null for a skipped step)
Outputs:  /reports/retrain_summary_<RUN_STAMP>.json; a POST to WEBHOOK_URL when set
          (a webhook that is down never fails the run)
Exit:     0 done, 1 the summary cannot be written""",
        results.Delivery,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(
            RUN_STAMP,
            Parameter(
                "step_results",
                dict,
                None,
                "JSON object: task id -> that step's result (null for a skipped step)",
                template="{{ step_results(ti) }}",
            ),
            WEBHOOK_URL,
        ),
    ),
    # --- model_rollback --------------------------------------------------------------------------------
    Step(
        "rollback_model",
        ROLLBACK,
        "base",
        "mindpulse.registry:rollback",
        """make an earlier model version live again, and say why in the audit log.

Inputs:   /models/versions/<version>/ (checked against its checksum), /models/audit.jsonl
Outputs:  /models/current -> that version (one atomic switch), a "rolled_back" line in /models/audit.jsonl
Exit:     0 rolled back, 1 no such version, a checksum mismatch, or nothing to roll back to

By hand: docker run --rm --network none -v mindpulse_models:/models \\
             mindpulse/rollback-model:<tag> --to-version v0003 --reason "v0004 misreads new students"
Without --to-version, the version that was live before the current one becomes live again.""",
        results.Rollback,
        writes=("models",),
        parameters=(
            Parameter(
                "to_version",
                str,
                "",
                "version to make live, e.g. v0003; empty: the version live before the current one",
                pattern=r"(v[0-9]{4,})?",
                in_form=True,
                configurable=False,
                title="Version",
            ),
            Parameter(
                "reason",
                str,
                None,
                "why, for the audit log",
                required=True,
                min_length=3,
                # Whitespace alone is no reason.
                pattern=r"[\s\S]*\S[\s\S]*",
                in_form=True,
                title="Reason",
            ),
            Parameter(
                "requested_by",
                str,
                None,
                "who asks, for the audit log (default: the user running the step)",
                template="{{ dag_run.triggering_user_name or 'airflow' }}",
            ),
        ),
    ),
    # --- evidently_reporting_pipeline, in the order it runs -------------------------------------------
    Step(
        "check_data_availability",
        REPORTING,
        "pandas",
        "mindpulse.datasets:check_data_availability",
        """is there data to report on?

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (all read-only)
Outputs:  none; row counts are the result JSON
Exit:     0 reference data valid (production data may be missing or empty: said in the result,
          and the production reports then skip themselves), 1 reference data missing or bad""",
        results.Availability,
        reads=("data", "models"),
        parameters=(MAX_QUARANTINE_SHARE,),
    ),
    Step(
        "generate_data_quality_report",
        REPORTING,
        "evidently",
        "mindpulse.evidently_reports:data_quality_report",
        """Evidently data summary of reference and production data.

Inputs:   /data/reference_data.csv, /data/prod_data.csv (production may be empty), /models/current
          for the live version (all read-only)
Outputs:  /reports/data_quality_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 1 bad input""",
        results.DataQualityReport,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, MAX_QUARANTINE_SHARE),
    ),
    Step(
        "generate_data_drift_report",
        REPORTING,
        "evidently",
        "mindpulse.evidently_reports:data_drift_report",
        """Evidently drift of production features against the reference, judged by the same rule and
threshold as the retrain pipeline's detect_drift.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current for the live version
          (all read-only)
Outputs:  /reports/data_drift_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 99 too few production rows, 1 bad input""",
        results.DataDriftReport,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, DRIFT_THRESHOLD, MIN_DRIFT_ROWS, MAX_QUARANTINE_SHARE),
    ),
    Step(
        "generate_model_performance_report",
        REPORTING,
        "evidently",
        "mindpulse.evidently_reports:model_performance_report",
        """Evidently classification quality of the live model on production rows whose true outcome
is known.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (read-only)
Outputs:  /reports/model_performance_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 99 no labelled production rows, 1 bad input""",
        results.ModelPerformanceReport,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, MAX_QUARANTINE_SHARE),
    ),
    Step(
        "cleanup_old_reports",
        REPORTING,
        "base",
        "mindpulse.retention:cleanup_old_reports",
        """keep the newest reports of each kind, never a file of another kind.

Inputs:   /reports/<kind>_report_YYYYMMDD_HHMMSS.{html,json}
Outputs:  older reports of each kind deleted, each with its JSON twin
Exit:     0 done, 1 bad parameter""",
        results.Cleanup,
        writes=("reports",),
        parameters=(
            Parameter(
                "max_reports", int, 10, "reports of each kind to keep", minimum=1, in_form=True, title="Reports to keep"
            ),
        ),
    ),
    Step(
        "apply_retention",
        REPORTING,
        "base",
        "mindpulse.retention:apply_retention",
        """delete old model versions, backups, archives and quarantine files, and stale temporary files.

Keeps the newest of each kind, everything younger than KEEP_DAYS, the live version, the version
a rollback would go back to, every version live within KEEP_DAYS, the newest backup of each kept
version and the production files a kept version was trained on.
Inputs:   /models (versions, backups, audit.jsonl), /data/archive, /data/quarantine, /data/consumption.json
Outputs:  what goes is deleted, each with a "deleted" line in /models/audit.jsonl; stale temporary
          files and folders of killed writers on all three volumes are swept; a dry run changes nothing
Exit:     0 done, 1 something could not be deleted or logged (it stays)""",
        results.Retention,
        writes=("data", "models", "reports"),
        parameters=(
            Parameter(
                "keep_versions",
                int,
                10,
                "newest model versions, and newest backups, always kept",
                minimum=1,
                maximum=10_000,
                in_form=True,
                title="Model versions to keep",
            ),
            Parameter(
                "keep_files",
                int,
                30,
                "newest archive files, and newest quarantine files, always kept",
                minimum=1,
                maximum=100_000,
                in_form=True,
                title="Production files to keep",
            ),
            Parameter(
                "keep_days",
                int,
                30,
                "days within which nothing is deleted (0: the counts alone decide)",
                minimum=0,
                maximum=3650,
                in_form=True,
                title="Days to keep everything",
            ),
            # Longer than any step's time limit (train_new_model: 2 h): a running writer's file is never swept.
            Parameter(
                "temp_max_age_hours",
                int,
                6,
                "hours after its last change that a temporary leftover of a killed writer is swept",
                minimum=3,
                maximum=720,
            ),
            Parameter(
                "dry_run",
                bool,
                False,
                "list what would be deleted, and delete nothing",
                in_form=True,
                configurable=False,
                title="Retention dry run",
            ),
        ),
    ),
    Step(
        "send_report_summary",
        REPORTING,
        "base",
        "mindpulse.summaries:report_summary",
        """the figures of this reporting run, the history chart page, a message.

Inputs:   /reports/*_report_<RUN_STAMP>.json, /reports/history.jsonl, /models/current (read-only)
Outputs:  /reports/report_summary_<RUN_STAMP>.json, a line in /reports/history.jsonl,
          /reports/index.html (with each volume's size and how full its disk is, and an
          alert line past DISK_ALERT_SHARE); a POST to WEBHOOK_URL when set (never fails the run)
Exit:     0 done, 1 the reports volume cannot be written""",
        results.ReportSummary,
        reads=("data", "models"),
        writes=("reports",),
        parameters=(RUN_STAMP, DRIFT_THRESHOLD, WEBHOOK_URL, DISK_ALERT_SHARE),
    ),
    # --- demo tools: run by hand (scripts/quickstart.sh), in no DAG --------------------------------------
    Step(
        "bootstrap",
        DEMO,
        "ml",
        "mindpulse.demo:bootstrap",
        """seed an empty data volume with reference data and train the first model.

Inputs:   /data/student_lifestyle_100k.csv when present (the Kaggle file), else nothing
Outputs:  /data/reference_data.csv (the Kaggle file, or synthetic data with its schema),
          /models/versions/v0001/ and /models/current, /data/prod_data.csv.lock
Exit:     0 seeded or already seeded (existing files are never replaced), 1 bad input""",
        results.Bootstrap,
        writes=("data", "models"),
        parameters=(
            Parameter("reference_rows", int, 100_000, "synthetic reference rows to generate", minimum=100),
            SEED,
            SELECTION_METRIC,
        ),
    ),
    Step(
        "simulate_traffic",
        DEMO,
        "ml",
        "mindpulse.demo:simulate_traffic",
        """play the serving API: append predictions of the live model with outcomes.

Inputs:   /models/current/ (read-only)
Outputs:  rows appended to /data/prod_data.csv through the append protocol
Exit:     0 appended, 1 no model or bad parameters""",
        results.Traffic,
        reads=("models",),
        writes=("data",),
        parameters=(
            Parameter("rows", int, 1500, "rows to append", minimum=1),
            Parameter(
                "covariate_shift",
                float,
                0.0,
                "lifestyle shift: 0 none, 1 moderate, 2 strong",
                minimum=0.0,
                maximum=10.0,
            ),
            Parameter("concept_shift", float, 0.0, "blend towards a different risk model", minimum=0.0, maximum=1.0),
            Parameter(
                "unlabelled_share",
                float,
                0.0,
                "share of rows whose outcome is not known yet",
                minimum=0.0,
                maximum=1.0,
            ),
            SEED.with_default(None),
        ),
    ),
)

_BY_NAME = {step.name: step for step in STEPS}


def step(name: str) -> Step:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no step {name!r} in mindpulse.catalog (known: {', '.join(_BY_NAME)})") from None


def steps_of(pipeline: Pipeline) -> tuple[Step, ...]:
    """The steps of one pipeline, in the order they run."""
    return tuple(item for item in STEPS if item.pipeline == pipeline)


def form_parameters(names: tuple[str, ...]) -> dict[str, Parameter]:
    """The trigger-form parameters of the named steps, each once, in the order the steps declare them."""
    found: dict[str, Parameter] = {}
    for name in names:
        for parameter in step(name).parameters:
            if parameter.in_form and found.setdefault(parameter.name, parameter) != parameter:
                raise ValueError(f"steps declare parameter {parameter.name} differently")
    return found


def _print_build_list() -> None:
    """One line per step for build_images.sh: name, image, family, folder."""
    for item in STEPS:
        print(item.name, item.image_name, item.family, item.folder)


if __name__ == "__main__":
    if sys.argv[1:] != ["--build-list"]:
        sys.exit("usage: python -m mindpulse.catalog --build-list")
    _print_build_list()
