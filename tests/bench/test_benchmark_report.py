"""The published benchmark figures are the rendering of bench/results/benchmark.json, and nothing else:
benchmark.md, the README's table of targets and bench/README.md's explained misses must equal what
bench/report.py makes of the committed JSON. `bench/benchmark.py` regenerates them; a hand edit of any
fails here."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from bench import provenance, report, sections

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"


def document() -> dict:
    return json.loads((RESULTS / "benchmark.json").read_text())


def test_benchmark_md_is_rendered_from_the_json() -> None:
    assert (RESULTS / "benchmark.md").read_text() == report.markdown(document())


def test_every_figure_is_rendered_from_the_json_and_linked_from_benchmark_md() -> None:
    figures = report.figures(document())
    assert {figure.name for figure in figures} >= {"overhead", "dag_runs", "step_scaling", "cluster_scaling"}
    markdown = (RESULTS / "benchmark.md").read_text()
    for figure in figures:
        assert (RESULTS / f"{figure.name}.svg").read_text() == figure.svg, f"{figure.name}.svg is not the rendering"
        assert f"]({figure.name}.svg)" in markdown


def test_the_readme_table_is_rendered_from_the_json() -> None:
    text = (REPO / "README.md").read_text()
    assert report.readme(text, document()) == text


def test_the_explained_misses_in_bench_readme_are_rendered_from_the_json() -> None:
    text = (REPO / "bench" / "README.md").read_text()
    assert report.bench_readme(text, document()) == text


def test_the_published_results_hold_every_section_from_one_full_run_of_one_revision() -> None:
    measured = document()["sections"]
    assert set(measured) == set(sections.NAMES)
    assert len({entry["run"] for entry in measured.values()}) == 1
    assert len({entry["provenance"]["git_revision"] for entry in measured.values()}) == 1
    assert {entry["mode"] for entry in measured.values()} == {"full"}
    assert not any(entry["provenance"]["git_dirty"] for entry in measured.values())
    assert "(clean tree)" in report.summary(document())


def test_every_file_the_benchmark_runs_is_as_it_was_at_the_recorded_revision() -> None:
    """No commit after the measured revision changes code: only the run's outputs, tests or docs (the benchmark
    runs no file under tests/ or docs/)."""
    revision = next(iter(document()["sections"].values()))["provenance"]["git_revision"]
    known = subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=REPO, check=False)
    if known.returncode != 0:
        pytest.skip(f"revision {revision} is not in this clone's history (a shallow clone)")
    excluded = [f":(exclude){path}" for path in (*provenance.OUTPUTS, "tests", "docs")]
    later = subprocess.run(
        ["git", "log", "--format=%h %s", f"{revision}..HEAD", "--", ".", *excluded],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert later == "", f"commits after the measured revision change code the benchmark runs:\n{later}"


def test_the_summary_says_whether_the_tree_was_clean() -> None:
    changed = copy.deepcopy(document())
    for entry in changed["sections"].values():
        entry["provenance"]["git_dirty"] = False
    assert "(clean tree)" in report.summary(changed)
    next(iter(changed["sections"].values()))["provenance"]["git_dirty"] = True
    assert f"1 of its {len(changed['sections'])} sections recorded uncommitted changes" in report.summary(changed)


def test_a_changed_figure_changes_the_rendering() -> None:
    original = document()
    changed = copy.deepcopy(original)
    target = next(entry for entry in changed["sections"].values() if entry["targets"])["targets"][0]
    target["measured"] = "a figure nobody measured"
    assert "a figure nobody measured" in report.markdown(changed)
    assert "a figure nobody measured" in report.readme((REPO / "README.md").read_text(), changed)
    assert "a figure nobody measured" not in report.markdown(original)


def test_every_missed_target_gets_a_paragraph_and_a_met_one_none() -> None:
    changed = copy.deepcopy(document())
    for entry in changed["sections"].values():
        for target in entry["targets"]:
            target["met"] = True
    assert report.misses(changed) == ["Every target was met."]
    entry = changed["sections"]["quality"]
    entry["targets"][0]["met"] = False
    assert len(report.misses(changed)) == 1
