"""The Docker runner: every step a container on a Docker engine, started by a locked-down DockerOperator.

The default runner (MINDPULSE_RUNNER=docker) of `mindpulse_dag_support.step_task`, built on mindpulse_step_spec.
On one machine the engine is the local one; on the Celery cluster (mindpulse_cluster) each worker host's own,
which first checks that it has the shared volumes and can get the image.

Configuration, read when the DAG file is parsed:
- MINDPULSE_{DATA,MODELS,REPORTS,TRUST,SIGNING}_VOLUME
                                   names of the named volumes (default mindpulse_data, ...)
- MINDPULSE_TASK_USER              user the step containers run as (default: the images' own non-root user)
- MINDPULSE_LEFTOVER_CONTAINER_HOURS
                                   how long a stopped step container (a failed or killed try, kept for
                                   debugging) stays before the next task removes it (default 24)
- DOCKER_HOST                      the Docker engine (default unix://var/run/docker.sock)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk.exceptions import AirflowFailException
from docker import APIClient
from docker.errors import DockerException, NotFound
from docker.types import Mount
from mindpulse_alerts import configured_webhook
from mindpulse_cluster import ClusterSettingError, check_worker_host, runs_on_celery
from mindpulse_step_spec import step_arguments, step_environment

from mindpulse import alerts, catalog, sandbox
from mindpulse.paths import VOLUME_DIRS, volume_name
from mindpulse.sandbox import DEPLOYMENT_LABEL

log = logging.getLogger(__name__)

# The named volume behind each of the steps' volumes.
_VOLUME_NAMES = {volume: volume_name(volume) for volume in VOLUME_DIRS}
# The data volume's name tells apart deployments sharing one engine (each has its own volumes), so one
# deployment never removes another's containers.
DEPLOYMENT = _VOLUME_NAMES["data"]
LEFTOVER_MAX_AGE = timedelta(hours=float(os.environ.get("MINDPULSE_LEFTOVER_CONTAINER_HOURS", "24")))


class LockedDownDockerOperator(DockerOperator):
    """A DockerOperator whose container cannot change its own image or gain privileges: on top of what the
    caller configures (user, network, mounts, memory), every container runs in mindpulse.sandbox (read-only
    root, bounded tmpfs at /tmp, no capability, no-new-privileges, a pids cap). `privileged` and `cap_add`
    are refused.
    """

    def __init__(
        self,
        *,
        tmp_size: str = sandbox.TMP_SIZE,
        pids_limit: int = sandbox.PIDS_LIMIT,
        webhook_env: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("privileged") or kwargs.get("cap_add"):
            raise ValueError(f"task {kwargs.get('task_id')}: a locked-down container takes no privileged or cap_add")
        super().__init__(**kwargs)
        # The variable that hands the step the webhook URL, for a step that posts to it; see resolve_webhook.
        self.webhook_env = webhook_env
        # The host-config settings every container of this task gets; the DAG tests assert on them.
        self.lockdown: dict[str, Any] = sandbox.host_config(tmp_size=tmp_size, pids_limit=pids_limit)

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

    def check_worker_host(self, context: Any) -> None:
        """On a cluster, before anything starts: this host's shared volumes and the image; and at the start of a
        run (a task without upstream), that every queue of the DAG has a worker. Only then: a worker host that
        dies mid-run leaves its queue without a worker for a while, which must cost a wait, not the run."""
        try:
            check_worker_host(
                super().cli,
                dag_queues=set() if self.upstream_task_ids else {task.queue for task in self.dag.tasks},
                volumes=[mount["Source"] for mount in self.mounts],
                image=self.image,
            )
        except ClusterSettingError as error:
            line = f"ERROR: {error}"
            self.log.error("%s", line)
            context["ti"].xcom_push(key=alerts.ERROR_LINE_KEY, value=line)
            # Not retried: a retry would meet the same host. The line is in the log once, above.
            raise AirflowFailException("the worker host check failed") from None

    def resolve_webhook(self) -> None:
        """For a step that posts to the webhook: the URL of Connection `mindpulse_webhook`, read now, at run
        time, handed over privately (a URL carries its token; private_environment is never templated, so it
        is not in the rendered view), and a network only when there is a URL to post to."""
        if self.webhook_env is None:
            return
        url = configured_webhook()
        self._private_environment = {self.webhook_env: url} if url else {}
        self.network_mode = "bridge" if url else "none"

    def execute(self, context: Any) -> Any:
        if runs_on_celery():
            self.check_worker_host(context)
        # Containers of tries that were killed (SIGKILL, a timeout, an engine restart) or failed stay behind
        # (auto_remove="success"); every task start removes this deployment's old ones.
        prune_leftover_containers(super().cli, DEPLOYMENT, LEFTOVER_MAX_AGE)
        self.resolve_webhook()
        try:
            return super().execute(context)
        except DockerContainerFailedException as failure:
            line = alerts.error_line(failure.logs)
            if line is None:
                raise
            # Recorded while the task still runs, for the run's failure alert. The task log has the line
            # already (the container's output): adding it to the exception would name the problem twice.
            context["ti"].xcom_push(key=alerts.ERROR_LINE_KEY, value=line)
            raise


def prune_leftover_containers(client: APIClient, deployment: str, max_age: timedelta) -> list[str]:
    """Remove the stopped step containers of `deployment` that stopped more than `max_age` ago; return their
    names. Running containers, unlabelled ones and other deployments' are never touched. Never raises:
    a cleanup must not fail the task it runs before."""
    cutoff = datetime.now(UTC) - max_age
    removed = []
    try:
        stopped = client.containers(
            all=True, filters={"label": f"{DEPLOYMENT_LABEL}={deployment}", "status": ["created", "exited", "dead"]}
        )
        for summary in stopped:
            try:
                state = client.inspect_container(summary["Id"])["State"]
                # A container that never started has no finish time (year 1): its creation time counts.
                ended = max(_docker_time(state.get("FinishedAt")), _docker_time(summary.get("Created")))
                if state.get("Running") or ended > cutoff:
                    continue
                client.remove_container(summary["Id"])
                removed.append(summary["Names"][0].lstrip("/"))
            except NotFound:
                continue  # another task removed it first
    except DockerException as error:
        log.warning("could not remove leftover step containers: %s", error)
    for name in removed:
        log.info("removed leftover step container %s", name)
    return removed


def _docker_time(value: Any) -> datetime:
    """An engine timestamp (RFC 3339 text with nanoseconds, or epoch seconds) as an aware datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


