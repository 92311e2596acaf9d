"""Benchmark section: what a step pays to start and stop, per image family, in the real images.

A step's container overhead (its `docker run` minus the same function called in a warm interpreter) is
Docker's start and stop, Python's start-up, the imports, and the interpreter's exit. This section times
those parts apart, with the DAG's lockdown and volumes, so a missed target can be explained from figures:

- a no-op container (`true` in the base family image);
- per family, a container that only starts Python (`python -c pass`), and one that imports what the
  family's steps import before their function runs, the way `mindpulse.protocol.main` does (the step's
  module, inside `frozen_imports`); inside it, the import's wall and CPU time, and from the host the time
  between the script's last line and `docker run` returning (the interpreter's exit and the container's
  removal);
- per family, the import of the libraries alone (those of its and the earlier families' requirements files
  that the steps load): the floor no change to mindpulse can go below;
- per family, `python -X importtime` of the same imports: the modules with the longest cumulative import
  time, and the self time per package.

Every figure is the median of the repeats with min-max; the runs are interleaved so that load from other
work on the machine spreads over all of them. A section of bench/benchmark.py (`--sections startup`); the
targets it explains are the overhead section's.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections import defaultdict
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

from bench.harness import LOCKDOWN, REPEATS, Run, docker, span
from bench.stats import median_range
from mindpulse import catalog
from mindpulse.paths import VOLUME_DIRS

TITLE = "Step start-up per image family"

REQUIREMENTS = Path(__file__).resolve().parents[1] / "tasks" / "requirements"
TOP_MODULES = 10
TIMEOUT_S = 300

# What mindpulse.protocol.main does before it calls the step: the entrypoint imports the protocol, then
# the step's module is imported inside frozen_imports. {modules} is a comma-separated import list.
STEP_IMPORTS = """
import json, sys, time
wall, cpu = time.perf_counter(), time.process_time()
from mindpulse.protocol import frozen_imports
with frozen_imports():
    import {modules}
