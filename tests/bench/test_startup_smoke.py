"""The start-up section once on the built images: every figure present, the Markdown renders it, the volumes go.

Needs a Docker engine and the images of ./build_images.sh (tag: MINDPULSE_IMAGE_TAG, else VERSION).
"""

from __future__ import annotations

import json
import math
import subprocess
from typing import Any

import pytest

from bench import startup
from mindpulse import catalog
from tests.images.docker_steps import TAG

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    measured = startup.measure(TAG, repeats=1)
    return json.loads(json.dumps(measured))  # what a caller stores: JSON-able, unchanged by the round trip


def _figure(entry: dict[str, float]) -> bool:
    return entry["n"] == 1 and all(math.isfinite(entry[key]) and entry[key] > 0 for key in ("median", "min", "max"))


def test_every_family_has_every_figure(result: dict[str, Any]) -> None:
    assert _figure(result["noop_s"])
    assert list(result["families"]) == list(catalog.FAMILIES)
    for family, entry in result["families"].items():
        for name in ("startup_s", "python_s", "import_s", "import_cpu_s", "exit_s"):
            assert _figure(entry[name]), (family, name)
        assert sorted(entry["steps"]) == sorted(step.name for step in catalog.STEPS if step.family == family)
        assert entry["top_modules"] and entry["self_s_by_package"], family
    assert "libraries_import_s" not in result["families"]["base"], "the base family adds no library"


def test_the_evidently_profile_names_evidently_and_its_floor_what_the_steps_load(result: dict[str, Any]) -> None:
    entry = result["families"]["evidently"]

    assert _figure(entry["libraries_import_s"]) and _figure(entry["libraries_import_cpu_s"])
    assert "evidently" in {row["module"] for row in entry["top_modules"]}
    assert "evidently" in entry["self_s_by_package"]
    assert all(name.startswith("evidently.") for name in entry["self_s_by_subpackage"])


def test_the_markdown_has_a_row_and_a_profile_per_family(result: dict[str, Any]) -> None:
    text = startup.render(result)

    assert text.startswith(f"## Step start-up per image family (images `{TAG}`, median of 1")
    for family in catalog.FAMILIES:
        assert f"\n| {family} | " in text
        assert f"### {family}: where the import time goes" in text


def test_the_throwaway_volumes_are_gone(result: dict[str, Any]) -> None:
    listed = subprocess.run(["docker", "volume", "ls", "--quiet"], capture_output=True, text=True, check=True)
    assert not [name for name in listed.stdout.split() if name.startswith("mindpulse-bench-startup-")]
