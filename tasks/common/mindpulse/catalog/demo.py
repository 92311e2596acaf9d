"""The demo tools: run by hand (scripts/quickstart.sh), in no DAG."""

from __future__ import annotations

from mindpulse import results
from mindpulse.catalog.declaration import DEMO, Step
from mindpulse.parameters import SEED, SELECTION_METRIC, Parameter

DEMO_STEPS: tuple[Step, ...] = (
    Step(
        name="bootstrap",
        pipeline=DEMO,
        family="ml",
        module="mindpulse.demo.tools",
        doc="""seed an empty data volume with reference data and train the first model.

Inputs:   /data/student_lifestyle_100k.csv when present (the Kaggle file), else nothing
Outputs:  /data/reference_data.csv (the Kaggle file, or synthetic data with its schema),
          /models/versions/v0001/ (signed) and /models/current, /data/prod_data.csv.lock, and the
          install's model-signing key pair (/signing, /trust) when there is none yet
Exit:     0 seeded or already seeded (existing files are never replaced), 1 bad input""",
        result=results.Bootstrap,
        writes=("data", "models", "trust", "signing"),
        parameters=(
            Parameter("reference_rows", int, 100_000, "synthetic reference rows to generate", minimum=100),
            SEED,
            SELECTION_METRIC,
        ),
    ),
    Step(
        name="simulate_traffic",
        pipeline=DEMO,
        family="ml",
        module="mindpulse.demo.tools",
        doc="""play the serving API: append predictions of the live model with outcomes.

Inputs:   /models/current/ (read-only, checked against /trust)
Outputs:  rows appended to /data/prod_data.csv through the append protocol
Exit:     0 appended, 1 no model, a model that fails its signature, or bad parameters""",
        result=results.Traffic,
        reads=("models", "trust"),
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
