"""The image lock: which content each step image has, recorded by ./build_images.sh, checked by the Docker guard.

A tag names whatever was last built or pushed under it; an image ID (the sha256 of the image's configuration)
names one content, and it is the same after a push and a pull. build_images.sh records the ID of every step
image it built in `image-locks/<tag>.json` (not in git: the IDs are this machine's builds), and the Docker guard
(orchestrator/guard) lets a step container start only from the recorded ID. So a step image re-tagged on an
engine, or replaced in the cluster's registry after the build, does not run; and a missing image is refused
with the command that builds it, never pulled from a public registry.

    {"tag": "0.1.0", "images": {"mindpulse/detect-drift": "sha256:...", ...}}

    python -m mindpulse.image_lock write FOLDER TAG [TAG...] < "repository id" lines (build_images.sh)

Standard library only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from mindpulse import atomic, catalog

# Where the guard finds the lock of the tag it serves (docker-compose.yml mounts image-locks/<tag>.json there).
MOUNTED = Path("/etc/mindpulse/image-lock.json")
BUILD_COMMAND = "./build_images.sh"


def file_name(tag: str) -> str:
    return f"{tag}.json"


def read(path: Path, tag: str) -> dict[str, str]:
    """Step repository (mindpulse/detect-drift) -> its recorded image ID, for `tag`; ValueError saying what to do."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no image lock; build the images with {BUILD_COMMAND}, which records it") from None
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path}: unreadable image lock ({error}); build the images again with {BUILD_COMMAND}"
        ) from None
    if not isinstance(document, dict) or document.get("tag") != tag:
        found = document.get("tag") if isinstance(document, dict) else None
        raise ValueError(f"{path}: the image lock is for tag {found!r}, not {tag!r}: {BUILD_COMMAND} --tag {tag}")
    images = document.get("images")
    if not isinstance(images, dict) or not all(isinstance(value, str) for value in images.values()):
        raise ValueError(f"{path}: the image lock has no images; build the images again with {BUILD_COMMAND}")
    return images


def write(folder: Path, tags: Iterable[str], listed: Iterable[str]) -> dict[str, str]:
    """Record, for each of `tags`, the IDs of the step images in `listed` ("repository id" lines, as
    `docker image ls --no-trunc --format '{{.Repository}} {{.ID}}'` prints them for one tag)."""
    steps = {step.image_name for step in catalog.STEPS}
    images = {}
    for line in listed:
        repository, _, image_id = line.strip().partition(" ")
        if repository in steps and image_id.startswith("sha256:"):
            images[repository] = image_id
    folder.mkdir(parents=True, exist_ok=True)
    for tag in tags:
        atomic.write_json(folder / file_name(tag), {"tag": tag, "images": dict(sorted(images.items()))})
    return images


def describe(images: Mapping[str, str]) -> str:
    return f"{len(images)} of {len(catalog.STEPS)} step images"


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "write":
        sys.exit("usage: python -m mindpulse.image_lock write FOLDER TAG [TAG...] < 'repository id' lines")
    recorded = write(Path(sys.argv[2]), sys.argv[3:], sys.stdin)
    print(f"image lock: {describe(recorded)} recorded in {Path(sys.argv[2]) / file_name(sys.argv[3])}")
