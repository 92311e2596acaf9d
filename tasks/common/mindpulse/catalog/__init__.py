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

from mindpulse.catalog.declaration import (
    AUDIT,
    DEMO,
    FAMILIES,
    MAINTENANCE,
    REPORTING,
    RETRAIN,
    ROLLBACK,
    Family,
    Pipeline,
    Step,
    Volume,
)
from mindpulse.catalog.demo import DEMO_STEPS
from mindpulse.catalog.maintenance import MAINTENANCE_STEPS
from mindpulse.catalog.reporting import REPORTING_STEPS
from mindpulse.catalog.retrain import AUDIT_STEPS, RETRAIN_STEPS, ROLLBACK_STEPS
from mindpulse.parameters import Parameter

__all__ = [
    "AUDIT",
    "DEMO",
    "FAMILIES",
    "MAINTENANCE",
    "REPORTING",
    "RETRAIN",
    "ROLLBACK",
    "STEPS",
    "Family",
    "Pipeline",
    "Step",
    "Volume",
]

STEPS: tuple[Step, ...] = (
    *RETRAIN_STEPS,
    *ROLLBACK_STEPS,
    *AUDIT_STEPS,
    *REPORTING_STEPS,
    *MAINTENANCE_STEPS,
    *DEMO_STEPS,
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