class _LockedDownClient:
    """A docker-py APIClient whose create_host_config always adds `lockdown` (which wins)."""

    def __init__(self, client: APIClient, lockdown: Mapping[str, Any]) -> None:
        self._client = client
        self._lockdown = lockdown

    def create_host_config(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        host_config: dict[str, Any] = self._client.create_host_config(*args, **{**kwargs, **self._lockdown})
        return host_config

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def docker_step(task_id: str, **kwargs: Any) -> DockerOperator:
    """The task that runs step `task_id` as its declaration in mindpulse.catalog says.

    Mounts: the volumes it reads (read-only) and writes. Environment: `step_environment`. The container is
    locked down (LockedDownDockerOperator) and has no network; a step with a secret parameter (the webhook)
    gets the Connection's URL privately and a network, at run time and only when the Connection holds one.
    Other keyword arguments go to DockerOperator (trigger_rule, outlets, ...).
    """
    declared = catalog.step(task_id)
    environment, webhook_env = step_environment(declared)
    return LockedDownDockerOperator(
        **step_arguments(declared, DEPLOYMENT),
        # Unique per try: the container of a try that was killed or timed out stays behind and must not
        # block the retry.
        container_name=f"mindpulse-{task_id.replace('_', '-')}-{{{{ ti.id }}}}",
        environment=environment,
        webhook_env=webhook_env,
        mounts=[_mount(volume, read_only=volume not in declared.writes) for volume in declared.volumes],
        network_mode="none",
        user=os.environ.get("MINDPULSE_TASK_USER") or None,
        # The named volumes are the only shared state; a bind-mounted temp dir would be resolved on
        # the Docker host, not where Airflow runs.
        mount_tmp_dir=False,
        auto_remove="success",
        mem_limit=declared.memory,
        **kwargs,
    )


def _mount(volume: str, *, read_only: bool) -> Mount:
    return Mount(target=VOLUME_DIRS[volume], source=_VOLUME_NAMES[volume], type="volume", read_only=read_only)
