"""What a step's task is, whichever runner runs it: the image it runs, its labels, time limit, skip code and
Celery queue, and the parameter texts of its environment. Derived from the step's declaration (mindpulse.catalog).

The runners (mindpulse_docker, mindpulse_kubernetes, the benchmark's in-process one) build their operator from
this; mindpulse_dag_support picks the runner. This module imports neither, so the orchestrator's modules form no
import cycle.

Configuration, read when the DAG file is parsed:
- MINDPULSE_IMAGE_TAG              tag of the step images (default: the repository's VERSION file)
- MINDPULSE_REGISTRY, MINDPULSE_DEFAULT_QUEUE, MINDPULSE_HEAVY_QUEUE, MINDPULSE_QUEUES
                                   where the images come from and which Celery queue each step goes to: see
                                   mindpulse_cluster
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from mindpulse_cluster import queue_routing, registry_prefix

from mindpulse import catalog
from mindpulse.protocol import SKIP_EXIT_CODE
from mindpulse.sandbox import DAG_LABEL, DEPLOYMENT_LABEL, STEP_LABEL


def _image_tag() -> str:
    tag = os.environ.get("MINDPULSE_IMAGE_TAG", "").strip()
    if tag:
        return tag
    # In a checkout the DAGs sit in orchestrator/dags/, two levels below VERSION. The Airflow image
    # sets MINDPULSE_IMAGE_TAG instead, to the version it was built with.
    version_file = Path(__file__).resolve().parents[2] / "VERSION"
    return version_file.read_text().strip() if version_file.is_file() else "latest"


IMAGE_TAG = _image_tag()
REGISTRY = registry_prefix()
QUEUES = queue_routing()


def image(step: str) -> str:
    """The image of a step: [<MINDPULSE_REGISTRY>/]mindpulse/<step name with dashes>:<tag>."""
    name = f"{catalog.step(step).image_name}:{IMAGE_TAG}"
    return f"{REGISTRY}/{name}" if REGISTRY else name


def step_arguments(declared: catalog.Step, deployment: str) -> dict[str, Any]:
    """What a step's task is on either runner: its id, image, labels, time limit, skip code and XCom.
    `deployment` (the data volume's or claim's name) tells apart deployments that share an engine or cluster."""
    return {
        "task_id": declared.name,
        "image": image(declared.name),
        "labels": {STEP_LABEL: declared.name, DAG_LABEL: declared.pipeline.dag_id or "", DEPLOYMENT_LABEL: deployment},
        "execution_timeout": timedelta(minutes=declared.timeout_minutes),
        "skip_on_exit_code": SKIP_EXIT_CODE,
        "do_xcom_push": True,
        "queue": QUEUES[declared.name],
    }


def step_environment(declared: catalog.Step) -> tuple[dict[str, str], str | None]:
    """The step's environment, as Jinja templates the operator renders, and the variable of its webhook URL
    (its one secret parameter), if it has one.

    Each declared parameter the DAG supplies: a trigger-form Param (`{{ params.<name> }}`) or the parameter's
    own run template (the run's stamp, the earlier steps' results); parameters that are neither keep the step's
    default. MINDPULSE_IMAGE is added, the image the step runs, so what it writes can say what produced it.
    """
    environment: dict[str, str] = {}
    webhook_env = None
    for parameter in declared.parameters:
        if parameter.in_form:
            value = f"params.{parameter.name}"
            # An unset optional value must reach the step as empty (its default), not as the text "None".
            if parameter.default is None and not parameter.required:
                value += f" if {value} is not none else ''"
            if parameter.kind is bool:
                value += " | lower"  # "true"/"false", as a person would type it by hand
            environment[parameter.env] = f"{{{{ {value} }}}}"
        elif parameter.template is not None:
            environment[parameter.env] = parameter.template
        elif parameter.secret:
            webhook_env = parameter.env  # the one secret parameter: the webhook URL
    return {**environment, "MINDPULSE_IMAGE": image(declared.name)}, webhook_env
