"""What the MindPulse DAGs share: their settings, the model asset, and the one factory of step tasks.

Every pipeline step is a small image, mindpulse/<step-name>:<tag>, that works on three named volumes
(/data, /models, /reports) and follows one protocol: the last stdout line is its JSON result (the
task's XCom), exit code 99 means "nothing to do" (the task is skipped and the run goes on), anything
else non-zero is a failure. The DAGs only decide the order; `docker_step` builds every task.

Configuration, all read when the DAG file is parsed:
- MINDPULSE_IMAGE_TAG              tag of the step images (default: the repository's VERSION file)
- MINDPULSE_{DATA,MODELS,REPORTS}_VOLUME
                                   names of the named volumes (default mindpulse_data, ...)
- MINDPULSE_TASK_USER              user the step containers run as (default: the images' own
                                   non-root user)
- MINDPULSE_TASK_RETRIES           retries of a failed step (default 2, five minutes apart)
- MINDPULSE_WEBHOOK_URL            where the notify and summary steps post; only these two steps, and
                                   only when it is set, get a network
- DOCKER_HOST                      the Docker engine (default unix://var/run/docker.sock)
- Param defaults: Airflow Variable `mindpulse_<param>`, else environment MINDPULSE_<PARAM>, else the
  step contract's default (see `setting`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pendulum
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import Asset, AssetAlias, Variable
from docker import APIClient
from docker.types import Mount

Volume = Literal["data", "models", "reports"]

SKIP_EXIT_CODE = 99
# Every file one run writes (backup, archive, reports, summaries) carries this stamp, so a retried
# task writes the same names again instead of new ones. run_after is set for every kind of run
# (scheduled, manual, asset-triggered) and is the same for every task and retry of the run.
RUN_STAMP = "{{ dag_run.run_after.strftime('%Y%m%d_%H%M%S') }}"
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

# The model that serving loads. The reporting DAG is scheduled on it, so the reports never describe
# a model that is gone. Steps that may change it (train_new_model: only when the gate promotes;
# rollback_model) declare the alias as outlet and emit an event for the asset only when they did.
CURRENT_MODEL = Asset(name="mindpulse_current_model", uri="file:///models/current", group="model")
MODEL_CHANGES = AssetAlias(name="mindpulse_model_changes")

_VOLUMES: dict[Volume, tuple[str, str]] = {
    "data": ("/data", os.environ.get("MINDPULSE_DATA_VOLUME", "mindpulse_data")),
    "models": ("/models", os.environ.get("MINDPULSE_MODELS_VOLUME", "mindpulse_models")),
    "reports": ("/reports", os.environ.get("MINDPULSE_REPORTS_VOLUME", "mindpulse_reports")),
}
_WEBHOOK_URL = os.environ.get("MINDPULSE_WEBHOOK_URL", "")


def _image_tag() -> str:
    tag = os.environ.get("MINDPULSE_IMAGE_TAG", "").strip()
    if tag:
        return tag
    # In a checkout the DAGs sit in orchestrator/dags/, two levels below VERSION. The Airflow image
    # sets MINDPULSE_IMAGE_TAG instead, to the version it was built with.
    version_file = Path(__file__).resolve().parents[2] / "VERSION"
    return version_file.read_text().strip() if version_file.is_file() else "latest"


IMAGE_TAG = _image_tag()

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mindpulse",
    "retries": int(os.environ.get("MINDPULSE_TASK_RETRIES", "2")),
    "retry_delay": timedelta(minutes=5),
}


def setting(name: str, default: Any) -> Any:
    """The default of Param `name`, changeable without editing code.

    Looked up, in order: Airflow Variable `mindpulse_<name>` (Admin > Variables in the UI), environment
    variable MINDPULSE_<NAME>, the given default; converted to the default's type. This runs at parse
    time on purpose, so the trigger form shows the value a scheduled run will use: a handful of lookups
    per parse of two files.
    """
    fallback = os.environ.get(f"MINDPULSE_{name.upper()}", "")
    raw = str(Variable.get(f"mindpulse_{name}", default=fallback)).strip()
    if not raw:
        return default
    convert: Callable[[str], Any] = _boolean if isinstance(default, bool) else type(default)
    try:
        return convert(raw)
    except ValueError:
        raise ValueError(
            f"setting mindpulse_{name} (Airflow Variable or MINDPULSE_{name.upper()}) = {raw!r} "
            f"is not a valid {type(default).__name__}"
        ) from None


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def image(step: str) -> str:
    """The image of a step: mindpulse/<step name with dashes>:<tag>."""
    return f"mindpulse/{step.replace('_', '-')}:{IMAGE_TAG}"


def step_results(ti: Any) -> str:
    """Template macro: JSON object of every upstream task id -> its result object, or null.

    A skipped task pushes no XCom, so its result is null; so is a last line that is not a JSON object.
    """
    upstream = ti.task.get_flat_relative_ids(upstream=True)
    return json.dumps({task_id: _result(ti.xcom_pull(task_ids=task_id)) for task_id in sorted(upstream)})


def announce_model_change(context: Any, result: Any) -> None:
    """post_execute hook: an event for CURRENT_MODEL when the step's result says the live model changed."""
    outcome = _result(result) or {}
    if outcome.get("promoted") or outcome.get("rolled_back"):
        context["outlet_events"][MODEL_CHANGES].add(CURRENT_MODEL, extra={"version": outcome.get("version")})


