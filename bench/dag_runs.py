"""Section: the two DAGs as this project runs them (every task a container) side by side with the seed's
design (every task a PythonOperator calling the same function in the Airflow process), at 100k and 1M rows.

Both are the same DAG files: `MINDPULSE_RUNNER` picks the task factory (docker, or python from
bench/peer_runner/mindpulse_python_runner.py, put on the peer's Python path). Each is run with
`airflow dags test` from its own venv: `.venv-airflow` (Airflow without any ML library) for the containers,
`.venv-peer` (Airflow and every step library, bench/peer.py) for the peer, each with its own SQLite Airflow
home. Every run starts from a fresh copy of the same seeded data (named volumes for the containers, a host
folder for the peer); the two runners alternate so drift in the machine's state hits both alike, and both get
the same number of repeats. Also, per repeat, every step's bare function in a child interpreter (imports done
first): the in-process bound, kept as information, and the per-step scale figures (time, peak memory).
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import overhead, peer, startup
from bench.figures import Figure, bars, lines
from bench.harness import (
    PIPELINE_STEPS,
    REPO,
    Run,
    Volumes,
    copy_folder,
    in_process,
    make_layout,
    retrain_threshold,
    seed_model,
    seed_rows,
    span,
    spread,
)
from mindpulse import catalog

TITLE = "Whole DAGs: containers against the seed's PythonOperator design"
SIZES = (100_000, 1_000_000)
DAGS = {"retrain": catalog.RETRAIN.dag_id, "reporting": catalog.REPORTING.dag_id}
RUNNERS = ("docker", "python")
# Docker DAG wall time over the PythonOperator DAG's, by reference rows.
RATIO_TARGETS = {100_000: 1.5, 1_000_000: 1.15}


class Airflow:
    """One Airflow install with its own home and SQLite database, running `airflow dags test`."""

    def __init__(self, run: Run, runner: str, executable: Path) -> None:
        self.runner = runner
        self.executable = executable
        self.home = run.folder / f"airflow-{runner}"
        self.home.mkdir()
        keep = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "MINDPULSE_"))}
        self.environment = keep | {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestrator" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "MINDPULSE_RUNNER": runner,
            **({"PYTHONPATH": str(peer.RUNNER_FOLDER)} if runner == "python" else {}),
            "MINDPULSE_IMAGE_TAG": run.tag,
            "MINDPULSE_TASK_RETRIES": "0",
            # `dags test` cannot finish a DAG with a deadline alert (see tests/integration/airflow_harness.py).
            "MINDPULSE_RETRAIN_DEADLINE": "0",
            "MINDPULSE_REPORTING_DEADLINE": "0",
        }
        self.call("db", "migrate")

    def call(self, *arguments: str, environment: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        completed = subprocess.run(
            [str(self.executable), *arguments],
            env=self.environment | (environment or {}),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{self.runner}: airflow {' '.join(arguments)} failed:\n{completed.stdout[-3000:]}")
        return time.perf_counter() - started

    def last_run(self, dag_id: str) -> dict[str, Any]:
        """State of the DAG's newest run, and each task's state and duration in seconds."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            run_id, state = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            rows = db.execute(
                "SELECT task_id, state, duration FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            ).fetchall()
        return {
            "state": state,
            "tasks": {task: {"state": task_state, "s": seconds} for task, task_state, seconds in rows},
        }


def one_dag_run(run: Run, airflow: Airflow, dag_id: str, seed: Path, threshold: int) -> dict[str, Any]:
    """`airflow dags test` of `dag_id` on a fresh copy of `seed`; its wall time and what it recorded."""
    environment = {"MINDPULSE_RETRAIN_THRESHOLD": str(threshold)}
    volumes = None
    if airflow.runner == "docker":
        volumes = Volumes(run, seed)
        environment |= volumes.environment()
    else:
        folder = copy_folder(seed, run.folder / "peer-data")
        environment |= make_layout(folder).environment()
    seconds = airflow.call("dags", "test", dag_id, environment=environment)
    recorded = airflow.last_run(dag_id)
    if volumes is not None:
        volumes.remove(run)
    if recorded["state"] != "success":
        raise RuntimeError(f"{airflow.runner} {dag_id}: run ended {recorded['state']}: {recorded['tasks']}")
    return {"wall_s": seconds} | recorded


def bare_pass(run: Run, pipeline: str, seed: Path, threshold: int) -> dict[str, Any]:
    """Every step of `pipeline`, in order, as its bare function in a child interpreter."""
    folder = copy_folder(seed, run.folder / "bare-data")
    return {step: in_process(step, folder, threshold) for step in PIPELINE_STEPS[pipeline]}


