"""Section: what the images weigh on disk, against the one fat image of the seed's design, and how long a
step image takes to rebuild after an edit.

Sizes are counted per layer (`docker image inspect` and the engine's history), so a layer several images
share (the Python base, a family's libraries) counts once. This project needs the Airflow image and every
step image; the seed's design needs one image with Airflow and every step library, built here from the same
locks and trims (bench/peer_image/install.sh) on the same Python base.

The cold build (nothing cached) is not measured: it is dominated by downloading about 1.5 GB of wheels,
which says more about the network than about the design, and timing it would throw away every cache on the
machine three times.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import UTC, datetime
from typing import Any

from bench import peer
from bench.harness import REPO, Run, docker, span
from mindpulse import catalog

TITLE = "Image sizes and rebuild time"
MB = 1e6
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
REBUILT_STEP = "train_new_model"
ML_MODULES = ("pandas", "numpy", "sklearn", "xgboost", "evidently")
# Prints {distribution name: bytes of its installed files} for the Python environment it runs in.
PACKAGE_BYTES = (
    "import importlib.metadata as m, json, os\n"
    "print(json.dumps({d.metadata['Name']: sum(os.path.getsize(f.locate()) for f in d.files or () "
    "if os.path.isfile(f.locate())) for d in m.distributions()}))"
)


def python_base() -> str:
    """The base build_images.sh chose: the official image where present, else the locally built one."""
    for image in ("python:3.11-slim-bookworm", "mindpulse/python:3.11-bookworm"):
        if docker("image", "inspect", image, check=False).returncode == 0:
            return image
    raise RuntimeError("no Python base image: run ./build_images.sh first")


def layer_sizes(images: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Each image's layers, oldest first, as (diff id, bytes). The engine's history lists a size for every
    build step; the steps that made a non-empty layer are the ones with a size, in the same order."""
    import docker as docker_sdk

    client = docker_sdk.from_env()
    try:
        result = {}
        for image in images:
            layers = client.images.get(image).attrs["RootFS"]["Layers"]
            sizes = [entry["Size"] for entry in reversed(client.api.history(image)) if entry["Size"] > 0]
            non_empty = [layer for layer in layers if layer != EMPTY_LAYER]
            if len(sizes) != len(non_empty):
                raise RuntimeError(f"{image}: {len(non_empty)} non-empty layers but {len(sizes)} sized history steps")
            filled = iter(sizes)
            result[image] = [(layer, 0 if layer == EMPTY_LAYER else next(filled)) for layer in layers]
        return result
    finally:
        client.close()


def installed_packages(image: str) -> dict[str, int]:
    """The Python distributions installed in an image, by normalised name, with the bytes of their files."""
    output = docker("run", "--rm", "--network=none", "--entrypoint=python", image, "-c", PACKAGE_BYTES).stdout
    return {re.sub(r"[-_.]+", "-", name.lower()): size for name, size in json.loads(output.strip()).items()}


def shared_packages(airflow: str, top_family: str) -> dict[str, Any]:
    """What the split stores twice: packages installed both in the Airflow image and in the families (the top
    family holds every family's packages), with their bytes in the Airflow image."""
    in_families = installed_packages(top_family)
    shared = {name: size for name, size in installed_packages(airflow).items() if name in in_families}
    return {"bytes": sum(shared.values()), "largest": sorted(shared.items(), key=lambda item: -item[1])[:6]}


def measure(run: Run) -> dict[str, Any]:
    base = python_base()
    # A smoke run builds no fat image (minutes of pip installs); it compares with one already built, if any.
    fat = peer.ensure_fat_image(base, build=not run.smoke)
    families = [f"mindpulse/family-{family}:{run.tag}" for family in catalog.FAMILIES]
    steps = [step.name for step in catalog.STEPS]
    airflow = f"mindpulse/airflow:{run.tag}"
    # The Docker guard ships with the single-machine stack too (on family-base, so it adds little).
    ours = [base, *families, *map(run.image, steps), airflow, f"mindpulse/guard:{run.tag}"]
    layers = layer_sizes([*ours, *([fat["image"]] if fat["present"] else [])])

    def size(image: str) -> int:
        return sum(bytes_ for _, bytes_ in layers[image])

    def own(image: str, parent: str) -> dict[str, Any]:
        inherited = {layer for layer, _ in layers[parent]}
        extra = sum(bytes_ for layer, bytes_ in layers[image] if layer not in inherited)
        return {"size_bytes": size(image), "parent": parent, "own_bytes": extra}

    check = (
        f"import importlib.util, json; print(json.dumps([m for m in {ML_MODULES!r} if importlib.util.find_spec(m)]))"
    )
    found = docker("run", "--rm", "--network=none", "--entrypoint=python", airflow, "-c", check).stdout
    unique = dict(pair for image in ours for pair in layers[image])
    result: dict[str, Any] = {
        "python_base": {"image": base, "size_bytes": size(base)},
        "families": {
            family: own(image, families[index - 1] if index else base)
            for index, (family, image) in enumerate(zip(catalog.FAMILIES, families, strict=True))
        },
        "steps": {
            step: own(run.image(step), f"mindpulse/family-{catalog.step(step).family}:{run.tag}")
            | {"family": catalog.step(step).family}
            for step in steps
        },
        "airflow": own(airflow, base) | {"ml_libraries": json.loads(found.strip())},
        "ours_total_bytes": sum(unique.values()),
        "shared_with_airflow": shared_packages(airflow, families[-1]),
        "fat": fat | ({"size_bytes": size(fat["image"])} if fat["present"] else {}),
    }
    result["max_step_own_bytes"] = max(entry["own_bytes"] for entry in result["steps"].values())
    result["warm_rebuild_s"] = run.repeat(lambda index: warm_rebuild(run, index))
    return result