def _result(xcom: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(xcom) if isinstance(xcom, str) else xcom
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class LockedDownDockerOperator(DockerOperator):
    """A DockerOperator whose container cannot change its own image or gain privileges.

    On top of what the caller configures (user, network, mounts, memory), every container gets a
    read-only root file system with a tmpfs at /tmp for scratch, no Linux capability at all,
    `no-new-privileges` (setuid binaries cannot raise privileges) and a cap on processes and threads
    (`pids_limit`), so a runaway or hostile step can neither persist anything outside its volumes nor
    fork-bomb the host. `privileged` and `cap_add` are refused.
    """

    def __init__(self, *, tmp_size: str = "256m", pids_limit: int = 512, **kwargs: Any) -> None:
        if kwargs.get("privileged") or kwargs.get("cap_add"):
            raise ValueError(f"task {kwargs.get('task_id')}: a locked-down container takes no privileged or cap_add")
        super().__init__(**kwargs)
        # The host-config settings every container of this task gets; the DAG tests assert on them.
        self.lockdown: dict[str, Any] = {
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={tmp_size}"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": pids_limit,
        }

    # The docker provider (4.6) has no parameters for these, and the method that builds the host
    # config (_run_image_with_mounts) is private and long: copying it would pin this file to one
    # provider version. Instead the client the operator talks through (its public `cli` property)
    # is wrapped so that docker-py's public create_host_config adds the lockdown to whatever else
    # the operator passes, whichever version builds it. A test inspects a real container
    # (test_task_containers_reach_the_engine_locked_down in tests/integration/test_dags_with_airflow.py),
    # so a provider that stops going through create_host_config is caught.
    @property
    def cli(self) -> APIClient:
        return _LockedDownClient(super().cli, self.lockdown)


class _LockedDownClient:
    """A docker-py APIClient whose create_host_config always adds `lockdown` (which wins)."""

    def __init__(self, client: APIClient, lockdown: Mapping[str, Any]) -> None:
        self._client = client
        self._lockdown = lockdown

    def create_host_config(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._client.create_host_config(*args, **{**kwargs, **self._lockdown})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def docker_step(
    task_id: str,
    *,
    reads: Iterable[Volume] = (),
    writes: Iterable[Volume] = (),
    environment: Mapping[str, str] | None = None,
    uses_webhook: bool = False,
    execution_timeout: timedelta = timedelta(minutes=30),
    mem_limit: str = "2g",
    **kwargs: Any,
) -> DockerOperator:
    """The task that runs step `task_id`'s image with the volumes it reads (read-only) and writes.

    The container is locked down (LockedDownDockerOperator) and has no network; `uses_webhook` steps
    get one only when a webhook URL is configured. `environment` values are Jinja templates
    (DockerOperator renders them), e.g. "{{ params.force }}"; MINDPULSE_IMAGE is added, the image the
    step runs, so what it writes can say what produced it. Other keyword arguments go to
    DockerOperator (trigger_rule, outlets, ...).
    """
    mounts = [_mount(volume, read_only=True) for volume in reads]
    mounts += [_mount(volume, read_only=False) for volume in writes]
    private_environment = {}
    network_mode = "none"
    if uses_webhook and _WEBHOOK_URL:
        # Private: a webhook URL often carries a token, and rendered templates are shown in the UI.
        private_environment["WEBHOOK_URL"] = _WEBHOOK_URL
        network_mode = "bridge"
    step_image = image(task_id)
    return LockedDownDockerOperator(
        task_id=task_id,
        image=step_image,
        # Unique per try: the container of a try that was killed or timed out stays behind and must not
        # block the retry.
        container_name=f"mindpulse-{task_id.replace('_', '-')}-{{{{ ti.id }}}}",
        environment={**(environment or {}), "MINDPULSE_IMAGE": step_image},
        private_environment=private_environment,
        mounts=mounts,
        network_mode=network_mode,
        user=os.environ.get("MINDPULSE_TASK_USER") or None,
        # The named volumes are the only shared state; a bind-mounted temp dir would be resolved on
        # the Docker host, not where Airflow runs.
        mount_tmp_dir=False,
        auto_remove="success",
        skip_on_exit_code=SKIP_EXIT_CODE,
        execution_timeout=execution_timeout,
        mem_limit=mem_limit,
        do_xcom_push=True,
        **kwargs,
    )


def _mount(volume: Volume, *, read_only: bool) -> Mount:
    target, name = _VOLUMES[volume]
    return Mount(target=target, source=name, type="volume", read_only=read_only)
