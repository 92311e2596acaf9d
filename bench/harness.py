"""What the benchmark sections share: the run they belong to, repeated timings, throwaway Docker volumes
and folders, demo data seeded into them, and one step called in-process in a child interpreter.

Every timing is repeated (`Run.repeat`) and reported as median with min and max; nothing here publishes a
figure on its own.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import median_range
from mindpulse import catalog, sandbox

REPO = Path(__file__).resolve().parents[1]
PRODUCTION_SHARE = 0.05
STAMP = "20260101_000000"
STEP_TIMEOUT = 1800
# A timing longer than this is repeated fewer times (the rule: 5 runs, 3 for runs over a minute).
LONG_RUN_S = 60.0
REPEATS, LONG_REPEATS = 5, 3

RETRAIN_STEPS = tuple(step.name for step in catalog.steps_of(catalog.RETRAIN))
REPORTING_STEPS = tuple(step.name for step in catalog.steps_of(catalog.REPORTING))
PIPELINE_STEPS = {"retrain": RETRAIN_STEPS, "reporting": REPORTING_STEPS}
# How the DAGs start every step container: the sandbox, and no network.
LOCKDOWN = ("--network=none", *sandbox.docker_run_flags())


def spread(samples: list[float]) -> dict[str, Any]:
    """A repeated timing as published: median with min and max, and every sample."""
    return median_range(samples) | {"samples": samples}


def fixed(value: float, digits: int, sign: str = "") -> str:
    """`value` with `digits` decimals, never "-0.000": a difference that rounds to zero is printed as zero."""
    return f"{round(value, digits) + 0.0:{sign}.{digits}f}"


def span(figure: dict[str, Any], digits: int = 2) -> str:
    """A repeated timing as text: median (min-max), or the one sample; "min to max" when the range holds a
    negative number, which a hyphen would make unreadable."""
    median, low, high = (fixed(figure[key], digits) for key in ("median", "min", "max"))
    if figure["n"] == 1:
        return median
    return f"{median} ({low} to {high})" if figure["min"] < 0 else f"{median} ({low}-{high})"


@dataclass
class Run:
    """One invocation of the benchmark: the image tag it measures, whether it is a smoke run, and the
    scratch space every section works in (removed at the end)."""

    tag: str
    smoke: bool
    # When the invocation started: sections measured by one invocation share it.
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mindpulse-bench-")))
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def repeats(self, first_seconds: float) -> int:
        """How many samples a timing gets, judged on its first: a smoke run takes one."""
        if self.smoke:
            return 1
        return LONG_REPEATS if first_seconds > LONG_RUN_S else REPEATS

    def repeat(self, measure: Callable[[int], float]) -> dict[str, Any]:
        """Call `measure(index)` until the timing has its repeats; `spread` of the seconds it returned."""
        samples = [measure(0)]
        while len(samples) < self.repeats(samples[0]):
            samples.append(measure(len(samples)))
        return spread(samples)

    def image(self, step: str) -> str:
        return f"{catalog.step(step).image_name}:{self.tag}"

    def close(self) -> None:
        for name in self.volumes:
            docker("volume", "rm", "--force", name, check=False)
        for name in self.images:
            docker("image", "rm", "--force", name, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def docker(*arguments: str, timeout: int = STEP_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(["docker", *arguments], capture_output=True, text=True, timeout=timeout)
    if check and completed.returncode != 0:
        raise RuntimeError(f"docker {' '.join(arguments[:3])} failed:\n{completed.stderr[-3000:]}")
    return completed


class Volumes:
    """A throwaway named volume per volume of the steps, filled from a host folder; removed with the run."""

    def __init__(self, run: Run, source: Path) -> None:
        from mindpulse.paths import VOLUME_DIRS

        token = uuid.uuid4().hex[:8]
        self.names = {kind: f"mindpulse-bench-{token}-{kind}" for kind in VOLUME_DIRS}
        for name in self.names.values():
            docker("volume", "create", name)
            run.volumes.append(name)
        mounts = self.mounts() + [f"--volume={source / kind}:/from/{kind}:ro" for kind in self.names]
        copy = " && ".join(f"cp -a /from/{kind}/. /{kind}/" for kind in self.names)
        docker(
            "run", "--rm", "--network=none", "--user=root", *mounts, f"mindpulse/family-base:{run.tag}",
            "sh", "-c", f"{copy} && chown -R 10001:10001 {' '.join(f'/{kind}' for kind in self.names)}",
        )  # fmt: skip

    def mounts(self) -> list[str]:
        return [f"--volume={name}:/{kind}" for kind, name in self.names.items()]

    def remove(self, run: Run) -> None:
        for name in self.names.values():
            docker("volume", "rm", "--force", name, check=False)
            run.volumes.remove(name)

    def environment(self) -> dict[str, str]:
        """How the DAGs are pointed at these volumes (mindpulse_dag_support reads it)."""
        return {f"MINDPULSE_{kind.upper()}_VOLUME": name for kind, name in self.names.items()}


# --- data ------------------------------------------------------------------------------------------
def make_layout(folder: Path) -> Any:
    from mindpulse.paths import Layout

    layout = Layout.under(folder)
    for path in layout.volume_dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return layout


def seed_model(folder: Path, rows: int) -> Path:
    """A first model, trained once on a small reference and shared by every size: seeding stays cheap."""
    from mindpulse import atomic, registry
    from mindpulse.demo import synthetic
    from mindpulse.retrain import fit, training

    layout = make_layout(folder)
    registry.establish_trust(layout)
    frame = synthetic.generate_reference(rows, 42)
    atomic.write_with(layout.reference_data, lambda path: frame.to_csv(path, index=False))
    training.train_and_register(layout, layout.reference_data, None, fit.TrainingSettings(), {"trained_by": "bench"})
    return folder


def seed_rows(folder: Path, model_folder: Path, rows: int) -> int:
    """Reference data of `rows` rows, production of 5% of it (labelled, undrifted), the shared model.
    Returns the number of production rows."""
    from mindpulse import atomic, production, schema
    from mindpulse.demo import synthetic
    from mindpulse.retrain import model_file

    layout = make_layout(folder)
    # The model, and the key pair it is signed with.
    for kind in ("models", "trust", "signing"):
        shutil.rmtree(folder / kind)
        shutil.copytree(model_folder / kind, folder / kind, symlinks=True)
    frame = synthetic.generate_reference(rows, 42)
    atomic.write_with(layout.reference_data, lambda path: frame.to_csv(path, index=False))
    layout.production_lock.touch()
    production_rows = max(1, round(rows * PRODUCTION_SHARE))
    model = model_file.load(layout)
    traffic = synthetic.generate_production(production_rows, model.predict, seed=7)
    lines = traffic.to_csv(index=False, header=False).encode()
    production.append_lines(layout, schema.header_line(schema.PRODUCTION_COLUMNS), lines)
    return production_rows


def retrain_threshold(production_rows: int) -> int:
    """A threshold every seeded data set reaches, so the retrain runs end to end."""
    return min(1000, production_rows)


def copy_folder(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=True)
    return target


# --- one step, as the DAGs would hand it its parameters ---------------------------------------------
def step_overrides(step: str, threshold: int) -> dict[str, Any]:
    """What the DAGs hand a step besides its declared defaults: the retrain threshold under test, and a
    fixed stamp for the reporting steps (so the summary finds the reports of the same run)."""
    declared = {parameter.name for parameter in catalog.step(step).parameters}
    values: dict[str, Any] = {}
    if "retrain_threshold" in declared:
        values["retrain_threshold"] = threshold
    if step in REPORTING_STEPS and "run_stamp" in declared:
        values["run_stamp"] = STAMP
    return values


def step_environment(step: str, threshold: int) -> dict[str, str]:
    names = {parameter.name: parameter.env for parameter in catalog.step(step).parameters}
    return {names[name]: str(value) for name, value in step_overrides(step, threshold).items()}


def call_step(step: str, threshold: int) -> dict[str, Any]:
    """In this interpreter: import what the entrypoint imports (and what the step imports lazily), then
    time only the step function. Prints nothing; the caller reads the returned figures."""
    from mindpulse.paths import Layout
    from mindpulse.protocol import NothingToDo, frozen_imports, step_function

    declared = catalog.step(step)
    # Imported as the entrypoint imports (mindpulse.protocol.main). A step that imports Evidently inside its
    # function (bad input fails before the slow import) gets it here too: the clock starts after every import.
    body = step_function(declared)
    if declared.family == "evidently":
        with frozen_imports():
            importlib.import_module("evidently")
    values = declared.defaults() | step_overrides(step, threshold)
    layout = Layout.from_env()
    started = time.perf_counter()
    try:
        body(layout, **values)
        status = "success"
    except NothingToDo:
        status = "skipped"
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "status": status, "peak_mb": peak_mb}


def in_process(step: str, folder: Path, threshold: int) -> dict[str, Any]:
    """`call_step` in a child interpreter on the host folder's data, so its peak memory is its own."""
    environment = os.environ | make_layout(folder).environment()
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from bench import harness; "
        "print(json.dumps(harness.call_step(sys.argv[2], int(sys.argv[3]))))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(REPO), step, str(threshold)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{step} in-process failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def in_container(run: Run, step: str, volumes: Volumes, threshold: int) -> dict[str, Any]:
    """Wall time of `docker run` as the DAG starts the step: locked down, no network; created, started,
    waited for and removed."""
    environment = [f"--env={name}={value}" for name, value in step_environment(step, threshold).items()]
    started = time.perf_counter()
    completed = docker("run", "--rm", *LOCKDOWN, *volumes.mounts(), *environment, run.image(step), check=False)
    seconds = time.perf_counter() - started
    if completed.returncode not in (0, 99):
        raise RuntimeError(f"{run.image(step)} exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    return {"seconds": seconds, "status": "success" if completed.returncode == 0 else "skipped"}