def warm_rebuild(run: Run, index: int) -> float:
    """Rebuild one step image after editing a copy of its entrypoint, as build_images.sh builds a step."""
    copy = run.folder / f"warm-rebuild-{index}"
    shutil.copytree(REPO / catalog.step(REBUILT_STEP).folder, copy)
    with open(copy / "entrypoint.py", "a") as handle:
        handle.write(f"# edited by the benchmark at {datetime.now(UTC).isoformat()}\n")
    image = f"mindpulse-bench/warm-rebuild:{index}"
    run.images.append(image)
    started = time.perf_counter()
    docker(
        "buildx", "build", f"--file={REPO / 'tasks' / 'common' / 'step.Dockerfile'}",
        f"--build-arg=FAMILY={catalog.step(REBUILT_STEP).family}", f"--build-arg=TAG={run.tag}", f"--tag={image}",
        str(copy), timeout=600,
    )  # fmt: skip
    return time.perf_counter() - started


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    largest = result["max_step_own_bytes"]
    ml = result["airflow"]["ml_libraries"]
    ours, fat = result["ours_total_bytes"], result["fat"].get("size_bytes")
    warm = result["warm_rebuild_s"]["median"]
    comparison = (
        {"measured": f"{ours / 1e9:.3f} GB vs {fat / 1e9:.3f} GB", "met": ours <= fat}
        if fat
        else {"measured": "fat image not built (smoke run)", "met": None}
    )
    return [
        {
            "target": "every step image adds <= 1 MB over its family",
            "measured": f"largest {largest / 1e3:.1f} kB",
            "met": largest <= 1_000_000,
        },
        {"target": "the scheduler image has no ML library", "measured": ", ".join(ml) or "none found", "met": not ml},
        {"target": "all our images together (Airflow's included) <= the fat image"} | comparison,
        {"target": "warm rebuild after editing one entrypoint <= 10 s", "measured": f"{warm:.1f} s", "met": warm <= 10},
    ]


def render(result: dict[str, Any]) -> str:
    lines = [
        "| image | size MB | own bytes (over its parent) |",
        "|---|---|---|",
        f"| {result['python_base']['image']} (Python base) | {result['python_base']['size_bytes'] / MB:.1f} | - |",
    ]
    for family, entry in result["families"].items():
        lines.append(
            f"| mindpulse/family-{family} | {entry['size_bytes'] / MB:.1f} | {entry['own_bytes'] / MB:.1f} MB |"
        )
    for step, entry in result["steps"].items():
        lines.append(
            f"| {catalog.step(step).image_name} ({entry['family']}) | {entry['size_bytes'] / MB:.1f} | "
            f"{entry['own_bytes'] / 1e3:.1f} kB |"
        )
    airflow = result["airflow"]
    lines.append(
        f"| mindpulse/airflow | {airflow['size_bytes'] / MB:.1f} | {airflow['own_bytes'] / MB:.1f} MB "
        f"(ML libraries: {', '.join(airflow['ml_libraries']) or 'none'}) |"
    )
    fat = result["fat"]
    total = result["ours_total_bytes"] / MB
    shared = result["shared_with_airflow"]
    largest = _largest_shared(shared, digits=1)
    lines += [
        "",
        f"All of the above on disk, shared layers counted once: **{total:.0f} MB**. Of it, "
        f"{shared['bytes'] / MB:.0f} MB are packages installed both in the Airflow image and in the families "
        f"(largest, MB: {largest}).",
    ]
    if fat["present"]:
        conflicts = ", ".join(fat["conflicts"]) or "nothing"
        lines.append(
            f"The fat image (`{fat['image']}`, Airflow and every step library in one venv, same locks and trims): "
            f"**{fat['size_bytes'] / MB:.0f} MB**. Installing the step libraries after Airflow changed: {conflicts}."
        )
    else:
        lines.append("The fat image was not built (smoke run).")
    lines += [
        "",
        f"Warm rebuild of `{REBUILT_STEP}` after editing its entrypoint: **{span(result['warm_rebuild_s'], 1)} s**.",
    ]
    return "\n".join(lines)


def _largest_shared(shared: dict[str, Any], digits: int, unit: str = "") -> str:
    """The largest packages installed both in the Airflow image and in a family, with their sizes in MB."""
    return ", ".join(f"{name} {size / MB:.{digits}f}{unit}" for name, size in shared["largest"])


def explain(result: dict[str, Any], document: dict[str, Any]) -> list[str]:
    fat = result["fat"]
    if not fat["present"] or result["ours_total_bytes"] <= fat["size_bytes"]:
        return []
    families = sum(entry["own_bytes"] for entry in result["families"].values())
    steps = sum(entry["own_bytes"] for entry in result["steps"].values())
    airflow = result["airflow"]["own_bytes"]
    fat_own = fat["size_bytes"] - result["python_base"]["size_bytes"]
    shared = result["shared_with_airflow"]
    largest = _largest_shared(shared, digits=0, unit=" MB")
    return [
        f"**All our images {result['ours_total_bytes'] / MB:.0f} MB against the fat image's "
        f"{fat['size_bytes'] / MB:.0f} MB.** Both stand on the same {result['python_base']['size_bytes'] / MB:.0f} MB "
        f"Python base. On it the fat image adds {fat_own / MB:.0f} MB; we add the Airflow image's "
        f"{airflow / MB:.0f} MB, the four families' {families / MB:.0f} MB and the step layers' {steps / 1e3:.0f} kB "
        f"({(airflow + families + steps) / MB:.0f} MB). Packages both halves need are stored twice, once in the "
        f"Airflow image and once in a family: {shared['bytes'] / MB:.0f} MB of them ({largest}), which the fat "
        "image holds once."
    ]
