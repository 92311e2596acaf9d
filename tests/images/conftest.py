"""Every test here uses throwaway named volumes, never the user's shared_volumes/. The images
must have been built by ./build_images.sh (`.ci/run` does that first)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from mindpulse.paths import VOLUME_DIRS
from tests.images.docker_steps import STEPS, Volumes, image


@pytest.fixture(scope="session", autouse=True)
def images_built() -> None:
    missing = [
        image(step)
        for step in STEPS
        if subprocess.run(["docker", "image", "inspect", image(step)], capture_output=True).returncode
    ]
    if missing:
        pytest.fail(f"images not built (run ./build_images.sh): {', '.join(missing)}")


def _volumes() -> Iterator[Volumes]:
    prefix = f"mindpulse-test-{uuid.uuid4().hex[:8]}"
    created = [f"{prefix}-{volume}" for volume in VOLUME_DIRS]
    for name in created:
        subprocess.run(["docker", "volume", "create", name], capture_output=True, check=True)
    try:
        yield Volumes(*created)
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", *created], capture_output=True)


@pytest.fixture
def volumes() -> Iterator[Volumes]:
    yield from _volumes()


@pytest.fixture(scope="module")
def module_volumes() -> Iterator[Volumes]:
    yield from _volumes()
