"""Where a MindPulse step runs when the tasks are spread over several worker hosts (CeleryExecutor,
docker-compose.cluster.yml, docs/scaling.md), and the checks a worker makes before it starts a step.

Settings, read when the DAG files are parsed (every component gets the same):
- MINDPULSE_REGISTRY       registry prefix of the step images (host:port[/path]); empty: the engine's own
                           image store, as on the single-machine stack
- MINDPULSE_DEFAULT_QUEUE  the Celery queue of the light steps (default "default")
- MINDPULSE_HEAVY_QUEUE    the queue of the heavy steps: those on a HEAVY_FAMILIES image (default "heavy")
- MINDPULSE_QUEUES         step=queue pairs, comma-separated, that override the two above for single steps
A queue only matters under the CeleryExecutor; the LocalExecutor runs every task wherever it is.

Checks at the start of every task under the CeleryExecutor, before its container is created, each failing
with one line that names the setting or host (check_worker_host): the worker's Docker host has the shared
volumes; the step's image is there or can be pulled from the registry; and, for the first tasks of a run,
every queue the DAG routes to has a worker consuming it.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping

from docker import APIClient
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from mindpulse import catalog

# The image families whose steps need the most memory and CPU (model training, Evidently reports): they go
# to the heavy queue unless MINDPULSE_QUEUES says otherwise.
HEAVY_FAMILIES = frozenset({"ml", "evidently"})
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$")
# How long a worker waits for the other workers to say which queues they consume: a broadcast waits the whole
# time, so the first ask is short; a queue found missing is asked about once more, patiently, because a worker
# busy on a loaded host may answer late.
INSPECT_TIMEOUTS_S = (2.0, 15.0)


class ClusterSettingError(ValueError):
    """A cluster setting that cannot work; its message is the one line the task log or import error shows."""


def registry_prefix(environ: Mapping[str, str] = os.environ) -> str:
    """MINDPULSE_REGISTRY without a trailing slash, checked; empty when unset."""
    prefix = environ.get("MINDPULSE_REGISTRY", "").strip().rstrip("/")
    if prefix and not _REGISTRY.match(prefix):
        raise ClusterSettingError(f"setting MINDPULSE_REGISTRY={prefix!r}: not a registry (host:port[/path])")
    return prefix


def default_queue(environ: Mapping[str, str] = os.environ) -> str:
    """The queue of the light steps, and of the DAGs' own Airflow tasks (mindpulse_maintenance's)."""
    return _queue("MINDPULSE_DEFAULT_QUEUE", environ.get("MINDPULSE_DEFAULT_QUEUE", "").strip() or "default")


def queue_routing(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Step name -> Celery queue for every step of the catalog, from the three queue settings."""
    default = default_queue(environ)
    heavy = _queue("MINDPULSE_HEAVY_QUEUE", environ.get("MINDPULSE_HEAVY_QUEUE", "").strip() or "heavy")
    routing = {step.name: heavy if step.family in HEAVY_FAMILIES else default for step in catalog.STEPS}
    for pair in filter(None, (item.strip() for item in environ.get("MINDPULSE_QUEUES", "").split(","))):
        name, separator, queue = (part.strip() for part in pair.partition("="))
        if not separator or name not in routing:
            raise ClusterSettingError(
                f"setting MINDPULSE_QUEUES: {pair!r} is not step=queue with a step of the catalog"
                f" (steps: {', '.join(routing)})"
            )
        routing[name] = _queue("MINDPULSE_QUEUES", queue)
    return routing


def _queue(setting: str, name: str) -> str:
    if not _QUEUE_NAME.match(name):
        raise ClusterSettingError(f"setting {setting}: {name!r} is not a queue name (letters, digits, _ . -)")
    return name


def runs_on_celery() -> bool:
    """Whether this Airflow spreads its tasks over Celery workers."""
    from airflow.sdk import conf

    return "CeleryExecutor" in conf.get("core", "executor")


def unconsumed(queues: Iterable[str]) -> list[str]:
    """Those of `queues` that no Celery worker consumes, asked as INSPECT_TIMEOUTS_S says."""
    from airflow.providers.celery.executors.celery_executor_utils import app

    missing = sorted(set(queues))
    for timeout in INSPECT_TIMEOUTS_S:
        answers = app.control.inspect(timeout=timeout).active_queues() or {}
        consumed = {queue["name"] for listed in answers.values() for queue in listed}
        missing = [queue for queue in missing if queue not in consumed]
        if not missing:
            break
    return missing


def check_worker_host(client: APIClient, *, dag_queues: Iterable[str], volumes: Iterable[str], image: str) -> None:
    """Raise ClusterSettingError (one line) when a step should not start on this worker host."""
    worker = socket.gethostname()
    missing = unconsumed(dag_queues) if dag_queues else []
    if missing:
        raise ClusterSettingError(
            f"queue {', '.join(missing)} has no Celery worker consuming it: check MINDPULSE_QUEUES,"
            " MINDPULSE_DEFAULT_QUEUE, MINDPULSE_HEAVY_QUEUE and the workers' --queues"
        )
    for volume in volumes:
        try:
            client.inspect_volume(volume)
        except NotFound:
            raise ClusterSettingError(
                f"worker {worker}: its Docker host has no volume {volume}: the shared storage is not mounted there"
            ) from None
    try:
        client.inspect_image(image)
    except ImageNotFound:
        repository, _, tag = image.rpartition(":")
        try:
            client.pull(repository, tag=tag)
        except (APIError, DockerException) as error:
            detail = str(getattr(error, "explanation", None) or error).splitlines()[0]
            raise ClusterSettingError(
                f"worker {worker}: cannot pull {image} (MINDPULSE_REGISTRY={registry_prefix() or 'unset'}): {detail}"
            ) from None