figures = {{"import_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}}
figures["loaded"] = sorted({{name.split(".")[0] for name in sys.modules}})
print(json.dumps(figures | {{"end": time.time()}}))
"""
# The family's libraries that the steps load, alone, imported the same way; the protocol is loaded before
# the clock starts.
LIBRARY_IMPORTS = """
import json, time
from mindpulse.protocol import frozen_imports
wall, cpu = time.perf_counter(), time.process_time()
with frozen_imports():
    import {modules}
print(json.dumps({{"import_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, "end": time.time()}}))
"""
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def step_modules(family: str) -> list[str]:
    """What the family's steps import before their function runs: the protocol and each step's module."""
    called = {step.module for step in catalog.STEPS if step.family == family}
    return ["mindpulse.protocol", *sorted(called)]


def libraries(family: str) -> list[str]:
    """Top-level modules of the libraries the family image holds: its and the earlier families'
    requirements files, as installed in this interpreter (the images install the same pins)."""
    wanted: set[str] = set()
    for name in catalog.FAMILIES[1 : catalog.FAMILIES.index(family) + 1]:  # base adds only pip's tools
        for line in (REQUIREMENTS / f"{name}.txt").read_text().splitlines():
            if requirement := line.split("#")[0].strip():
                wanted.add(_distribution(requirement))
    return sorted(
        module
        for module, distributions in packages_distributions().items()
        if module.isidentifier() and any(_distribution(item) in wanted for item in distributions)
    )


def _distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class _Runner:
    """`docker run` of a family image, locked down, on three throwaway named volumes (removed by close)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        token = uuid.uuid4().hex[:8]
        self.volumes = [f"mindpulse-bench-startup-{token}-{volume}" for volume in VOLUME_DIRS]
        for name in self.volumes:
            docker("volume", "create", name)

    def run(self, family: str, *command: str) -> tuple[float, subprocess.CompletedProcess[str], float]:
        """Wall time of the run, the run, and the host clock when it returned."""
        mounts = [f"--volume={name}:{path}" for name, path in zip(self.volumes, VOLUME_DIRS.values(), strict=True)]
        started = time.perf_counter()
        image = f"mindpulse/family-{family}:{self.tag}"
        completed = docker("run", "--rm", *LOCKDOWN, *mounts, *command[:1], image, *command[1:], timeout=TIMEOUT_S)
        return time.perf_counter() - started, completed, time.time()

    def close(self) -> None:
        subprocess.run(["docker", "volume", "rm", "--force", *self.volumes], capture_output=True, timeout=TIMEOUT_S)


def measure(run: Run) -> dict[str, Any]:
    """Time the start-up parts of every family in the images of `run`; JSON-able."""
    tag, repeats = run.tag, 1 if run.smoke else REPEATS
    runner = _Runner(tag)
    samples: dict[str, list[float]] = defaultdict(list)
    importtime: dict[str, list[str]] = defaultdict(list)
    try:
        for _ in range(repeats):
            samples["noop_s"].append(runner.run("base", "--entrypoint=true")[0])
            for family in catalog.FAMILIES:
                _measure_family(runner, family, samples, importtime)
    finally:
        runner.close()
    families = {}
    for family in catalog.FAMILIES:
        figures = {
            name.removeprefix(f"{family}/"): median_range(values)
            for name, values in samples.items()
            if name.startswith(f"{family}/")
        }
        families[family] = {
            "steps": [step.name for step in catalog.STEPS if step.family == family],
            "modules": step_modules(family),
            "libraries": libraries(family),  # held by the image; the floor imports those the steps load
            **figures,
            **_profile(importtime[family]),
        }
    return {"tag": tag, "repeats": repeats, "noop_s": median_range(samples["noop_s"]), "families": families}


def _measure_family(
    runner: _Runner, family: str, samples: dict[str, list[float]], importtime: dict[str, list[str]]
) -> None:
    python = ("--entrypoint=python",)
    samples[f"{family}/python_s"].append(runner.run(family, *python, "-c", "pass")[0])
    script = STEP_IMPORTS.format(modules=", ".join(step_modules(family)))
    wall, completed, returned = runner.run(family, *python, "-c", script)
    inside = json.loads(completed.stdout.strip().splitlines()[-1])
    samples[f"{family}/startup_s"].append(wall)
    samples[f"{family}/import_s"].append(inside["import_s"])
    samples[f"{family}/import_cpu_s"].append(inside["cpu_s"])
    samples[f"{family}/exit_s"].append(returned - inside["end"])
    if found := [module for module in libraries(family) if module in inside["loaded"]]:
        completed = runner.run(family, *python, "-c", LIBRARY_IMPORTS.format(modules=", ".join(found)))[1]
        floor = json.loads(completed.stdout.strip().splitlines()[-1])
        samples[f"{family}/libraries_import_s"].append(floor["import_s"])
        samples[f"{family}/libraries_import_cpu_s"].append(floor["cpu_s"])
    importtime[family].append(runner.run(family, *python, "-X", "importtime", "-c", script)[1].stderr)


def _profile(reports: list[str]) -> dict[str, Any]:
    """From `-X importtime` reports of the same imports: the modules with the longest median cumulative
    time (with their nesting depth), and the median self time summed per top-level package, the largest
    package also per subpackage."""
    cumulative: dict[str, list[float]] = defaultdict(list)
    depth: dict[str, int] = {}
    packages: dict[str, list[float]] = defaultdict(list)
    for report in reports:
        per_package: dict[str, float] = defaultdict(float)
        for line in report.splitlines():
            if match := _IMPORTTIME.match(line):
                own, total, indent, name = int(match[1]) / 1e6, int(match[2]) / 1e6, match[3], match[4]
                cumulative[name].append(total)
                depth[name] = len(indent) // 2
                per_package[name.split(".")[0]] += own
                per_package[".".join(name.split(".")[:2])] += own if "." in name else 0.0
        for package, seconds in per_package.items():
            packages[package].append(seconds)
    medians = {name: median_range(values)["median"] for name, values in packages.items()}
    top_level = sorted((name for name in medians if "." not in name), key=medians.__getitem__, reverse=True)
    largest = top_level[0] if top_level else ""
    subpackages = sorted((name for name in medians if name.startswith(f"{largest}.")), key=medians.__getitem__)
    slowest = sorted(cumulative, key=lambda name: median_range(cumulative[name])["median"], reverse=True)
    return {
        "top_modules": [
            {"module": name, "depth": depth[name], "cumulative_s": median_range(cumulative[name])["median"]}
            for name in slowest[:TOP_MODULES]
        ],
        "self_s_by_package": {name: medians[name] for name in top_level[:TOP_MODULES]},
        "self_s_by_subpackage": {name: medians[name] for name in reversed(subpackages[-TOP_MODULES:])},
    }


def render(result: dict[str, Any]) -> str:
    """The section as Markdown."""
    lines = [
        f"Images `{result['tag']}`, median of {result['repeats']} (min-max). A no-op container (`docker run` of "
        "`true`, locked down like a DAG task, three volumes): "
        f"**{span(result['noop_s'])} s**.",
        "",
        "| family | steps | start-up s | `python -c pass` s | imports s (CPU s) | libraries alone s (CPU s) | exit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for family, entry in result["families"].items():
        libraries_alone = "-"
        if "libraries_import_s" in entry:
            libraries_alone = f"{span(entry['libraries_import_s'])} ({entry['libraries_import_cpu_s']['median']:.2f})"
        lines.append(
            f"| {family} | {len(entry['steps'])} | {span(entry['startup_s'])} "
            f"| {span(entry['python_s'])} | {span(entry['import_s'])} ({entry['import_cpu_s']['median']:.2f}) "
            f"| {libraries_alone} | {span(entry['exit_s'])} |"
        )
    lines += [
        "",
        "Start-up: the whole `docker run` of a container that imports what the family's steps import and exits, "
        "the part of a step's overhead that does not depend on its work. Imports: measured inside it, with the "
        "CPU time (the machine is shared; CPU time is what the code costs). Libraries alone: the same import of "
        "only the family's libraries that the steps load, the floor for mindpulse's own code. Exit: from the "
        "script's last line to `docker run` returning (interpreter shutdown and container removal).",
    ]
    for family, entry in result["families"].items():
        if not entry["top_modules"]:
            continue
        lines += ["", f"### {family}: where the import time goes (`python -X importtime`, medians)", ""]
        lines += ["| module (indent = imported by the one above) | cumulative s |", "|---|---|"]
        for row in entry["top_modules"]:
            lines.append(f"| {'&nbsp;' * 2 * row['depth']}`{row['module']}` | {row['cumulative_s']:.2f} |")
        packages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in entry["self_s_by_package"].items())
        subpackages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in entry["self_s_by_subpackage"].items())
        lines += ["", f"Self time per package (s): {packages}.", ""]
        lines.append(f"Largest package by subpackage (s): {subpackages}.")
    return "\n".join(lines)
