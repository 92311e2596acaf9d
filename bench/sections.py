"""The benchmark's sections, in report order. Each is a module of bench/ with:

TITLE: str                                   the heading in benchmark.md
measure(run: harness.Run) -> dict            the figures (JSON-able), measured by repeated runs
render(result: dict) -> str                  its Markdown body, from those figures alone
targets(result: dict) -> list[dict]          {"target", "measured", "met"} for each goal it judges
figures(result: dict) -> list[Figure]        optional: its SVG figures (bench/figures.py), beside its tables
"""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES = (
    "overhead",
    "guard",
    "startup",
    "dag_runs",
    "images",
    "quality",
    "drift_power",
    "concept_shift",
    "cluster_scaling",
)


def module(name: str) -> ModuleType:
    if name not in NAMES:
        raise ValueError(f"unknown section {name!r} (one of: {', '.join(NAMES)})")
    return importlib.import_module(f"bench.{name}")
