"""The steps of ml_retrain_pipeline, in the order they run, and of model_rollback."""

from __future__ import annotations

from typing import Any

from mindpulse import results
from mindpulse.catalog.declaration import AUDIT, RETRAIN, ROLLBACK, Step
from mindpulse.parameters import (
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

_RETRAIN_THRESHOLD = Parameter(
    "retrain_threshold",
    int,
    1000,
    "labelled production rows that trigger a retrain",
    minimum=1,
    in_form=True,
    title="Retrain threshold",
)

# What fitting the candidates takes, for the step that trains and the one that rebuilds: three candidates trained
# with n_jobs=-1, so the forest and XGBoost use every core they are given.
TRAINING_RESOURCES: dict[str, Any] = {"memory": "6g", "cpus": 2.0, "timeout_minutes": 120}

RETRAIN_STEPS: tuple[Step, ...] = (
    Step(
        name="check_production_data",
        pipeline=RETRAIN,
        family="pandas",
        module="mindpulse.retrain.triggers",
        doc="""are there enough new labelled production rows to retrain?

Inputs:   /data/prod_data.csv (read-only)
Outputs:  none; the decision and its reason are the result JSON
Exit:     0 retrain, 99 fewer labelled rows than the threshold, 1 bad input""",
        result=results.LabelCheck,
        reads=("data",),
        parameters=(_RETRAIN_THRESHOLD, FORCE, MAX_QUARANTINE_SHARE),
    ),
    Step(
        name="detect_drift",
        pipeline=RETRAIN,
        family="evidently",
        module="mindpulse.retrain.triggers",
        doc="""have production features drifted from the live model's training data?

Inputs:   /data/reference_data.csv, /data/prod_data.csv (read-only)
Outputs:  none; the share of drifted feature columns, each column's score and the decision
          are the result JSON
Exit:     0 retrain (share > threshold), 99 no drift or too few rows, 1 bad input""",
        result=results.DriftCheck,
        reads=("data",),
        parameters=(DRIFT_THRESHOLD, MIN_DRIFT_ROWS, FORCE, MAX_QUARANTINE_SHARE),
    ),
    Step(
        name="backup_current_model",
        pipeline=RETRAIN,
        family="base",
        module="mindpulse.registry",
        doc="""keep a copy of the live model before a new one may replace it.

Inputs:   /models/current/ (model.joblib + metadata.json, checked against /trust)
Outputs:  /models/backups/model_<RUN_STAMP>/ (kept as it is when a retry finds it)
Exit:     0 backed up (or no model yet, said in the result), 1 the live model fails its signature or checksum""",
        result=results.Backup,
        reads=("trust",),
        writes=("models",),
        parameters=(RUN_STAMP,),
    ),
    Step(
        name="merge_production_data",
        pipeline=RETRAIN,
        family="pandas",
        module="mindpulse.retrain.merge",
        doc="""reference data + labelled production rows, validated and de-duplicated, with the newest
labelled rows held out to judge the new model on.

Inputs:   /data/reference_data.csv, /data/prod_data.csv
Outputs:  /data/training_data.csv, /data/evaluation_data.csv, /data/consumption.json (which
          production bytes were used, so archive_production_data moves exactly those),
          /data/quarantine/prod_data_quarantined_<RUN_STAMP>.csv when bad rows were set aside
Exit:     0 written, 1 bad input (nothing written)""",
        result=results.Merge,
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
            Parameter(
                "max_training_rows",
                int,
                200_000,
                "the most rows training sees: the newest, reference then production (older rows stay archived)",
                minimum=1000,
                maximum=10_000_000,
                in_form=True,
                title="Training rows cap",
            ),
            MAX_QUARANTINE_SHARE,
        ),
    ),
    Step(
        name="train_new_model",
        pipeline=RETRAIN,
        family="ml",
        module="mindpulse.retrain.training",
        doc="""train Logistic Regression, Random Forest and XGBoost on two windows of the training data
(all rows, recent production rows only), register the best as a new version, and make it live only if it
passes the promotion gate (mindpulse.retrain.gate) on the held-out evaluation rows.

Inputs:   /data/training_data.csv, /data/evaluation_data.csv (both from merge_production_data),
          /models/current (the live model: the champion, loaded once /trust vouches for it),
          /signing (the key the new version is signed with)
Outputs:  /models/versions/vNNNN/{model.joblib,metadata.json,metadata.json.sig} (status promoted or
          rejected, with the figures and the reason) and {MLmodel,input_example.json,requirements.txt,
          python_env.yaml,conda.yaml} (an MLflow model), a line in /models/audit.jsonl; when promoted: /models/current
          -> that version, and /data/reference_data.csv replaced by its training window
Exit:     0 registered (promoted or rejected: see "promoted" in the result), 1 bad input or failed
          training (the live model is untouched)""",
        result=results.Training,
        reads=("trust", "signing"),
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
                "largest loss of the selection metric a chain of promotions may add up to (the gate's floor)",
                minimum=0.0,
                maximum=1.0,
                in_form=True,
                title="Promotion tolerance",
            ),
            Parameter(
                "promotion_alpha",
                float,
                0.05,
                "the challenger is kept out when a one-sided McNemar test on the held-out rows finds it worse "
                "at this level",
                minimum=0.001,
                maximum=0.5,
            ),
            Parameter(
                "promotion_min_score",
                float,
                0.0,
                "no challenger scoring below this (selection metric, held-out rows) goes live",
                minimum=0.0,
                maximum=1.0,
                in_form=True,
                title="Lowest score to promote",
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
        **TRAINING_RESOURCES,
    ),
    Step(
        name="archive_production_data",
        pipeline=RETRAIN,
        family="base",
        module="mindpulse.production",
        doc="""move the production rows this run trained on out of prod_data.csv.

Inputs:   /data/consumption.json (written by merge_production_data), /data/prod_data.csv
Outputs:  /data/archive/prod_data_archived_YYYYMMDD_HHMMSS.csv; prod_data.csv keeps its header
          and every row appended since the merge
Exit:     0 archived (or nothing to archive), 1 prod_data.csv changed under the consumed rows""",
        result=results.Archive,
        writes=("data",),
    ),
    Step(
        name="notify_retrain_success",
        pipeline=RETRAIN,
        family="base",
        module="mindpulse.retrain.notify",
        doc="""what this retrain run decided and achieved, to stdout, a file and a webhook.

Inputs:   /models/current/metadata.json (read-only); STEP_RESULTS, the JSON results of the
          earlier steps by task id (the DAG fills it in; null for a skipped step)
Outputs:  /reports/retrain_summary_<RUN_STAMP>.json; a POST to WEBHOOK_URL when set
          (a webhook that is down never fails the run)
Exit:     0 done, 1 the summary cannot be written""",
        result=results.Delivery,
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
)

ROLLBACK_STEPS: tuple[Step, ...] = (
    Step(
        name="rollback_model",
        pipeline=ROLLBACK,
        family="base",
        module="mindpulse.registry",
        doc="""make an earlier model version live again, and say why in the audit log.

Inputs:   /models/versions/<version>/ (checked against its signature and checksum), /models/audit.jsonl
Outputs:  /models/current -> that version (one atomic switch), a "rolled_back" line in /models/audit.jsonl
Exit:     0 rolled back, 1 no such version, a bad signature or checksum, or nothing to roll back to

By hand: docker run --rm --network none -v mindpulse_models:/models -v mindpulse_trust:/trust:ro \\
             mindpulse/rollback-model:<tag> --to-version v0003 --reason "v0004 misreads new students"
Without --to-version, the version that was live before the current one becomes live again.""",
        result=results.Rollback,
        reads=("trust",),
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
)

AUDIT_STEPS: tuple[Step, ...] = (
    Step(
        name="verify_model",
        pipeline=AUDIT,
        family="ml",
        module="mindpulse.retrain.verification",
        doc="""rebuild a registered model version from what it kept, and prove the rebuilt model is the same.

Inputs:   /models/versions/<version>/ (checked against its signature and checksums: the rows it was trained
          and judged on, listed in inputs.json, its settings and seed, the libraries that trained it),
          /models/inputs/chunks (those rows)
Outputs:  none; the result says "identical": "bytes" (the rebuilt model file is the kept one) or
          "predictions" (other bytes, the same probabilities within 1e-6 on the evaluation rows)
Exit:     0 verified, 1 a kept input is missing or altered, or the rebuild differs (the line says which input)

By hand: docker run --rm --network none -v mindpulse_models:/models:ro -v mindpulse_trust:/trust:ro \\
             mindpulse/verify-model:<tag> --version v0003
Run it with the tag of the image that trained the version (its metadata's "image") for a byte-identical rebuild.""",
        result=results.Verification,
        reads=("models", "trust"),
        parameters=(
            Parameter(
                "version",
                str,
                None,
                "the version to rebuild, e.g. v0003",
                required=True,
                pattern=r"v[0-9]{4,}",
            ),
        ),
        **TRAINING_RESOURCES,
    ),
)
