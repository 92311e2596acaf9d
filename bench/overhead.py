"""Section: what running a step in its own container costs, step by step.

Each pipeline's steps run in order on fresh copies of the same data (10k reference rows, 5% of that as
labelled production rows): in-process (a child interpreter imports what the entrypoint imports, then only
the step function is timed) and as the DAG starts it (`docker run` of the step image, locked down, on named
volumes holding the same files). Overhead = container time - in-process time, per repeat; the published
figure is the median over the repeats, with min and max. Steps are grouped as the targets are: the
base/pandas/ml steps, and the Evidently steps.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.figures import Figure, bars
from bench.harness import (
    PIPELINE_STEPS,
    Run,
    Volumes,
    copy_folder,
    in_container,
    in_process,
    retrain_threshold,
    seed_model,
    seed_rows,
    span,
    spread,
)
from mindpulse import catalog

TITLE = "Container overhead per step"
ROWS = 10_000
# Per-step overhead targets (median over the group's steps, each step's own figure a median of repeats).
TARGETS = {"base/pandas/ml": 0.5, "evidently": 2.0}


def group(step: str) -> str:
    return "evidently" if catalog.step(step).family == "evidently" else "base/pandas/ml"


def measure(run: Run) -> dict[str, Any]:
    rows = 1000 if run.smoke else ROWS
    model = seed_model(run.folder / "overhead-model", 2000)
    seed = run.folder / "overhead-seed"
    threshold = retrain_threshold(seed_rows(seed, model, rows))
    pipelines = {"retrain": PIPELINE_STEPS["retrain"]} if run.smoke else PIPELINE_STEPS
    samples: dict[str, dict[str, list[float]]] = {}
    statuses: dict[str, str] = {}

    def one_repeat(index: int) -> float:
        """Every step once, both ways; returns the longest step's container time (what sets the repeats)."""
        longest = 0.0
        for pipeline, steps in pipelines.items():
            folder = copy_folder(seed, run.folder / f"overhead-{pipeline}")
            volumes = Volumes(run, seed)
            for step in steps:
                local = in_process(step, folder, threshold)
                contained = in_container(run, step, volumes, threshold)
                if local["status"] != contained["status"]:
                    raise RuntimeError(f"{step}: in-process {local['status']}, container {contained['status']}")
                statuses[step] = local["status"]
                entry = samples.setdefault(step, {"in_process": [], "container": [], "overhead": []})
                entry["in_process"].append(local["seconds"])
                entry["container"].append(contained["seconds"])
                entry["overhead"].append(contained["seconds"] - local["seconds"])
                longest = max(longest, contained["seconds"])
        return longest

    run.repeat(one_repeat)
    steps = {
        step: {
            "family": catalog.step(step).family,
            "group": group(step),
            "status": statuses[step],
            "in_process_s": spread(entry["in_process"]),
            "container_s": spread(entry["container"]),
            "overhead_s": spread(entry["overhead"]),
        }
        for step, entry in samples.items()
    }
    groups = {
        name: statistics.median(entry["overhead_s"]["median"] for entry in steps.values() if entry["group"] == name)
        for name in TARGETS
        if any(entry["group"] == name for entry in steps.values())
    }
    return {"rows": rows, "steps": steps, "group_median_overhead_s": groups}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for name, limit in TARGETS.items():
        value = result["group_median_overhead_s"].get(name)
        if value is None:
            continue
        count = sum(entry["group"] == name for entry in result["steps"].values())
        found.append(
            {
                "target": f"median container overhead of the {name} steps <= {limit} s",
                "measured": f"{value:.2f} s (median of {count} steps)",
                "met": value <= limit,
            }
        )
    return found


def render(result: dict[str, Any]) -> str:
    repeats = {entry["container_s"]["n"] for entry in result["steps"].values()}
    lines = [
        f"{result['rows']:,} reference rows; each figure the median of {'/'.join(map(str, sorted(repeats)))} "
        "repeats, with min-max.",
        "",
        "| step | family | result | in-process s | container s | overhead s |",
        "|---|---|---|---|---|---|",
    ]
    for step, entry in result["steps"].items():
        lines.append(
            f"| {step} | {entry['family']} | {entry['status']} | {span(entry['in_process_s'])} | "
            f"{span(entry['container_s'])} | {span(entry['overhead_s'])} |"
        )
    lines.append("")
    for name, value in result["group_median_overhead_s"].items():
        lines.append(f"- Median overhead of the {name} steps: **{value:.2f} s** (target ≤ {TARGETS[name]} s).")
    return "\n".join(lines)


def figures(result: dict[str, Any]) -> list[Figure]:
    groups = [(step, [(entry["group"], entry["overhead_s"])]) for step, entry in result["steps"].items()]
    title = "Container overhead per step: container run minus the same function in process"
    return [Figure("overhead", f"{title} (median, min-max)", bars(title, "seconds", groups))]


def explain(result: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """For each missed group: what a step of that family pays before and after its work, from the startup
    section's figures (measured in the same run)."""
    startup = document["sections"].get("startup", {}).get("result")
    paragraphs = []
    for name, limit in TARGETS.items():
        value = result["group_median_overhead_s"].get(name)
        if value is None or value <= limit:
            continue
        lines = [f"**Median container overhead of the {name} steps: {value:.2f} s, target ≤ {limit} s.**"]
        if startup is None:
            paragraphs.append(lines[0] + " The startup section was not measured in this run.")
            continue
        lines.append(f"A no-op container takes {startup['noop_s']['median']:.2f} s.")
        families = sorted({entry["family"] for entry in result["steps"].values() if entry["group"] == name})
        for family in families:
            entry = startup["families"][family]
            sentence = (
                f"In the {family} image, starting Python takes {entry['python_s']['median']:.2f} s, importing what "
                f"its steps import {entry['import_s']['median']:.2f} s ({entry['import_cpu_s']['median']:.2f} s "
                f"CPU)"
            )
            if "libraries_import_s" in entry:
                sentence += (
                    f", of which the libraries alone {entry['libraries_import_s']['median']:.2f} s: the floor no "
                    "change to our code goes below"
                )
            sentence += f"; leaving takes {entry['exit_s']['median']:.2f} s."
            if family == "evidently" and entry["self_s_by_package"]:
                heaviest = ", ".join(
                    f"{package} {seconds:.2f} s" for package, seconds in list(entry["self_s_by_package"].items())[:5]
                )
                sentence += f" The import's own time by package: {heaviest}."
            lines.append(sentence)
        paragraphs.append(" ".join(lines))
    return paragraphs
