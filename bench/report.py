"""benchmark.md and the README's table of targets, rendered from bench/results/benchmark.json alone.

No figure reaches either file any other way: tests/bench/test_benchmark_report.py renders the committed JSON
and compares it with the committed files.
"""

from __future__ import annotations

import re
from typing import Any

from bench import sections

README_START = "<!-- benchmark targets: rendered by bench/report.py from bench/results/benchmark.json -->"
README_END = "<!-- end of benchmark targets -->"
VERDICT = {True: "yes", False: "**no**", None: "n/a"}


def measured_line(entry: dict[str, Any]) -> str:
    """Where and when a section was measured."""
    origin = entry["provenance"]
    dirty = ", uncommitted changes" if origin["git_dirty"] else ""
    start, end = (
        " / ".join(f"{value:.2f}" for value in loads) for loads in (origin["load_average"], entry["load_average_end"])
    )
    return (
        f"Measured {origin['date']} at revision `{origin['git_revision'][:12]}`{dirty}, mode {entry['mode']}, "
        f"in {entry['seconds']:.0f} s; load average {start} at the start, {end} at the end."
    )


def summary(document: dict[str, Any]) -> str:
    entries = [document["sections"][name] for name in sections.NAMES if name in document["sections"]]
    revisions = {entry["provenance"]["git_revision"] for entry in entries}
    modes = {entry["mode"] for entry in entries}
    first = entries[0]["provenance"]
    memory = f", {first['memory_bytes'] / 2**30:.0f} GiB" if first.get("memory_bytes") else ""
    machine = f"{first['cores']} cores{memory}, Python {first['python']}"
    if len(revisions) == 1 and len(modes) == 1 and not any(entry["provenance"]["git_dirty"] for entry in entries):
        return (
            f"Every section below comes from one run of `bench/benchmark.py` at revision `{first['git_revision']}` "
            f"(clean tree), mode {entries[0]['mode']}, on {machine}, started {first['date']}."
        )
    return (
        f"The sections below come from more than one run or revision (each says which), on {machine}. "
        "Regenerate all of them with `.venv/bin/python bench/benchmark.py`."
    )


def targets_table(document: dict[str, Any]) -> list[str]:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for name in sections.NAMES:
        for target in document["sections"].get(name, {}).get("targets", []):
            lines.append(f"| {target['target']} | {target['measured']} | {VERDICT[target['met']]} |")
    return lines


def markdown(document: dict[str, Any]) -> str:
    lines = ["# MindPulse benchmark results", "", summary(document), "", "## Targets", "", *targets_table(document)]
    number = 0
    for name in sections.NAMES:
        entry = document["sections"].get(name)
        if entry is None:
            continue
        number += 1
        module = sections.module(name)
        lines += ["", f"## {number}. {module.TITLE}", "", measured_line(entry), "", module.render(entry["result"])]
    return "\n".join(lines) + "\n"


def readme(text: str, document: dict[str, Any]) -> str:
    """`text` (the README) with the block between the markers replaced by the targets table."""
    block = "\n".join([README_START, "", summary(document), "", *targets_table(document), "", README_END])
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md has no block between {README_START!r} and {README_END!r}")
    return pattern.sub(lambda _: block, text)
