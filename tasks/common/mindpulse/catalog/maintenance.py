"""The steps of mindpulse_maintenance: the project's own retention. The DAG's other tasks, Airflow's upkeep, are
Airflow tasks (orchestrator/dags/mindpulse_upkeep.py), not step images: they need Airflow, not a volume."""

from __future__ import annotations

from mindpulse import results
from mindpulse.catalog.declaration import MAINTENANCE, Step
from mindpulse.parameters import Parameter

MAINTENANCE_STEPS: tuple[Step, ...] = (
    Step(
        name="apply_retention",
        pipeline=MAINTENANCE,
        family="base",
        module="mindpulse.reporting.retention",
        doc="""delete old model versions, backups, archives and quarantine files, and stale temporary files.

Keeps the newest of each kind, everything younger than KEEP_DAYS, the live version, the version
a rollback would go back to, every version live within KEEP_DAYS, the newest backup of each kept
version and the production files a kept version was trained on.
Inputs:   /models (versions, backups, audit.jsonl, inputs), /data/archive, /data/quarantine,
          /data/consumption.json
Outputs:  what goes is deleted, each with a "deleted" line in /models/audit.jsonl; then the chunks of
          kept rows (/models/inputs) that no remaining version or backup lists; stale temporary files and
          folders of killed writers on all three volumes are swept; a dry run changes nothing
Exit:     0 done, 1 something could not be deleted or logged (it stays)""",
        result=results.Retention,
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
)
