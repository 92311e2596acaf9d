"""benchmark.md and the README's table of targets, rendered from bench/results/benchmark.json alone.

No figure reaches either file any other way: tests/bench/test_benchmark_report.py renders the committed JSON
and compares it with the committed files.
"""

from __future__ import annotations

import re
from typing import Any

from bench import sections
from bench.figures import Figure

README_START = "<!-- benchmark targets: rendered by bench/report.py from bench/results/benchmark.json -->"
README_END = "<!-- end of benchmark targets -->"
MISSES_START = "<!-- benchmark misses: rendered by bench/report.py from bench/results/benchmark.json -->"
MISSES_END = "<!-- end of benchmark misses -->"
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
    runs = {entry["run"] for entry in entries}
    first = entries[0]["provenance"]
    memory = f", {first['memory_bytes'] / 2**30:.0f} GiB" if first.get("memory_bytes") else ""
    machine = f"{first['cores']} cores{memory}, Python {first['python']}"
    dirty = [entry for entry in entries if entry["provenance"]["git_dirty"]]
    if len(runs) == 1 and len(revisions) == 1 and len(modes) == 1:
        minutes = sum(entry["seconds"] for entry in entries) / 60
        tree = (
            "clean tree"
            if not dirty
            else f"{len(dirty)} of its {len(entries)} sections recorded uncommitted changes in the tree"
        )
        return (
            f"Every section below comes from one run of `bench/benchmark.py` at revision `{first['git_revision']}` "
            f"({tree}), mode {entries[0]['mode']}, on {machine}, started {first['date']}, {minutes:.0f} minutes."
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
        for figure in section_figures(name, entry):
            lines += ["", f"![{figure.caption}]({figure.name}.svg)"]
    return "\n".join(lines) + "\n"


def section_figures(name: str, entry: dict[str, Any]) -> list[Figure]:
    module = sections.module(name)
    return module.figures(entry["result"]) if hasattr(module, "figures") else []


def figures(document: dict[str, Any]) -> list[Figure]:
    """Every section's figures, in report order: each is written to bench/results/<name>.svg."""
    return [
        figure
        for name in sections.NAMES
        if name in document["sections"]
        for figure in section_figures(name, document["sections"][name])
    ]


def misses(document: dict[str, Any]) -> list[str]:
    """One paragraph per missed target, from the figures of the run: each section explains its own misses
    (`explain(result, document)`, which may use other sections' figures)."""
    paragraphs = []
    for name in sections.NAMES:
        entry = document["sections"].get(name)
        if entry is None or not any(target["met"] is False for target in entry["targets"]):
            continue
        module = sections.module(name)
        explained = module.explain(entry["result"], document) if hasattr(module, "explain") else []
        missed = [target for target in entry["targets"] if target["met"] is False]
        if not explained:
            explained = [
                f"**{target['target']}**: {target['measured']}. Nothing in the results explains it."
                for target in missed
            ]
        paragraphs += explained
    return paragraphs or ["Every target was met."]


def replace_block(text: str, start: str, end: str, lines: list[str], where: str) -> str:
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{where} has no block between {start!r} and {end!r}")
    block = "\n".join([start, "", *lines, "", end])
    return pattern.sub(lambda _: block, text)


def readme(text: str, document: dict[str, Any]) -> str:
    """`text` (the README) with its block of targets rendered from `document`."""
    return replace_block(text, README_START, README_END, [summary(document), "", *targets_table(document)], "README.md")


def bench_readme(text: str, document: dict[str, Any]) -> str:
    """`text` (bench/README.md) with its block of explained misses rendered from `document`."""
    paragraphs = [line for paragraph in misses(document) for line in (paragraph, "")][:-1]
    return replace_block(text, MISSES_START, MISSES_END, paragraphs, "bench/README.md")
