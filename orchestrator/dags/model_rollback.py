"""
### model_rollback: make an earlier model version live again

Trigger it by hand (Trigger DAG in the UI, or `airflow dags trigger model_rollback --conf
'{"to_version": "v0003", "reason": "v0004 misreads new students"}'`). **rollback_model** checks the
version's checksum, switches `/models/current` to it in one atomic step and writes who, when and why
to `/models/audit.jsonl`. Leave `to_version` empty to go back to the version that was live before
the current one. The change updates the asset `mindpulse_current_model`, so the reports follow.
"""

from __future__ import annotations

from mindpulse_dag_support import DEFAULT_ARGS, MODEL_CHANGES, announce_model_change, pipeline_dag, step_task

from mindpulse.catalog import ROLLBACK

with pipeline_dag(
    ROLLBACK,
    description="Make an earlier model version live again, with the reason in the audit log",
    schedule=None,
    # A person asked for this run; a retry would act on a state they did not see.
    default_args={**DEFAULT_ARGS, "retries": 0},
    tags=["mindpulse", "model"],
    doc_md=__doc__,
) as dag:
    rollback_model = step_task("rollback_model", outlets=[MODEL_CHANGES], post_execute=announce_model_change)
