"""What the MindPulse DAGs share: the DAG factory, the model asset, and the one factory of step tasks.

Every pipeline step is a small image that works on three named volumes (/data, /models, /reports) and
follows one protocol (mindpulse.protocol): the last stdout line is its JSON result (the task's XCom),
exit code 99 means "nothing to do" (the task is skipped and the run goes on), anything else non-zero
is a failure. What a step is (image, volumes, parameters, memory, time limit) is declared once in
mindpulse.catalog; the DAGs only decide the order, and `step_task` derives every task from the
declaration: a locked-down DockerOperator (`docker_step`, here) or, with MINDPULSE_RUNNER=kubernetes, a
locked-down KubernetesPodOperator (mindpulse_kubernetes) from the same image, environment and labels.

Configuration, all read when the DAG file is parsed:
- MINDPULSE_RUNNER                 docker (default: containers on a Docker engine) or kubernetes (pods;
                                   its own settings are in mindpulse_kubernetes, see docs/kubernetes.md);
                                   python only for the benchmark's peer (mindpulse_python_runner)
- MINDPULSE_IMAGE_TAG              tag of the step images (default: the repository's VERSION file)
- MINDPULSE_{DATA,MODELS,REPORTS}_VOLUME
                                   names of the named volumes (default mindpulse_data, ...)
- MINDPULSE_TASK_USER              user the step containers run as (default: the images' own
                                   non-root user)
- MINDPULSE_TASK_RETRIES           retries of a failed step (default 2)
- MINDPULSE_TASK_RETRY_SECONDS     the wait before a retry (default 300)
- MINDPULSE_REGISTRY, MINDPULSE_DEFAULT_QUEUE, MINDPULSE_HEAVY_QUEUE, MINDPULSE_QUEUES
                                   where the images come from and which Celery queue each step goes to
                                   when the tasks run on several worker hosts: see mindpulse_cluster
- MINDPULSE_LEFTOVER_CONTAINER_HOURS
                                   how long a stopped step container (a failed or killed try, kept for
                                   debugging) stays before the next task removes it (default 24)
- MINDPULSE_RETRAIN_DEADLINE, MINDPULSE_REPORTING_DEADLINE
                                   minutes after which a run that has not finished sends a deadline alert
                                   (default 120 and 60; 0: none), see mindpulse_alerts
- DOCKER_HOST                      the Docker engine (default unix://var/run/docker.sock)
- Param defaults: Airflow Variable `mindpulse_<param>`, else environment MINDPULSE_<PARAM>, else the
  step declaration's default (see `setting`).
Not read at parse time: the webhook. The Airflow Connection `mindpulse_webhook` (created from
MINDPULSE_WEBHOOK_URL at init) is read when a notify step runs, and when an alert is sent (mindpulse_alerts).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.exceptions import AirflowFailException
from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import DAG, Asset, AssetAlias, BaseOperator, Param, Variable
from docker import APIClient
from docker.errors import DockerException, NotFound
from docker.types import Mount
from mindpulse_alerts import WebhookNotifier, configured_webhook, deadline_alert
from mindpulse_cluster import ClusterSettingError, check_worker_host, queue_routing, registry_prefix, runs_on_celery

from mindpulse import alerts, catalog, sandbox
from mindpulse.parameters import Parameter
from mindpulse.paths import VOLUME_DIRS
from mindpulse.protocol import SKIP_EXIT_CODE

START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
log = logging.getLogger(__name__)

# The model that serving loads. The reporting DAG is scheduled on it, so the reports never describe
# a model that is gone. Steps that may change it (train_new_model: only when the gate promotes;
# rollback_model) declare the alias as outlet and emit an event for the asset only when they did.
CURRENT_MODEL = Asset(name="mindpulse_current_model", uri="file:///models/current", group="model")
MODEL_CHANGES = AssetAlias(name="mindpulse_model_changes")

# The named volume behind each of the steps' volumes.
_VOLUME_NAMES = {
    volume: os.environ.get(f"MINDPULSE_{volume.upper()}_VOLUME", f"mindpulse_{volume}") for volume in VOLUME_DIRS
}
# Labels on every step container. The data volume's name tells apart deployments sharing one engine (each
# has its own volumes), so one deployment never removes another's containers.
STEP_LABEL, DAG_LABEL, DEPLOYMENT_LABEL = "org.mindpulse.step", "org.mindpulse.dag", "org.mindpulse.deployment"
DEPLOYMENT = _VOLUME_NAMES["data"]
LEFTOVER_MAX_AGE = timedelta(hours=float(os.environ.get("MINDPULSE_LEFTOVER_CONTAINER_HOURS", "24")))
# python: the benchmark's peer only (mindpulse_python_runner), never a deployment.
RUNNERS = ("docker", "kubernetes", "python")


def _runner() -> str:
    runner = os.environ.get("MINDPULSE_RUNNER", "").strip() or RUNNERS[0]
    if runner not in RUNNERS:
        raise ValueError(f"setting MINDPULSE_RUNNER={runner!r}: must be one of {', '.join(RUNNERS)}")
    return runner


RUNNER = _runner()


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

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mindpulse",
    "retries": int(os.environ.get("MINDPULSE_TASK_RETRIES", "2")),
    "retry_delay": timedelta(seconds=int(os.environ.get("MINDPULSE_TASK_RETRY_SECONDS", "300"))),
}


def pipeline_dag(pipeline: catalog.Pipeline, **kwargs: Any) -> DAG:
    """The DAG of `pipeline`, with what every MindPulse DAG shares: start date, no catch-up, one run at a
    time, the default task arguments, the trigger form (one Param per form parameter its steps declare) and
    one alert per failed run (mindpulse_alerts). Other keyword arguments go to DAG (schedule, description,
    tags, doc_md, deadline, ...)."""
    names = tuple(step.name for step in catalog.steps_of(pipeline))
    defaults: dict[str, Any] = {
        "dag_id": pipeline.dag_id,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "user_defined_macros": {"step_results": step_results},
        # DAG level, not task level: it fires once per failed run, with the task that failed.
        "on_failure_callback": WebhookNotifier(),
        "params": {name: form_param(parameter) for name, parameter in catalog.form_parameters(names).items()},
    }
    return DAG(**{**defaults, **kwargs})


def form_param(parameter: Parameter) -> Param:
    """The trigger-form field of a step parameter: validated by the same bounds the step checks. A required
    parameter without a default gets none, so a run cannot start until a person fills it in."""
    default = setting(parameter) if parameter.configurable else parameter.default
    return Param(
        *(() if default is None and parameter.required else (default,)),
        title=parameter.title or parameter.name,
        description=parameter.help[:1].upper() + parameter.help[1:] + ".",
        **parameter.json_schema(),
    )


def setting(parameter: Parameter) -> Any:
    """The form's default for `parameter`, changeable without editing code.

    Looked up, in order: Airflow Variable `mindpulse_<name>` (Admin > Variables in the UI), environment
    variable MINDPULSE_<NAME>, the declared default; parsed and checked like the step would. This runs at
    parse time on purpose, so the trigger form shows the value a scheduled run will use: a handful of
    lookups per parse of two files.
    """
    name = parameter.name
    fallback = os.environ.get(f"MINDPULSE_{name.upper()}", "")
    raw = str(Variable.get(f"mindpulse_{name}", default=fallback)).strip()
    if not raw:
        return parameter.default
    try:
        return parameter.parse(raw)
    except ValueError as error:
        raise ValueError(f"setting mindpulse_{name} (Airflow Variable or MINDPULSE_{name.upper()}): {error}") from None


def run_deadline(setting: str, default_minutes: int) -> list[Any]:
    """The deadline alert of a DAG: environment `setting` in minutes after the run was queued, else
    `default_minutes`; 0 means none. Read at parse time like the schedule."""
    raw = os.environ.get(setting, "").strip() or str(default_minutes)
    if not raw.isdigit():
        raise ValueError(f"setting {setting}={raw!r}: must be a whole number of minutes (0: no deadline alert)")
    minutes = int(raw)
    return [deadline_alert(timedelta(minutes=minutes))] if minutes else []


def image(step: str) -> str:
    """The image of a step: [<MINDPULSE_REGISTRY>/]mindpulse/<step name with dashes>:<tag>."""
    name = f"{catalog.step(step).image_name}:{IMAGE_TAG}"
    return f"{REGISTRY}/{name}" if REGISTRY else name


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
        return self._client.create_host_config(*args, **{**kwargs, **self._lockdown})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def step_task(task_id: str, **kwargs: Any) -> BaseOperator:
    """The task that runs step `task_id` on the configured runner (MINDPULSE_RUNNER); see docker_step,
    mindpulse_kubernetes.pod_step and, for the benchmark's peer only, mindpulse_python_runner.python_step.
    Other keyword arguments go to the operator (trigger_rule, outlets, ...)."""
    if RUNNER == "python":
        from mindpulse_python_runner import python_step

        return python_step(task_id, step_environment(catalog.step(task_id))[0], **kwargs)
    if RUNNER == "kubernetes":
        # Imported here: mindpulse_kubernetes builds on this module (step_arguments, step_environment).
        from mindpulse_kubernetes import pod_step

        return pod_step(task_id, **kwargs)
    return docker_step(task_id, **kwargs)


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
