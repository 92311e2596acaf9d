"""What a step declaration is: a `Step` of a `Pipeline`, on an image family, with its volumes and parameters.

Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mindpulse import results
from mindpulse.parameters import Parameter

Volume = Literal["data", "models", "reports", "trust", "signing"]
Family = Literal["base", "pandas", "ml", "evidently"]
# The family images, each adding one layer of libraries to the one before.
FAMILIES: tuple[Family, ...] = ("base", "pandas", "ml", "evidently")


@dataclass(frozen=True)
class Pipeline:
    """A DAG (or, for the demo tools, none) and the folder of tasks/ its steps live in."""

    dag_id: str | None
    folder: str


RETRAIN = Pipeline("ml_retrain_pipeline", "retrain")
REPORTING = Pipeline("evidently_reporting_pipeline", "reporting")
MAINTENANCE = Pipeline("mindpulse_maintenance", "maintenance")
ROLLBACK = Pipeline("model_rollback", "retrain")
# Steps of the retrain folder that no DAG runs: a person runs them with `docker run`.
AUDIT = Pipeline(None, "retrain")
DEMO = Pipeline(None, "demo")


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    pipeline: Pipeline
    family: Family
    # The module of the step's function, which is named exactly like the step and called as
    # function(layout, **parameters); imported only when the step runs, so `--help` is instant and a
    # pandas-free image never imports pandas.
    module: str
    # First line: what the step does. The rest: inputs, outputs, exit codes, shown by --help.
    doc: str
    result: type[results.Result]
    reads: tuple[Volume, ...] = ()
    writes: tuple[Volume, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    memory: str = "2g"
    # CPU cores the step may use. Applied on Kubernetes only (request and limit of the pod), where steps share
    # nodes with other tenants and the scheduler places pods by it; the Docker runner leaves CPU to the kernel's
    # fair scheduler, since on one machine a quota would only idle cores no other step asks for.
    cpus: float = 1.0
    timeout_minutes: int = 30

    @property
    def image_name(self) -> str:
        """The image without its tag: mindpulse/<name with dashes>."""
        return "mindpulse/" + self.name.replace("_", "-")

    @property
    def folder(self) -> str:
        """The step's folder, relative to the repository root."""
        return f"tasks/{self.pipeline.folder}/{self.name}"

    @property
    def volumes(self) -> tuple[Volume, ...]:
        return self.reads + self.writes

    def defaults(self) -> dict[str, Any]:
        """Every parameter's declared default: the step function's keyword arguments when nothing is set."""
        return {parameter.name: parameter.default for parameter in self.parameters}

    @property
    def network(self) -> bool:
        """Whether the step may need a network: only to post to a webhook, and only when one is configured."""
        return any(parameter.secret for parameter in self.parameters)