def measure(run: Run) -> dict[str, Any]:
    installs = {"docker": REPO / ".venv-airflow" / "bin" / "airflow", "python": peer.ensure_venv()["airflow"]}
    airflows = {runner: Airflow(run, runner, executable) for runner, executable in installs.items()}
    model = seed_model(run.folder / "dag-model", 2000 if run.smoke else 10_000)
    sizes = (2000,) if run.smoke else SIZES
    result: dict[str, Any] = {}
    for rows in sizes:
        seed = run.folder / f"dag-seed-{rows}"
        threshold = retrain_threshold(seed_rows(seed, model, rows))
        for pipeline in DAGS:
            result.setdefault(str(rows), {})[pipeline] = compare(run, airflows, pipeline, seed, threshold)
        print(f"  dags at {rows:,} rows: " + ", ".join(f"{p} {v['ratio']:.2f}x" for p, v in result[str(rows)].items()))
    return {"sizes": result, "growth": growth(result)}


def compare(run: Run, airflows: dict[str, Airflow], pipeline: str, seed: Path, threshold: int) -> dict[str, Any]:
    """Both runners on one DAG, repeated alike, with the bare functions in between."""
    dag_id = DAGS[pipeline]
    samples: dict[str, list[dict[str, Any]]] = {runner: [] for runner in RUNNERS}
    bare: list[dict[str, Any]] = []

    def one_repeat(index: int) -> float:
        # Alternate which runner goes first, so neither always runs on a warmer machine.
        for runner in RUNNERS if index % 2 == 0 else RUNNERS[::-1]:
            samples[runner].append(one_dag_run(run, airflows[runner], dag_id, seed, threshold))
        bare.append(bare_pass(run, pipeline, seed, threshold))
        return max(samples[runner][-1]["wall_s"] for runner in RUNNERS)

    run.repeat(one_repeat)
    return summarise(dag_id, samples, bare)


