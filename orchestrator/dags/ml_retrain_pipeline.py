"""
### ml_retrain_pipeline: retrain the depression-risk model when production asks for it

Every task runs one step image (`mindpulse/<step>`) on the data, models and reports volumes.

1. **check_production_data** and **detect_drift** run side by side. Each says "retrain" (success) or
   "nothing to do" (skipped): enough labelled production rows (`retrain_threshold`), or a share of
   drifted feature columns above `drift_threshold`.
2. When either says retrain, **backup_current_model** copies the live model to `/models/backups/`,
   **merge_production_data** builds the training data and holds out the newest labelled rows for
   evaluation, **train_new_model** trains the candidates and registers the best as a new model version,
   live only if it is at least as good as the live model on the held-out rows (the promotion gate),
   **archive_production_data** moves the consumed rows to `/data/archive/` and
   **notify_retrain_success** writes `/reports/retrain_summary_<stamp>.json` (and posts it to the
   webhook, if one is configured).
3. When both skip, the rest of the run is skipped and the run succeeds: model and data are untouched.

A promotion updates the asset `mindpulse_current_model`, which starts `evidently_reporting_pipeline`.
A rejected challenger does not; it stays registered, with the figures, in `/models/versions/`.

**Trigger with parameters** (Trigger DAG in the UI, or `airflow dags trigger ml_retrain_pipeline
--conf '{"force": true}'`): `retrain_threshold`, `drift_threshold`, `selection_metric`,
`promotion_tolerance`, `force` to retrain whatever the checks say, and `force_promote` to make the
new model live whatever the gate says. Their defaults come from the Airflow Variables `mindpulse_<param>`,
else the environment (`MINDPULSE_RETRAIN_THRESHOLD`, ...). `MINDPULSE_RETRAIN_SCHEDULE` replaces the
daily schedule.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Param, TriggerRule
from mindpulse_dag_support import (
    DEFAULT_ARGS,
    MODEL_CHANGES,
    RUN_STAMP,
    START_DATE,
    announce_model_change,
    docker_step,
    setting,
    step_results,
)

FORCE = "{{ params.force | lower }}"

with DAG(
    dag_id="ml_retrain_pipeline",
    description="Retrain and promote the model when production data or drift call for it",
    schedule=os.environ.get("MINDPULSE_RETRAIN_SCHEDULE", "@daily"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args=DEFAULT_ARGS,
    tags=["mindpulse", "retrain"],
    doc_md=__doc__,
    user_defined_macros={"step_results": step_results},
    params={
        "retrain_threshold": Param(
            setting("retrain_threshold", 1000),
            type="integer",
            minimum=1,
            title="Retrain threshold",
            description="Retrain once this many labelled production rows have arrived.",
        ),
        "drift_threshold": Param(
            setting("drift_threshold", 0.3),
            type="number",
            minimum=0,
            maximum=1,
            title="Drift threshold",
            description="Retrain when the share of drifted feature columns is above this.",
        ),
        "selection_metric": Param(
            setting("selection_metric", "accuracy"),
            type="string",
            enum=["accuracy", "f1", "precision", "recall", "roc_auc"],
            title="Selection metric",
            description="Metric on the held-out split that picks the new model.",
        ),
        "promotion_tolerance": Param(
            setting("promotion_tolerance", 0.01),
            type="number",
            minimum=0,
            maximum=1,
            title="Promotion tolerance",
            description="Largest loss a chain of promotions may add up to (the floor of the promotion gate).",
        ),
        "force": Param(
            setting("force", False),
            type="boolean",
            title="Force",
            description="Retrain even when neither check asks for it.",
        ),
        "force_promote": Param(
            False,
            type="boolean",
            title="Force promote",
            description="Make the new model live even when it is worse than the live one (for people, not schedules).",
        ),
    },
) as dag:
    check_production_data = docker_step(
        "check_production_data",
        reads=["data"],
        environment={"RETRAIN_THRESHOLD": "{{ params.retrain_threshold }}", "FORCE": FORCE},
    )
    detect_drift = docker_step(
        "detect_drift",
        reads=["data"],
        environment={"DRIFT_THRESHOLD": "{{ params.drift_threshold }}", "FORCE": FORCE},
    )
    # Either reason is enough; only when both checks skip is the retrain skipped.
    backup_current_model = docker_step(
        "backup_current_model",
        writes=["models"],
        environment={"RUN_STAMP": RUN_STAMP},
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    merge_production_data = docker_step("merge_production_data", writes=["data"], environment={"RUN_STAMP": RUN_STAMP})
    train_new_model = docker_step(
        "train_new_model",
        writes=["data", "models"],
        environment={
            "SELECTION_METRIC": "{{ params.selection_metric }}",
            "PROMOTION_TOLERANCE": "{{ params.promotion_tolerance }}",
            "FORCE_PROMOTE": "{{ params.force_promote | lower }}",
        },
        outlets=[MODEL_CHANGES],
        post_execute=announce_model_change,
        execution_timeout=timedelta(hours=2),
        mem_limit="6g",
    )
    archive_production_data = docker_step("archive_production_data", writes=["data"])
    notify_retrain_success = docker_step(
        "notify_retrain_success",
        reads=["data", "models"],
        writes=["reports"],
        environment={"STEP_RESULTS": "{{ step_results(ti) }}", "RUN_STAMP": RUN_STAMP},
        uses_webhook=True,
    )

    (
        [check_production_data, detect_drift]
        >> backup_current_model
        >> merge_production_data
        >> train_new_model
        >> archive_production_data
        >> notify_retrain_success
    )
