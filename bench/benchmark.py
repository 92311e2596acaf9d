"""The MindPulse benchmark: every published figure, from one command on a committed revision.

    ./build_images.sh --cluster && scripts/setup_venvs.sh
    .venv/bin/python bench/benchmark.py                       # every section (its duration: bench/results/benchmark.md)
    .venv/bin/python bench/benchmark.py --sections images     # some sections; the others stay as they were
    .venv/bin/python bench/benchmark.py --smoke --out DIR     # tiny data, one repeat: checks the code

It writes bench/results/benchmark.json (each section's figures, with the revision, machine, load and date
that produced them), then renders bench/results/benchmark.md and the README's table of targets from that
JSON (bench/report.py). A tree with uncommitted changes is refused unless --allow-dirty is given, and then
the results say so. The sections are listed in bench/sections.py and explained in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import provenance, report, sections
from bench.harness import REPO, Run

RESULTS = REPO / "bench" / "results"
DOCUMENT = "benchmark.json"


def measure_section(name: str, run: Run) -> dict[str, Any]:
    module = sections.module(name)
    origin = provenance.provenance()
    started = time.perf_counter()
    result = module.measure(run)
    return {
        "run": run.started,
        "provenance": origin,
        "mode": "smoke" if run.smoke else "full",
        "tag": run.tag,
        "seconds": time.perf_counter() - started,
        "load_average_end": provenance.load(),
        "result": result,
        "targets": module.targets(result) if hasattr(module, "targets") else [],
    }


def write(out: Path, document: dict[str, Any]) -> None:
    """The JSON, then everything rendered from it as read back."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / DOCUMENT
    staged = path.with_suffix(".json.tmp")
    staged.write_text(json.dumps(document, indent=2) + "\n")
    staged.replace(path)
    document = json.loads(path.read_text())
    for figure in report.figures(document):
        (out / f"{figure.name}.svg").write_text(figure.svg)
    (out / "benchmark.md").write_text(report.markdown(document))
    if out.resolve() == RESULTS.resolve():
        for path, render in ((REPO / "README.md", report.readme), (REPO / "bench" / "README.md", report.bench_readme)):
            path.write_text(render(path.read_text(), document))


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument(
        "--sections",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=list(sections.NAMES),
        help=f"comma-separated, of: {', '.join(sections.NAMES)} (default: all; the others are kept as they were)",
    )
    cli.add_argument("--smoke", action="store_true", help="tiny data and one repeat: checks that the code runs")
    cli.add_argument("--out", type=Path, default=RESULTS, help="where the results go (default bench/results)")
    cli.add_argument("--allow-dirty", action="store_true", help="measure a tree with uncommitted changes")
    args = cli.parse_args()
    for name in args.sections:
        try:
            sections.module(name)
        except ValueError as error:
            cli.error(str(error))
    if args.smoke and args.out.resolve() == RESULTS.resolve():
        cli.error("a smoke run does not replace the published results: give --out DIR")
    changed = provenance.changes()
    if changed and not args.allow_dirty:
        print(
            f"ERROR: uncommitted changes ({len(changed)}, e.g. {changed[0].strip()}): commit them, or give "
            "--allow-dirty (the results will say so)",
            file=sys.stderr,
        )
        return 2
    partial = set(args.sections) != set(sections.NAMES)
    existing = args.out / DOCUMENT
    document: dict[str, Any] = {"sections": {}}
    if partial and existing.is_file():
        document = json.loads(existing.read_text())
    tag = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()
    run = Run(tag=tag, smoke=args.smoke)
    started = time.perf_counter()
    try:
        for name in args.sections:
            print(f"[{time.perf_counter() - started:6.0f} s] {name}", flush=True)
            document["sections"][name] = measure_section(name, run)
            write(args.out, document)
    finally:
        run.close()
    print(f"[{time.perf_counter() - started:6.0f} s] done: {args.out / 'benchmark.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
