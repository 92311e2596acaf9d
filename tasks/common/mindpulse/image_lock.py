"""The image lock: which content each step image has, recorded by ./build_images.sh, checked by the Docker guard.

A tag names whatever was last built or pushed under it; an image ID (the sha256 of the image's configuration)
names one content, and it is the same after a push and a pull. build_images.sh records the ID of every step
image it built in `image-locks/<tag>.json` (not in git: the IDs are this machine's builds), and the Docker guard
(orchestrator/guard) lets a step container start only from the recorded ID. So a step image re-tagged on an
engine, or replaced in the cluster's registry after the build, does not run; and a missing image is refused
with the command that builds it, never pulled from a public registry.

    {"tag": "0.1.0", "images": {"mindpulse/detect-drift": "sha256:...", ...}}

    python -m mindpulse.image_lock write FOLDER TAG [TAG...] < "repository id" lines (build_images.sh)
    python -m mindpulse.image_lock check FOLDER TAG [--registry HOST:PORT] < "repository id" lines
                                                     (scripts/quickstart.sh and scripts/cluster.sh, at start)

Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
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


# The cluster registry's one user (scripts/init-secrets.sh); its password comes in this variable.
REGISTRY_USER = "mindpulse"
REGISTRY_PASSWORD_VARIABLE = "REGISTRY_PASSWORD"
# A manifest names its image's ID as its config's digest (the ID is the digest of the image configuration).
_MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def step_images(listed: Iterable[str]) -> dict[str, str]:
    """Step repository -> image ID from "repository id" lines, as `docker image ls --no-trunc --format
    '{{.Repository}} {{.ID}}'` prints them for one tag."""
    steps = {step.image_name for step in catalog.STEPS}
    images = {}
    for line in listed:
        repository, _, image_id = line.strip().partition(" ")
        if repository in steps and image_id.startswith("sha256:"):
            images[repository] = image_id
    return images


def write(folder: Path, tags: Iterable[str], listed: Iterable[str]) -> dict[str, str]:
    """Record, for each of `tags`, the IDs of the step images in `listed` ("repository id" lines)."""
    images = step_images(listed)
    folder.mkdir(parents=True, exist_ok=True)
    for tag in tags:
        atomic.write_json(folder / file_name(tag), {"tag": tag, "images": dict(sorted(images.items()))})
    return images


def describe(images: Mapping[str, str]) -> str:
    return f"{len(images)} of {len(catalog.STEPS)} step images"


def mismatch(locked: Mapping[str, str], found: Mapping[str, str | None], tag: str, where: str) -> str | None:
    """The first step image of the catalog that is not in `found` as the lock recorded it, said in one line;
    None when every one is. `found` maps repository -> image ID (None or absent: not there)."""
    for step in catalog.STEPS:
        image, recorded = step.image_name, locked.get(step.image_name)
        if recorded is None:
            return f"the image lock records {describe(locked)}: {image} is missing"
        if found.get(image) is None:
            return f"{image}:{tag} is not in {where}"
        if found[image] != recorded:
            return f"{image}:{tag} in {where} is {found[image]}, not the build's {recorded}"
    return None


def registry_images(address: str, tag: str, password: str, names: Iterable[str]) -> dict[str, str | None]:
    """Repository -> the image ID the registry at `address` (host:port) serves under `tag`, None when it has none.
    Unverified TLS: `address` is the loopback port the stack publishes its own registry on (the push went there);
    the worker engines, which pull over the network, verify the install's CA."""
    credential = base64.b64encode(f"{REGISTRY_USER}:{password}".encode()).decode()
    context = ssl._create_unverified_context()
    found: dict[str, str | None] = {}
    for name in names:
        request = urllib.request.Request(
            f"https://{address}/v2/{name}/manifests/{tag}",
            headers={"Authorization": f"Basic {credential}", "Accept": _MANIFEST_TYPES},
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as answer:
                found[name] = json.load(answer)["config"]["digest"]
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            found[name] = None
    return found


def check(folder: Path, tag: str, listed: Iterable[str], registry: str | None = None) -> str | None:
    """What keeps the stack of `tag` from starting its steps, in one line (None: nothing): the lock must record
    every step image, and this engine (`listed`) or, with `registry`, the cluster's registry must hold each."""
    try:
        locked = read(folder / file_name(tag), tag)
    except ValueError as error:
        return str(error)
    if registry is None:
        return mismatch(locked, step_images(listed), tag, "this Docker engine")
    password = os.environ.get(REGISTRY_PASSWORD_VARIABLE, "")
    try:
        found = registry_images(registry, tag, password, locked)
    except (OSError, urllib.error.URLError, KeyError, ValueError) as error:
        return f"cannot read the manifests of the registry {registry}: {error}"
    return mismatch(locked, found, tag, f"the registry {registry}")


USAGE = """usage: python -m mindpulse.image_lock write FOLDER TAG [TAG...] < 'repository id' lines
       python -m mindpulse.image_lock check FOLDER TAG [--registry HOST:PORT] < 'repository id' lines"""

if __name__ == "__main__":
    match sys.argv[1:]:
        case ["write", folder, *tags] if tags:
            recorded = write(Path(folder), tags, sys.stdin)
            print(f"image lock: {describe(recorded)} recorded in {Path(folder) / file_name(tags[0])}")
        case ["check", folder, tag] | ["check", folder, tag, "--registry", _]:
            registry = sys.argv[5] if len(sys.argv) == 6 else None
            problem = check(Path(folder), tag, sys.stdin, registry)
            if problem:
                sys.exit(f"ERROR: {problem}")
            where = f"the registry {registry}" if registry else "this Docker engine"
            print(f"image lock: every step image of tag {tag} is in {where} as built")
        case _:
            sys.exit(USAGE)
