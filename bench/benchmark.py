"""The MindPulse benchmark: what running every step in its own container costs, and how far it scales.

One command, from the repository root, after ./build_images.sh:
    .venv/bin/python bench/benchmark.py            # the full run (about 15 minutes on 2 cores)
    .venv/bin/python bench/benchmark.py --smoke    # tiny data, no DAG runs, no fat-image build (~1 minute)
It writes bench/results/benchmark.json and bench/results/benchmark.md (or --out DIR). What each
section measures and how is in bench/README.md.

Needs the Docker engine and the built images; the DAG section also needs .venv-airflow (or
MINDPULSE_AIRFLOW_PYTHON naming the interpreter of an Airflow install). Everything it creates
(volumes, the Airflow home, scratch directories, the warm-rebuild image) is removed at the end; the
fat comparison image mindpulse-bench/fat is kept so the next run reuses it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mindpulse import catalog
from mindpulse.parameters import DRIFT_THRESHOLD

REPO = Path(__file__).resolve().parents[1]
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()
FAT_IMAGE = "mindpulse-bench/fat:latest"
WARM_IMAGE = "mindpulse-bench/warm-rebuild:latest"
PRODUCTION_SHARE = 0.05
STAMP = "20260101_000000"

# Every step list and family comes from the step declarations.
RETRAIN_STEPS = tuple(step.name for step in catalog.steps_of(catalog.RETRAIN))
REPORTING_STEPS = tuple(step.name for step in catalog.steps_of(catalog.REPORTING))
STEP_FAMILY = {step.name: step.family for step in catalog.STEPS}
FAMILIES = catalog.FAMILIES
STEP_TIMEOUT = 900


def image_of(step: str) -> str:
    return f"{catalog.step(step).image_name}:{TAG}"


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


# --- one step in-process: run in a child interpreter so its peak memory is its own ------------------
# The Evidently steps' modules import it inside the step function (so bad input fails before the slow
# import); import it before the clock starts, as for every other library.
LAZY_IMPORTS = {"detect_drift": ("mindpulse.drift",)}


def call_step(step: str, threshold: int) -> dict[str, Any]:
    """Import what the entrypoint imports, then time only the step function: the pure-compute lower bound."""
    from mindpulse.paths import Layout
    from mindpulse.protocol import NothingToDo

    declared = catalog.step(step)
    module_name, function = declared.call.split(":")
    body = getattr(importlib.import_module(module_name), function)
    for lazy in LAZY_IMPORTS.get(step, ()):
        importlib.import_module(lazy)
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
    environment = os.environ | {
        "MINDPULSE_DATA_DIR": str(folder / "data"),
        "MINDPULSE_MODELS_DIR": str(folder / "models"),
        "MINDPULSE_REPORTS_DIR": str(folder / "reports"),
    }
    try:
        completed = subprocess.run(
            [sys.executable, __file__, "--call", step, "--threshold", str(threshold)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": None, "status": f"timeout after {STEP_TIMEOUT} s", "peak_mb": None}
    if completed.returncode != 0:
        raise RuntimeError(f"{step} in-process failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- data ------------------------------------------------------------------------------------------
def seed_model(folder: Path, rows: int) -> None:
    """A first model, trained once on a small reference and shared by every scale: seeding stays cheap."""
    from mindpulse import atomic, demo_data, training

    layout = make_layout(folder)
    frame = demo_data.generate_reference(rows, 42)
    atomic.write_with(layout.reference_data, lambda path: frame.to_csv(path, index=False))
    training.train_and_register(
        layout, layout.reference_data, None, training.TrainingSettings(), {"trained_by": "bench"}
    )


def make_layout(folder: Path) -> Any:
    from mindpulse.paths import Layout

    for kind in ("data", "models", "reports"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    return Layout(folder / "data", folder / "models", folder / "reports")


def seed_scale(folder: Path, model_folder: Path, rows: int) -> int:
    """Reference data of `rows` rows, production of 5% of it (labelled, undrifted); the shared model."""
    from mindpulse import atomic, demo_data, production, schema, training

    layout = make_layout(folder)
    shutil.rmtree(folder / "models")
    shutil.copytree(model_folder / "models", folder / "models", symlinks=True)
    frame = demo_data.generate_reference(rows, 42)
    atomic.write_with(layout.reference_data, lambda path: frame.to_csv(path, index=False))
    layout.production_lock.touch()
    production_rows = max(1, round(rows * PRODUCTION_SHARE))
    model = training.load_current_model(layout)
    traffic = demo_data.generate_production(production_rows, model.predict, seed=7)
    lines = traffic.to_csv(index=False, header=False).encode()
    production.append_lines(layout, schema.header_line(schema.PRODUCTION_COLUMNS), lines)
    return production_rows


def copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


# --- Docker ----------------------------------------------------------------------------------------
def docker(*arguments: str, timeout: int = STEP_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(["docker", *arguments], capture_output=True, text=True, timeout=timeout)
    if check and completed.returncode != 0:
        raise RuntimeError(f"docker {' '.join(arguments[:3])} failed:\n{completed.stderr[-3000:]}")
    return completed


class Volumes:
    """Three throwaway named volumes filled from a host folder; removed by `Scratch`."""

    def __init__(self, scratch: Scratch, source: Path) -> None:
        token = uuid.uuid4().hex[:8]
        self.names = {kind: f"mindpulse-bench-{token}-{kind}" for kind in ("data", "models", "reports")}
        for name in self.names.values():
            docker("volume", "create", name)
            scratch.volumes.append(name)
        mounts = [f"--volume={name}:/{kind}" for kind, name in self.names.items()]
        mounts += [f"--volume={source / kind}:/from/{kind}:ro" for kind in self.names]
        copy = " && ".join(f"cp -a /from/{kind}/. /{kind}/" for kind in self.names)
        docker(
            "run", "--rm", "--network=none", "--user=root", *mounts, f"mindpulse/family-base:{TAG}",
            "sh", "-c", f"{copy} && chown -R 10001:10001 /data /models /reports",
        )  # fmt: skip

    def mounts(self) -> list[str]:
        return [f"--volume={name}:/{kind}" for kind, name in self.names.items()]


def in_container(step: str, volumes: Volumes, threshold: int) -> dict[str, Any]:
    """Wall time of `docker run` as the scheduler would start the step: create, start, wait, remove."""
    environment = [f"--env={name}={value}" for name, value in step_environment(step, threshold).items()]
    started = time.perf_counter()
    completed = docker("run", "--rm", "--network=none", *volumes.mounts(), *environment, image_of(step), check=False)
    seconds = time.perf_counter() - started
    if completed.returncode not in (0, 99):
        raise RuntimeError(f"{image_of(step)} exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    return {"seconds": seconds, "status": "success" if completed.returncode == 0 else "skipped"}


class Scratch:
    """Everything the benchmark creates, so it can all go at the end."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mindpulse-bench-"))
        self.volumes: list[str] = []

    def close(self) -> None:
        for name in self.volumes:
            docker("volume", "rm", "--force", name, check=False)
        docker("image", "rm", "--force", WARM_IMAGE, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


# --- section 1: container overhead per step ---------------------------------------------------------
def measure_overhead(
    scratch: Scratch, seed: Path, threshold: int, runs: int, pipelines: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    """Each pipeline's steps in order, in-process and as containers, `runs` times each on fresh copies."""
    samples: dict[str, dict[str, list[float]]] = {}
    statuses: dict[str, str] = {}
    first_run: dict[str, Any] = {}
    for run in range(runs):
        for pipeline, steps in pipelines.items():
            folder = copy_folder(seed, scratch.folder / f"overhead-{pipeline}-{run}")
            volumes = Volumes(scratch, seed)
            for step in steps:
                local = in_process(step, folder, threshold)
                contained = in_container(step, volumes, threshold)
                if local["status"] != contained["status"]:
                    raise RuntimeError(f"{step}: in-process {local['status']}, container {contained['status']}")
                statuses[step] = local["status"]
                first_run.setdefault(step, local)
                entry = samples.setdefault(step, {"in_process": [], "container": []})
                entry["in_process"].append(local["seconds"])
                entry["container"].append(contained["seconds"])
    steps = {}
    for step, entry in samples.items():
        local, contained = statistics.median(entry["in_process"]), statistics.median(entry["container"])
        steps[step] = {
            "family": STEP_FAMILY[step],
            "status": statuses[step],
            "in_process_s": local,
            "container_s": contained,
            "overhead_s": contained - local,
        }
    overheads = [entry["overhead_s"] for entry in steps.values()]
    parts = overhead_parts(runs)
    for entry in steps.values():
        entry["net_of_imports_s"] = entry["overhead_s"] - parts["imports"][entry["family"]]["import_in_container_s"]
    return {
        "runs": runs,
        "steps": steps,
        "median_overhead_s": statistics.median(overheads),
        "median_net_of_imports_s": statistics.median(entry["net_of_imports_s"] for entry in steps.values()),
        "first_run_in_process": first_run,
        "parts": parts,
    }


# What a step imports before its function runs, by family (the in-process figures exclude it): the
# modules its declared function lives in.
FAMILY_IMPORTS = {
    family: ", ".join(sorted({step.call.split(":")[0] for step in catalog.STEPS if step.family == family}))
    for family in FAMILIES
}
IMPORT_SCRIPT = "import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"


def overhead_parts(runs: int) -> dict[str, Any]:
    """Where the overhead goes: the bare container lifecycle (`docker run` of a no-op) and, per family,
    starting Python and importing what the steps import, in the container and on the host."""
    lifecycle = []
    for _ in range(runs):
        started = time.perf_counter()
        docker("run", "--rm", "--network=none", "--entrypoint=true", f"mindpulse/family-base:{TAG}")
        lifecycle.append(time.perf_counter() - started)
    families = {}
    for family, modules in FAMILY_IMPORTS.items():
        script = IMPORT_SCRIPT.format(modules=modules)
        contained, host = [], []
        for _ in range(runs):
            output = docker(
                "run", "--rm", "--network=none", "--entrypoint=python", f"mindpulse/family-{family}:{TAG}", "-c", script
            ).stdout
            contained.append(float(output.strip().splitlines()[-1]))
            output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
            host.append(float(output.strip().splitlines()[-1]))
        families[family] = {
            "import_in_container_s": statistics.median(contained),
            "import_on_host_s": statistics.median(host),
        }
    return {"bare_container_s": statistics.median(lifecycle), "imports": families}


# --- section 1b: whole DAGs with `airflow dags test` ------------------------------------------------
def airflow_executable() -> Path:
    configured = os.environ.get("MINDPULSE_AIRFLOW_PYTHON")
    return Path(configured).with_name("airflow") if configured else REPO / ".venv-airflow" / "bin" / "airflow"


def measure_dags(scratch: Scratch, seed: Path, threshold: int, lower_bounds: dict[str, float]) -> dict[str, Any]:
    home = scratch.folder / "airflow-home"
    home.mkdir()
    base = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW_", "MINDPULSE_"))}
    base |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestrator" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MINDPULSE_IMAGE_TAG": TAG,
        "MINDPULSE_TASK_RETRIES": "0",
        "MINDPULSE_RETRAIN_THRESHOLD": str(threshold),
        # `dags test` cannot finish a DAG with a deadline alert (see tests/integration/airflow_harness.py).
        "MINDPULSE_RETRAIN_DEADLINE": "0",
        "MINDPULSE_REPORTING_DEADLINE": "0",
    }

    def airflow(*arguments: str, environment: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        completed = subprocess.run(
            [str(airflow_executable()), *arguments],
            env=base | (environment or {}),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(arguments)} failed:\n{completed.stdout[-3000:]}")
        return time.perf_counter() - started

    airflow("db", "migrate")
    # Parsing and the run bookkeeping without any step: what `dags test` costs around the containers.
    result: dict[str, Any] = {}
    for dag_id, key in (("ml_retrain_pipeline", "retrain"), ("evidently_reporting_pipeline", "reporting")):
        volumes = Volumes(scratch, seed)
        environment = {
            "MINDPULSE_DATA_VOLUME": volumes.names["data"],
            "MINDPULSE_MODELS_VOLUME": volumes.names["models"],
            "MINDPULSE_REPORTS_VOLUME": volumes.names["reports"],
        }
        seconds = airflow("dags", "test", dag_id, environment=environment)
        with sqlite3.connect(home / "airflow.db") as db:
            (state,) = db.execute(
                "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            tasks = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)))
        result[key] = {
            "dag_id": dag_id,
            "state": state,
            "tasks": tasks,
            "wall_s": seconds,
            "in_process_s": lower_bounds[key],
            "ratio": seconds / lower_bounds[key],
        }
    return result


# --- section 2: image sizes -------------------------------------------------------------------------
def python_base() -> str:
    """The base build_images.sh chose: the official image where present, else the locally built one."""
    for image in ("python:3.11-slim-bookworm", "mindpulse/python:3.11-bookworm"):
        if docker("image", "inspect", image, check=False).returncode == 0:
            return image
    raise RuntimeError("no Python base image: run ./build_images.sh first")


EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


def layer_sizes(images: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Each image's layers, oldest first, as (diff id, bytes). The engine's history lists a size for every
    build step; the steps that made a non-empty layer are the ones with a size, in the same order."""
    import docker as docker_sdk

    client = docker_sdk.from_env()
    try:
        result = {}
        for image in images:
            layers = client.images.get(image).attrs["RootFS"]["Layers"]
            sizes = [entry["Size"] for entry in reversed(client.api.history(image)) if entry["Size"] > 0]
            non_empty = [layer for layer in layers if layer != EMPTY_LAYER]
            if len(sizes) != len(non_empty):
                raise RuntimeError(f"{image}: {len(non_empty)} non-empty layers but {len(sizes)} sized history steps")
            filled = iter(sizes)
            result[image] = [(layer, 0 if layer == EMPTY_LAYER else next(filled)) for layer in layers]
        return result
    finally:
        client.close()


def measure_images(base: str, fat_available: bool) -> dict[str, Any]:
    """Sizes per layer, so a layer shared by several images (the Python base, the family layers) counts once
    in the total. An image's own bytes are those of its layers that its parent does not have."""
    steps = list(STEP_FAMILY)
    families = [f"mindpulse/family-{family}:{TAG}" for family in FAMILIES]
    airflow = f"mindpulse/airflow:{TAG}"
    images = [base, *families, *map(image_of, steps), airflow]
    layers = layer_sizes(images + ([FAT_IMAGE] if fat_available else []))

    def size(image: str) -> int:
        return sum(bytes_ for _, bytes_ in layers[image])

    def own(image: str, parent: str) -> dict[str, Any]:
        inherited = {layer for layer, _ in layers[parent]}
        extra = sum(bytes_ for layer, bytes_ in layers[image] if layer not in inherited)
        return {"size_bytes": size(image), "parent": parent, "own_bytes": extra}

    unique = dict(pair for image in images for pair in layers[image])
    ml_check = docker(
        "run", "--rm", "--network=none", "--entrypoint=python", airflow, "-c",
        "import importlib.util, json; print(json.dumps([m for m in ('pandas', 'numpy', 'sklearn', 'xgboost',"
        " 'evidently') if importlib.util.find_spec(m)]))",
    )  # fmt: skip
    result: dict[str, Any] = {
        "python_base": {"image": base, "size_bytes": size(base)},
        "families": {
            family: own(image, families[index - 1] if index else base)
            for index, (family, image) in enumerate(zip(FAMILIES, families, strict=True))
        },
        "steps": {
            step: own(image_of(step), f"mindpulse/family-{STEP_FAMILY[step]}:{TAG}") | {"family": STEP_FAMILY[step]}
            for step in steps
        },
        "airflow": own(airflow, base) | {"ml_libraries": json.loads(ml_check.stdout.strip())},
        "unique_total_bytes": sum(unique.values()),
        "steps_and_families_bytes": sum(
            bytes_ for layer, bytes_ in unique.items() if layer not in {name for name, _ in layers[airflow]}
        )
        + size(base),
    }
    result["max_step_own_bytes"] = max(entry["own_bytes"] for entry in result["steps"].values())
    if fat_available:
        result["fat"] = {"image": FAT_IMAGE, "size_bytes": size(FAT_IMAGE)}
    return result


def build_fat_image(scratch: Scratch, base: str) -> dict[str, Any]:
    """Airflow + every ML library in one venv, on the same Python base; reused when already built."""
    if docker("image", "inspect", FAT_IMAGE, check=False).returncode == 0:
        return {"built": False, "note": f"{FAT_IMAGE} already present, reused"}
    context = scratch.folder / "fat-context"
    context.mkdir()
    shutil.copy(REPO / "bench" / "fat-image" / "Dockerfile", context / "Dockerfile")
    shutil.copy(REPO / "orchestrator" / "requirements.txt", context / "airflow-requirements.txt")
    shutil.copy(REPO / "orchestrator" / "constraints.txt", context / "airflow-constraints.txt")
    for name in ("base", "pandas", "ml", "evidently", "constraints"):
        shutil.copy(REPO / "tasks" / "requirements" / f"{name}.txt", context / f"tasks-{name}.txt")
    secret = []
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            secret = [f"--secret=id=pip_ca,src={candidate}"]
            break
    started = time.perf_counter()
    docker(
        "buildx", "build", f"--build-arg=PYTHON_BASE={base}", *secret, f"--tag={FAT_IMAGE}", str(context),
        timeout=3600,
    )  # fmt: skip
    return {"built": True, "seconds": time.perf_counter() - started}


def fat_image_conflicts() -> list[str]:
    """Packages the ML install moved away from Airflow's pins in the fat image."""
    output = docker(
        "run", "--rm", "--network=none", "--entrypoint=sh", FAT_IMAGE, "-c",
        "cat /opt/freeze-airflow.txt; echo ---; cat /opt/freeze-all.txt",
    ).stdout  # fmt: skip
    before_text, after_text = output.split("---")

    def pins(text: str) -> dict[str, str]:
        return dict(line.split("==", 1) for line in text.split() if "==" in line)

    before, after = pins(before_text), pins(after_text)
    return sorted(
        f"{name} {before[name]} -> {after[name]}" for name in before if after.get(name, before[name]) != before[name]
    )


# --- section 3: build times -------------------------------------------------------------------------
def measure_warm_rebuild(scratch: Scratch) -> dict[str, Any]:
    """Rebuild one step image after editing its entrypoint, in a copy: the repository is never touched.
    Built like build_images.sh builds a step (same builder, same Dockerfile, same family base)."""
    step = "train_new_model"
    copy = scratch.folder / "warm-rebuild"
    shutil.copytree(REPO / "tasks" / "retrain" / step, copy)
    with open(copy / "entrypoint.py", "a") as handle:
        handle.write(f"# edited by the benchmark at {datetime.now(UTC).isoformat()}\n")
    started = time.perf_counter()
    docker(
        "buildx", "build", f"--file={REPO / 'tasks' / 'common' / 'step.Dockerfile'}",
        f"--build-arg=FAMILY={STEP_FAMILY[step]}", f"--build-arg=TAG={TAG}", f"--tag={WARM_IMAGE}", str(copy),
        timeout=600,
    )  # fmt: skip
    return {"step": step, "seconds": time.perf_counter() - started}


# Measured once by hand on this machine (2 cores) with an empty build cache; not rerun by the benchmark
# because it downloads every wheel again.
EARLIER_COLD_BUILD = {
    "full_build_s": 265,
    "debootstrap_base_s": 136,
    "source": "an earlier run of ./build_images.sh with nothing cached, not measured by this run",
}


# --- section 4: scale -------------------------------------------------------------------------------
def measure_scale(
    scratch: Scratch, model_seed: Path, sizes: list[int], measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """In-process time and peak memory of every step per size; `measured` holds sizes already run."""
    result: dict[str, Any] = dict(measured or {})
    for rows in sizes:
        if str(rows) in result:
            continue
        seed = scratch.folder / f"scale-{rows}"
        production_rows = seed_scale(seed, model_seed, rows)
        threshold = min(1000, production_rows)
        steps: dict[str, Any] = {}
        for pipeline, names in (("retrain", RETRAIN_STEPS), ("reporting", REPORTING_STEPS)):
            folder = copy_folder(seed, scratch.folder / f"scale-{rows}-{pipeline}")
            for step in names:
                steps[step] = in_process(step, folder, threshold)
            shutil.rmtree(folder)
        result[str(rows)] = {"production_rows": production_rows, "steps": steps}
        shutil.rmtree(seed)
        print(f"  scale {rows}: {json.dumps({s: round(v['seconds'] or -1, 1) for s, v in steps.items()})}")
    return result


def growth_exponents(scale: dict[str, Any]) -> dict[str, float | None]:
    """Per step, the exponent k in time ~ rows^k between the two largest sizes (1 = linear)."""
    sizes = sorted(scale, key=int)
    if len(sizes) < 2:
        return {}
    low, high = sizes[-2], sizes[-1]
    exponents: dict[str, float | None] = {}
    for step in scale[high]["steps"]:
        a, b = scale[low]["steps"][step]["seconds"], scale[high]["steps"][step]["seconds"]
        exponents[step] = math.log(b / a) / math.log(int(high) / int(low)) if a and b else None
    return exponents


# --- section 5: model quality -----------------------------------------------------------------------
def measure_quality(rows: int) -> tuple[dict[str, Any], Any, Any]:
    from sklearn.model_selection import train_test_split

    from mindpulse import demo_data, schema, training

    frame = demo_data.generate_reference(rows, 42)
    no_recent_rows = frame[schema.ID] < 0
    candidates = training.train_candidates(frame, no_recent_rows, training.TrainingSettings())
    target = frame[schema.TARGET].astype(int)
    # The same split train_candidates makes, so the limit is computed on the rows the models are scored on.
    _, test_features, _, _ = train_test_split(
        frame[list(schema.FEATURES)], target, test_size=0.2, random_state=42, stratify=target
    )
    bayes = demo_data.bayes_accuracy(test_features)
    algorithms = {
        candidate.algorithm: candidate.metrics | {"gap_points": (bayes - candidate.metrics["accuracy"]) * 100}
        for candidate in candidates
    }
    quality = {"rows": rows, "bayes_accuracy": bayes, "winner": candidates[0].algorithm, "algorithms": algorithms}
    return quality, frame, candidates[0].model


# --- section 6: drift trustworthiness ---------------------------------------------------------------
def measure_drift_trials(reference_rows: int, trials: int, window: int) -> dict[str, Any]:
    import numpy as np

    from mindpulse import demo_data, drift

    reference = demo_data.generate_reference(reference_rows, 42)
    rates = {}
    for shift in (0.0, 0.25, 0.5, 1.0):
        flagged = 0
        for trial in range(trials):
            current = demo_data.generate_production(
                window, lambda features: np.zeros(len(features)), seed=10_000 + trial, covariate_shift=shift
            )
            flagged += drift.measure_drift(reference, current).drift_detected
        rates[str(shift)] = flagged / trials
    return {"reference_rows": reference_rows, "window_rows": window, "trials": trials, "flag_rate": rates}


def measure_concept_shift(reference: Any, model: Any, added: list[int], test_rows: int) -> dict[str, Any]:
    """Accuracy lost to a full concept shift, and how much one real retrain wins back: k shifted rows
    appended to production, then merge_production_data and train_new_model's functions (gate included)."""
    import tempfile

    import joblib
    import pandas as pd
    from sklearn.metrics import accuracy_score

    from mindpulse import atomic, demo_data, merge, production, registry, schema, training

    def accuracy(candidate: Any, frame: pd.DataFrame) -> float:
        return float(accuracy_score(frame[schema.ACTUAL].astype(int), candidate.predict(frame[list(schema.FEATURES)])))

    before_test = demo_data.generate_production(test_rows, model.predict, seed=501)
    shifted_test = demo_data.generate_production(test_rows, model.predict, seed=502, concept_shift=1.0)
    before, after = accuracy(model, before_test), accuracy(model, shifted_test)
    bayes_shifted = demo_data.bayes_accuracy(shifted_test[list(schema.FEATURES)], 1.0)
    retrains = {}
    for rows in added:
        with tempfile.TemporaryDirectory() as folder:
            layout = make_layout(Path(folder))
            atomic.write_with(layout.reference_data, lambda path: reference.to_csv(path, index=False))
            registry.register(layout, {"trained_by": "bench"}, lambda path: joblib.dump(model, path), True, "bench")
            shifted = demo_data.generate_production(rows, model.predict, seed=600 + rows, concept_shift=1.0)
            lines = shifted.to_csv(index=False, header=False).encode()
            production.append_lines(layout, schema.header_line(schema.PRODUCTION_COLUMNS), lines)
            merge_settings = catalog.step("merge_production_data").defaults() | {"run_stamp": STAMP}
            merge.merge_production_data(layout, **merge_settings)
            outcome = training.train_and_register(
                layout, layout.training_data, layout.evaluation_data, training.TrainingSettings(), {}
            )
            retrained = accuracy(training.load_current_model(layout), shifted_test)
        retrains[str(rows)] = {
            "algorithm": f"{outcome.algorithm}@{outcome.window}",
            "promoted": outcome.promoted,
            "accuracy": retrained,
            "recovered_share": (retrained - after) / (before - after) if before > after else None,
        }
    return {
        "reference_rows": len(reference),
        "test_rows": test_rows,
        "accuracy_before_shift": before,
        "accuracy_after_shift": after,
        "bayes_after_shift": bayes_shifted,
        "retrain": retrains,
    }


# --- targets and the report -------------------------------------------------------------------------
def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []

    def add(name: str, value: str, met: bool | None) -> None:
        targets.append({"target": name, "measured": value, "met": met})

    overhead = results["overhead"]["median_overhead_s"]
    net = results["overhead"]["median_net_of_imports_s"]
    add(
        "median container overhead <= 0.5 s per step",
        f"{overhead:.2f} s ({net:.2f} s net of imports)",
        overhead <= 0.5,
    )
    dags = results.get("dags", {})
    if "retrain" in dags:
        ratio = dags["retrain"]["ratio"]
        add(
            f"retrain DAG <= 1.15x in-process at {dags['rows']} rows",
            f"{ratio:.2f}x ({dags['retrain']['wall_s']:.0f} s vs {dags['retrain']['in_process_s']:.0f} s)",
            ratio <= 1.15,
        )
    else:
        add("retrain DAG <= 1.15x in-process at 100k rows", "not run (smoke)", None)
    images = results["images"]
    largest = images["max_step_own_bytes"]
    add("every step image adds <= 1 MB over its family", f"largest {largest / 1e3:.1f} kB", largest <= 1_000_000)
    ml = images["airflow"]["ml_libraries"]
    add("scheduler image has no ML library", ", ".join(ml) or "none found", not ml)
    if "fat" in images:
        total, fat = images["unique_total_bytes"], images["fat"]["size_bytes"]
        add(
            "all images together < one fat image",
            f"{total / 1e9:.2f} GB vs {fat / 1e9:.2f} GB",
            total < fat,
        )
    else:
        add("all images together < one fat image", "fat image not built (smoke)", None)
    warm = results["build"]["warm_rebuild"]["seconds"]
    add("warm rebuild after editing one entrypoint <= 10 s", f"{warm:.1f} s", warm <= 10)
    scale = results["scale"]
    largest_rows = max(scale, key=int)
    peaks = [entry["peak_mb"] for entry in scale[largest_rows]["steps"].values()]
    complete = all(entry["seconds"] is not None for entry in scale[largest_rows]["steps"].values())
    peak = max(peak for peak in peaks if peak is not None)
    add(
        f"{int(largest_rows):,} rows: every step completes, peak memory <= 4 GB",
        f"{'all complete' if complete else 'some timed out'}, max peak {peak / 1024:.2f} GB",
        complete and peak <= 4096,
    )
    exponents = [value for value in results["scale_growth"].values() if value is not None]
    if exponents:
        worst = max(exponents)
        add("time grows no worse than linearly in rows", f"worst exponent {worst:.2f}", worst <= 1.1)
    quality = results["quality"]
    gap = quality["algorithms"][quality["winner"]]["gap_points"]
    add("winning model within 2 accuracy points of the best achievable", f"{gap:.2f} points", gap <= 2)
    flags = results["drift"]["flag_rate"]
    add("moderate covariate shift (1.0) flagged in >= 95% of trials", f"{flags['1.0']:.0%}", flags["1.0"] >= 0.95)
    add("false alarms on undrifted rows <= 5%", f"{flags['0.0']:.0%}", flags["0.0"] <= 0.05)
    retrains = results["concept_shift"]["retrain"]
    best_rows = max(retrains, key=int)
    share = retrains[best_rows]["recovered_share"]
    add(
        f"one retrain after a concept shift recovers >= 80% of the lost accuracy ({best_rows} new rows)",
        f"{share:.0%}" if share is not None else "no accuracy lost",
        share is None or share >= 0.8,
    )
    return targets


def markdown(results: dict[str, Any]) -> str:
    mb = 1e6
    lines = [
        "# MindPulse benchmark results",
        "",
        f"Run {results['started']} on {results['machine']['cpus']} CPUs, mode **{results['mode']}**, "
        f"image tag {results['tag']}. Regenerate with `.venv/bin/python bench/benchmark.py`.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for target in results["targets"]:
        verdict = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
        lines.append(f"| {target['target']} | {target['measured']} | {verdict} |")
    overhead = results["overhead"]
    lines += [
        "",
        f"## 1. Container overhead per step ({overhead['rows']:,} reference rows, median of {overhead['runs']})",
        "",
        "| step | family | result | in-process s | container s | overhead s | overhead net of imports s |",
        "|---|---|---|---|---|---|---|",
    ]
    for step, entry in overhead["steps"].items():
        lines.append(
            f"| {step} | {entry['family']} | {entry['status']} | {entry['in_process_s']:.2f} | "
            f"{entry['container_s']:.2f} | {entry['overhead_s']:.2f} | {entry['net_of_imports_s']:.2f} |"
        )
    lines.append(
        f"\nMedian overhead per step: **{overhead['median_overhead_s']:.2f} s**; net of importing the step's "
        f"libraries: {overhead['median_net_of_imports_s']:.2f} s."
    )
    parts = overhead["parts"]
    lines += [
        "",
        f"Where it goes: a no-op `docker run --rm` takes {parts['bare_container_s']:.2f} s; the rest is starting "
        "Python and importing the step's libraries, which the in-process figures leave out:",
        "",
        "| family | imports s (in its image) | same imports s (host venv) |",
        "|---|---|---|",
    ]
    for family, entry in parts["imports"].items():
        lines.append(f"| {family} | {entry['import_in_container_s']:.2f} | {entry['import_on_host_s']:.2f} |")
    dags = results["dags"]
    lines += ["", "## 1b. Whole DAGs (`airflow dags test`, every task a container)", ""]
    if "retrain" in dags:
        lines += [
            f"{dags['rows']:,} reference rows, one run each.",
            "",
            "| DAG | state | wall s | in-process lower bound s | ratio |",
            "|---|---|---|---|---|",
        ]
        for key in ("retrain", "reporting"):
            entry = dags[key]
            lines.append(
                f"| {entry['dag_id']} | {entry['state']} | {entry['wall_s']:.1f} | {entry['in_process_s']:.1f} | "
                f"{entry['ratio']:.2f}x |"
            )
    else:
        lines.append(dags.get("note", "not run"))
    images = results["images"]
    lines += [
        "",
        "## 2. Image sizes",
        "",
        "| image | size MB | own bytes (over its parent) |",
        "|---|---|---|",
        f"| {images['python_base']['image']} (Python base) | {images['python_base']['size_bytes'] / mb:.1f} | - |",
    ]
    for family, entry in images["families"].items():
        lines.append(
            f"| mindpulse/family-{family} | {entry['size_bytes'] / mb:.1f} | {entry['own_bytes'] / mb:.1f} MB |"
        )
    for step, entry in images["steps"].items():
        lines.append(
            f"| mindpulse/{step.replace('_', '-')} ({entry['family']}) | {entry['size_bytes'] / mb:.1f} | "
            f"{entry['own_bytes'] / 1e3:.1f} kB |"
        )
    airflow = images["airflow"]
    lines.append(
        f"| mindpulse/airflow | {airflow['size_bytes'] / mb:.1f} | {airflow['own_bytes'] / mb:.1f} MB "
        f"(ML libraries: {', '.join(airflow['ml_libraries']) or 'none'}) |"
    )
    lines.append(
        f"\nAll of the above on disk, shared layers counted once: **{images['unique_total_bytes'] / mb:.0f} MB**."
    )
    if "fat" in images:
        lines.append(f"One fat image (Airflow + every ML library): **{images['fat']['size_bytes'] / mb:.0f} MB**.")
        conflicts = results["build"].get("fat_conflicts") or []
        lines.append(
            "Installing the ML libraries after Airflow changed: "
            + (", ".join(conflicts) if conflicts else "nothing")
            + "."
        )
    build = results["build"]
    cold = build["cold"]
    lines += [
        "",
        "## 3. Build times",
        "",
        f"- Warm rebuild of `{build['warm_rebuild']['step']}` after editing its entrypoint: "
        f"**{build['warm_rebuild']['seconds']:.1f} s**.",
        f"- Cold build: {cold['full_build_s']} s for everything, of which {cold['debootstrap_base_s']} s the "
        f"debootstrap Python base ({cold['source']}).",
    ]
    if build.get("fat", {}).get("seconds"):
        lines.append(f"- Fat image build (pip cache warm): {build['fat']['seconds']:.0f} s.")
    scale = results["scale"]
    sizes = sorted(scale, key=int)
    lines += [
        "",
        "## 4. Scale (in-process; production = 5% of the reference rows)",
        "",
        "| step | " + " | ".join(f"{int(size):,} rows: s / peak MB" for size in sizes) + " | growth exponent |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for step in scale[sizes[0]]["steps"]:
        cells = []
        for size in sizes:
            entry = scale[size]["steps"][step]
            seconds = "timeout" if entry["seconds"] is None else f"{entry['seconds']:.2f}"
            peak = "-" if entry["peak_mb"] is None else f"{entry['peak_mb']:.0f}"
            cells.append(f"{seconds} / {peak}")
        exponent = results["scale_growth"].get(step)
        lines.append(f"| {step} | " + " | ".join(cells) + f" | {'-' if exponent is None else f'{exponent:.2f}'} |")
    lines.append("\nGrowth exponent k: time ∝ rows^k between the two largest sizes (1 = linear).")
    quality = results["quality"]
    lines += [
        "",
        f"## 5. Model quality ({quality['rows']:,} demo rows, 20% held out)",
        "",
        f"Best achievable accuracy on the held-out rows (the generating process's own probabilities): "
        f"**{quality['bayes_accuracy']:.4f}**.",
        "",
        "| algorithm | accuracy | F1 | ROC AUC | points below the best achievable |",
        "|---|---|---|---|---|",
    ]
    for algorithm, entry in quality["algorithms"].items():
        marker = " (winner)" if algorithm == quality["winner"] else ""
        lines.append(
            f"| {algorithm}{marker} | {entry['accuracy']:.4f} | {entry['f1']:.4f} | {entry['roc_auc']:.4f} | "
            f"{entry['gap_points']:.2f} |"
        )
    drift = results["drift"]
    lines += [
        "",
        f"## 6. Drift trustworthiness ({drift['trials']} trials of {drift['window_rows']:,} production rows "
        f"against {drift['reference_rows']:,} reference rows, default threshold {DRIFT_THRESHOLD.default})",
        "",
        "| covariate shift | share of trials flagged |",
        "|---|---|",
    ]
    for shift, rate in drift["flag_rate"].items():
        label = "0 (false alarms)" if float(shift) == 0 else shift
        lines.append(f"| {label} | {rate:.0%} |")
    concept = results["concept_shift"]
    lines += [
        "",
        f"Concept shift (CONCEPT_SHIFT=1), model trained on {concept['reference_rows']:,} reference rows, "
        f"scored on {concept['test_rows']:,} rows: accuracy {concept['accuracy_before_shift']:.4f} before, "
        f"{concept['accuracy_after_shift']:.4f} after (best achievable after: {concept['bayes_after_shift']:.4f}).",
        "",
        "| shifted labelled rows added | retrained winner | accuracy | share of the loss recovered |",
        "|---|---|---|---|",
    ]
    for rows, entry in concept["retrain"].items():
        share = "-" if entry["recovered_share"] is None else f"{entry['recovered_share']:.0%}"
        lines.append(f"| {int(rows):,} | {entry['algorithm']} | {entry['accuracy']:.4f} | {share} |")
    return "\n".join(lines) + "\n"


# --- main -------------------------------------------------------------------------------------------
def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument(
        "--smoke",
        action="store_true",
        help="tiny data, one run, the retrain steps only, no DAG runs, no fat-image build",
    )
    cli.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where the results go")
    cli.add_argument("--runs", type=int, help="runs per step for the overhead (default 3, smoke 1)")
    cli.add_argument("--call", help=argparse.SUPPRESS)
    cli.add_argument("--threshold", type=int, default=1000, help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.call:
        print(json.dumps(call_step(args.call, args.threshold)))
        return

    smoke = args.smoke
    config = {
        "overhead_rows": 1000 if smoke else 10_000,
        "runs": args.runs or (1 if smoke else 3),
        "dag_rows": 100_000,
        "scale": [1000] if smoke else [10_000, 100_000, 1_000_000],
        "quality_rows": 2000 if smoke else 100_000,
        "drift_reference_rows": 2000 if smoke else 20_000,
        "drift_trials": 1 if smoke else 40,
        "concept_added": [200] if smoke else [1000, 5000],
        "concept_test_rows": 2000 if smoke else 20_000,
    }
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if smoke else "full",
        "tag": TAG,
        "config": config,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }

    def section(name: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {name}", flush=True)

    scratch = Scratch()
    try:
        section("seeding")
        model_seed = scratch.folder / "model-seed"
        seed_model(model_seed, 2000 if smoke else 10_000)
        overhead_seed = scratch.folder / "overhead-seed"
        production_rows = seed_scale(overhead_seed, model_seed, config["overhead_rows"])
        threshold = min(1000, production_rows)

        section("1. container overhead per step")
        pipelines = {"retrain": RETRAIN_STEPS} | ({} if smoke else {"reporting": REPORTING_STEPS})
        results["overhead"] = measure_overhead(scratch, overhead_seed, threshold, config["runs"], pipelines) | {
            "rows": config["overhead_rows"]
        }

        section("4. scale")
        measured = {
            str(config["overhead_rows"]): {
                "production_rows": production_rows,
                "steps": results["overhead"].pop("first_run_in_process"),
            }
        }
        results["scale"] = measure_scale(scratch, model_seed, config["scale"], measured)
        results["scale_growth"] = growth_exponents(results["scale"])

        if smoke:
            results["dags"] = {"note": "not run in smoke mode (airflow dags test takes minutes)"}
        else:
            section("1b. whole DAGs")
            dag_seed = scratch.folder / "dag-seed"
            dag_production = seed_scale(dag_seed, model_seed, config["dag_rows"])
            lower = scale_lower_bounds(results["scale"], config["dag_rows"])
            results["dags"] = measure_dags(scratch, dag_seed, min(1000, dag_production), lower) | {
                "rows": config["dag_rows"]
            }

        section("2-3. images and builds")
        base = python_base()
        build: dict[str, Any] = {"cold": EARLIER_COLD_BUILD}
        if not smoke:
            build["fat"] = build_fat_image(scratch, base)
        fat_available = docker("image", "inspect", FAT_IMAGE, check=False).returncode == 0
        if fat_available:
            build["fat_conflicts"] = fat_image_conflicts()
        build["warm_rebuild"] = measure_warm_rebuild(scratch)
        results["build"] = build
        results["images"] = measure_images(base, fat_available)

        section("5. model quality")
        quality, reference, model = measure_quality(config["quality_rows"])
        results["quality"] = quality

        section("6. drift trials")
        results["drift"] = measure_drift_trials(config["drift_reference_rows"], config["drift_trials"], 1000)
        section("6b. concept shift")
        results["concept_shift"] = measure_concept_shift(
            reference, model, config["concept_added"], config["concept_test_rows"]
        )
    finally:
        scratch.close()
    results["targets"] = judge(results)
    results["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "benchmark.md").write_text(markdown(results))
    section(f"done: {args.out / 'benchmark.md'}")


def scale_lower_bounds(scale: dict[str, Any], rows: int) -> dict[str, float]:
    """Sum of the in-process step times of each pipeline at `rows` rows: the DAGs' lower bound."""
    steps = scale[str(rows)]["steps"]
    return {
        "retrain": sum(steps[step]["seconds"] or 0 for step in RETRAIN_STEPS),
        "reporting": sum(steps[step]["seconds"] or 0 for step in REPORTING_STEPS),
    }


if __name__ == "__main__":
    main()
