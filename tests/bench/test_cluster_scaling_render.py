"""The cluster section's Markdown (bench/cluster_scaling.render) from a measured result: pure logic. The
measurement itself starts a cluster and is run by hand (`.venv/bin/python -m bench.cluster_scaling`)."""

from __future__ import annotations

from bench.cluster_scaling import render

RESULT = {
    "repeats": 3,
    "reference_rows": 10_000,
    "production_rows": 1_500,
    "cpu_cores": 2,
    "worker_concurrency": 2,
    "one_worker_s": [100.0, 90.0, 95.0],
    "two_workers_s": [120.0, 110.0, 114.0],
}


def test_the_section_reports_medians_every_run_and_the_ratio() -> None:
    section = render(RESULT)
    assert section.startswith("## Cluster: both DAGs at once on one worker host versus two")
    assert "| 1 | 95 s | 100, 90, 95 |" in section
    assert "| 2 | 114 s | 120, 110, 114 |" in section
    assert "1.20x" in section
    assert "10,000 reference rows" in section and "2 CPU cores" in section