def summarise(dag_id: str, samples: dict[str, list[dict[str, Any]]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    runners = {
        runner: {
            "wall_s": spread([sample["wall_s"] for sample in runs]),
            "tasks_s": {
                task: spread([sample["tasks"][task]["s"] or 0.0 for sample in runs]) for task in runs[0]["tasks"]
            },
        }
        for runner, runs in samples.items()
    }
    steps = {
        step: {
            "seconds": spread([entry[step]["seconds"] for entry in bare]),
            "peak_mb": max(entry[step]["peak_mb"] for entry in bare),
            "status": bare[0][step]["status"],
        }
        for step in bare[0]
    }
    bound = [sum(entry[step]["seconds"] for step in entry) for entry in bare]
    return {
        "dag_id": dag_id,
        "runners": runners,
        "ratio": runners["docker"]["wall_s"]["median"] / runners["python"]["wall_s"]["median"],
        "bare_functions_s": spread(bound),
        "steps": steps,
    }


def growth(sizes: dict[str, Any]) -> dict[str, float | None]:
    """Per step, k in time ~ rows^k between the two largest sizes (1 = linear), from the bare functions."""
    if len(sizes) < 2:
        return {}
    low, high = sorted(sizes, key=int)[-2:]
    exponents: dict[str, float | None] = {}
    for pipeline in sizes[high]:
        for step, entry in sizes[high][pipeline]["steps"].items():
            a, b = sizes[low][pipeline]["steps"][step]["seconds"]["median"], entry["seconds"]["median"]
            # Below a few milliseconds a step's time is noise, not work: no exponent.
            exponents[step] = math.log(b / a) / math.log(int(high) / int(low)) if min(a, b) > 0.01 else None
    return exponents


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for rows, pipelines in result["sizes"].items():
        limit = RATIO_TARGETS.get(int(rows))
        if limit is None:
            continue
        for entry in pipelines.values():
            walls = entry["runners"]
            found.append(
                {
                    "target": f"{entry['dag_id']} with containers <= {limit}x the PythonOperator DAG "
                    f"at {int(rows):,} rows",
                    "measured": f"{entry['ratio']:.2f}x ({walls['docker']['wall_s']['median']:.1f} s vs "
                    f"{walls['python']['wall_s']['median']:.1f} s)",
                    "met": entry["ratio"] <= limit,
                }
            )
    largest = max(result["sizes"], key=int)
    peaks = [step["peak_mb"] for entry in result["sizes"][largest].values() for step in entry["steps"].values()]
    found.append(
        {
            "target": f"{int(largest):,} rows: every step completes, peak memory <= 4 GB",
            "measured": f"max peak {max(peaks) / 1024:.2f} GB",
            "met": max(peaks) <= 4096,
        }
    )
    exponents = [value for value in result["growth"].values() if value is not None]
    if exponents:
        worst = max(exponents)
        found.append(
            {
                "target": "time grows no worse than linearly in rows",
                "measured": f"worst exponent {worst:.2f}",
                "met": worst <= 1.1,
            }
        )
    return found


def render(result: dict[str, Any]) -> str:
    lines = [
        "`airflow dags test`, one after the other, each from a fresh copy of the same data (production = 5% of",
        "the reference rows). Wall time: median (min-max) of the repeats.",
        "",
        "| rows | DAG | containers s | PythonOperator s | ratio | bare functions s |",
        "|---|---|---|---|---|---|",
    ]
    for rows, pipelines in result["sizes"].items():
        for entry in pipelines.values():
            walls = entry["runners"]
            lines.append(
                f"| {int(rows):,} | {entry['dag_id']} | {span(walls['docker']['wall_s'], 1)} | "
                f"{span(walls['python']['wall_s'], 1)} | {entry['ratio']:.2f}x | {span(entry['bare_functions_s'], 1)} |"
            )
    sizes = sorted(result["sizes"], key=int)
    lines += [
        "",
        "Per step, bare function in a child interpreter (imports done first): seconds, median (min-max), and",
        "peak memory (`ru_maxrss`); k: time ∝ rows^k between the two sizes (1 = linear).",
        "",
        "| step | " + " | ".join(f"{int(size):,} rows s" for size in sizes) + " | peak MB | k |",
        "|---|" + "---|" * (len(sizes) + 2),
    ]
    for pipeline in result["sizes"][sizes[-1]]:
        for step in result["sizes"][sizes[-1]][pipeline]["steps"]:
            cells = [span(result["sizes"][size][pipeline]["steps"][step]["seconds"]) for size in sizes]
            peak = result["sizes"][sizes[-1]][pipeline]["steps"][step]["peak_mb"]
            exponent = result["growth"].get(step)
            k = "-" if exponent is None else f"{exponent:.2f}"
            lines.append(f"| {step} | " + " | ".join(cells) + f" | {peak:.0f} | {k} |")
    lines += ["", "Task durations inside the DAG runs (Airflow's own record), median s, largest size:", ""]
    lines += ["| task | containers | PythonOperator |", "|---|---|---|"]
    for entry in result["sizes"][sizes[-1]].values():
        tasks = entry["runners"]["docker"]["tasks_s"]
        for task in tasks:
            python = entry["runners"]["python"]["tasks_s"].get(task)
            peer_cell = "-" if python is None else f"{python['median']:.2f}"
            lines.append(f"| {task} | {tasks[task]['median']:.2f} | {peer_cell} |")
    return "\n".join(lines)


def explain(result: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Where the container DAG's extra time goes, for each missed ratio: the tasks themselves (each starts a
    container, Python and its imports) or Airflow's work around them."""
    paragraphs = []
    for rows, pipelines in result["sizes"].items():
        limit = RATIO_TARGETS.get(int(rows))
        for entry in pipelines.values():
            if limit is None or entry["ratio"] <= limit:
                continue
            docker, python = entry["runners"]["docker"], entry["runners"]["python"]
            tasks = {
                name: sum(task["median"] for task in runner["tasks_s"].values())
                for name, runner in entry["runners"].items()
            }
            around = {name: entry["runners"][name]["wall_s"]["median"] - tasks[name] for name in tasks}
            count = len(docker["tasks_s"])
            per_task = (tasks["docker"] - tasks["python"]) / count
            paragraphs.append(
                f"**{entry['dag_id']} at {int(rows):,} rows: {entry['ratio']:.2f}x, target ≤ {limit}x.** "
                f"{docker['wall_s']['median']:.1f} s with containers against {python['wall_s']['median']:.1f} s "
                f"in-process. Its {count} tasks took {tasks['docker']:.1f} s against {tasks['python']:.1f} s (sums of "
                f"the tasks' medians): {per_task:.2f} s more per task, what each container pays to start, start Python "
                f"and import its libraries where the PythonOperator pays each import once per process (sections "
                f'"{overhead.TITLE}" and "{startup.TITLE}"). Airflow\'s work around the tasks took '
                f"{around['docker']:.1f} s against {around['python']:.1f} s. "
                f"The steps' bare functions sum to {entry['bare_functions_s']['median']:.1f} s: the less work a run "
                "does, the more the fixed costs weigh."
            )
    return paragraphs


def figures(result: dict[str, Any]) -> list[Figure]:
    walls = [
        (
            f"{entry['dag_id']}, {int(rows):,} rows",
            [
                ("containers", entry["runners"]["docker"]["wall_s"]),
                ("PythonOperator", entry["runners"]["python"]["wall_s"]),
                ("bare functions", entry["bare_functions_s"]),
            ],
        )
        for rows, pipelines in sorted(result["sizes"].items(), key=lambda pair: int(pair[0]))
        for entry in pipelines.values()
    ]
    curves: dict[str, list[tuple[float, float]]] = {}
    for rows, pipelines in result["sizes"].items():
        for entry in pipelines.values():
            for step, measured in entry["steps"].items():
                if measured["seconds"]["median"] > 0:
                    curves.setdefault(step, []).append((float(rows), measured["seconds"]["median"]))
    title, scaling = "Whole DAG runs under airflow dags test", "Each step's bare function against the rows"
    return [
        Figure("dag_runs", f"{title} (median, min-max)", bars(title, "seconds", walls)),
        Figure("step_scaling", f"{scaling} (median, log-log)", lines(scaling, "rows", "seconds", curves)),
    ]
