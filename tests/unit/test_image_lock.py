"""The start commands' image check (mindpulse.image_lock.check) against this engine's listing: pure logic over a
lock file and `docker image ls` lines. Against the cluster's real registry: tests/cluster."""

from __future__ import annotations

from pathlib import Path

from mindpulse import catalog, image_lock

IDS = {step.image_name: f"sha256:{index:064x}" for index, step in enumerate(catalog.STEPS)}
LISTED = [f"{name} {image_id}" for name, image_id in IDS.items()] + ["mindpulse/airflow sha256:" + "f" * 64]


def test_every_step_image_as_built_passes(tmp_path: Path) -> None:
    image_lock.write(tmp_path, ["latest"], LISTED)
    assert image_lock.check(tmp_path, "latest", LISTED) is None


def test_a_missing_lock_names_the_file_and_the_build(tmp_path: Path) -> None:
    assert image_lock.check(tmp_path, "latest", LISTED) == (
        f"{tmp_path}/latest.json: no image lock; build the images with ./build_images.sh, which records it"
    )


def test_an_image_missing_or_rebuilt_since_the_lock_is_named(tmp_path: Path) -> None:
    image_lock.write(tmp_path, ["latest"], LISTED)
    first, second = (step.image_name for step in catalog.STEPS[:2])
    assert image_lock.check(tmp_path, "latest", LISTED[1:]) == f"{first}:latest is not in this Docker engine"
    rebuilt = [LISTED[0], f"{second} sha256:{'e' * 64}", *LISTED[2:]]
    assert image_lock.check(tmp_path, "latest", rebuilt) == (
        f"{second}:latest in this Docker engine is sha256:{'e' * 64}, not the build's {IDS[second]}"
    )


def test_a_lock_that_misses_a_step_says_how_many_it_has(tmp_path: Path) -> None:
    image_lock.write(tmp_path, ["latest"], LISTED[1:])
    total = len(catalog.STEPS)
    assert image_lock.check(tmp_path, "latest", LISTED) == (
        f"the image lock records {total - 1} of {total} step images: {catalog.STEPS[0].image_name} is missing"
    )
