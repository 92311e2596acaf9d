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
--conf '{"force": true}'`): the form lists every parameter the steps declare for it (thresholds, the
selection metric, the promotion tolerance, `force` to retrain whatever the checks say, `force_promote`
to make the new model live whatever the gate says), with its bounds. Their defaults come from the
Airflow Variables `mindpulse_<param>`, else the environment (`MINDPULSE_RETRAIN_THRESHOLD`, ...).
`MINDPULSE_RETRAIN_SCHEDULE` replaces the daily schedule.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import TriggerRule
from mindpulse_dag_support import MODEL_CHANGES, announce_model_change, pipeline_dag, run_deadline, step_task

from mindpulse.catalog import RETRAIN

with pipeline_dag(
    RETRAIN,
    description="Retrain and promote the model when production data or drift call for it",
    schedule=os.environ.get("MINDPULSE_RETRAIN_SCHEDULE", "@daily"),
    dagrun_timeout=timedelta(hours=3),
    # An alert when a run has not finished 120 minutes after it was queued (MINDPULSE_RETRAIN_DEADLINE).
    deadline=run_deadline("MINDPULSE_RETRAIN_DEADLINE", 120),
    tags=["mindpulse", "retrain"],
    doc_md=__doc__,
) as dag:
    check_production_data = step_task("check_production_data")
    detect_drift = step_task("detect_drift")
    # Either reason is enough; only when both checks skip is the retrain skipped.
    backup_current_model = step_task("backup_current_model", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    merge_production_data = step_task("merge_production_data")
    train_new_model = step_task("train_new_model", outlets=[MODEL_CHANGES], post_execute=announce_model_change)
    archive_production_data = step_task("archive_production_data")
    notify_retrain_success = step_task("notify_retrain_success")

    (
        [check_production_data, detect_drift]
        >> backup_current_model
        >> merge_production_data
        >> train_new_model
        >> archive_production_data
        >> notify_retrain_success
    )
