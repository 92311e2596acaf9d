"""
### model_rollback: make an earlier model version live again

Trigger it by hand (Trigger DAG in the UI, or `airflow dags trigger model_rollback --conf
'{"to_version": "v0003", "reason": "v0004 misreads new students"}'`). **rollback_model** checks the
version's checksum, switches `/models/current` to it in one atomic step and writes who, when and why
to `/models/audit.jsonl`. Leave `to_version` empty to go back to the version that was live before
the current one. The change updates the asset `mindpulse_current_model`, so the reports follow.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param
from mindpulse_dag_support import DEFAULT_ARGS, MODEL_CHANGES, START_DATE, announce_model_change, docker_step

with DAG(
    dag_id="model_rollback",
    description="Make an earlier model version live again, with the reason in the audit log",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 0},
    tags=["mindpulse", "model"],
    doc_md=__doc__,
    params={
        "to_version": Param(
            "",
            type="string",
            pattern="^(v[0-9]{4,})?$",
            title="Version",
            description="e.g. v0003; empty: the version live before the current one.",
        ),
        # No default: a run cannot start without a reason.
        "reason": Param(type="string", minLength=3, title="Reason", description="Why, for the audit log."),
    },
) as dag:
    rollback_model = docker_step(
        "rollback_model",
        writes=["models"],
        environment={
            "TO_VERSION": "{{ params.to_version }}",
            "REASON": "{{ params.reason }}",
            "REQUESTED_BY": "{{ dag_run.triggering_user_name or 'airflow' }}",
        },
        outlets=[MODEL_CHANGES],
        post_execute=announce_model_change,
    )
