"""The model registry on the models volume (standard library only).

Every promoted model is an immutable folder `versions/vNNNN/` holding `model.joblib` and
`metadata.json` (with the model file's SHA-256). `current` is a relative symlink to the live
version; promotion writes the folder completely under a temporary name, renames it into place,
then swaps the symlink with one atomic rename. A reader following `current` therefore always
finds a complete version, and the serving side loads one stable path: /models/current/model.joblib.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mindpulse import atomic
from mindpulse.paths import METADATA_FILE, MODEL_FILE, Layout
from mindpulse.step import StepError, say

VERSION_PATTERN = re.compile(r"v(\d{4,})")


def current_version(layout: Layout) -> str | None:
    try:
        target = os.readlink(layout.current_model_dir)
    except (FileNotFoundError, OSError):
        return None
    return Path(target).name


def current_metadata(layout: Layout) -> dict[str, Any] | None:
    """Metadata of the live model, or None when no model has been promoted yet."""
    if current_version(layout) is None:
        return None
    try:
        return json.loads(layout.current_metadata.read_text())
    except (OSError, ValueError) as error:
        raise StepError(f"{layout.current_metadata}: unreadable model metadata ({error})") from None


def next_version(layout: Layout) -> str:
    existing = [
        int(match.group(1))
        for path in (layout.versions_dir.iterdir() if layout.versions_dir.is_dir() else ())
        if (match := VERSION_PATTERN.fullmatch(path.name))
    ]
    return f"v{max(existing, default=0) + 1:04d}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_model_path(layout: Layout) -> Path:
    """The live model file, after checking it against the checksum in its metadata."""
    metadata = current_metadata(layout)
    if metadata is None:
        raise StepError(f"{layout.current_model_dir}: no model has been promoted yet (run the bootstrap)")
    model = layout.current_model
    if not model.is_file():
        raise StepError(f"{model}: model file is missing")
    if file_sha256(model) != metadata.get("model_sha256"):
        raise StepError(f"{model}: checksum does not match {layout.current_metadata}; refusing to load it")
    return model


def promote(layout: Layout, metadata: dict[str, Any], write_model: Callable[[Path], None]) -> str:
    """Register a new version with `write_model(path)` writing the model file, and make it live."""
    version = next_version(layout)
    layout.versions_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=layout.versions_dir))
    try:
        write_model(staging / MODEL_FILE)
        document = {**metadata, "version": version, "model_sha256": file_sha256(staging / MODEL_FILE)}
        atomic.write_json(staging / METADATA_FILE, document)
        staging.chmod(0o755)
        os.rename(staging, layout.versions_dir / version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _point_current_at(layout, version)
    return version


def _point_current_at(layout: Layout, version: str) -> None:
    link = layout.models_dir / f".current.{version}.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(Path(layout.versions_dir.name) / version)
    os.replace(link, layout.current_model_dir)


def backup_current_model(layout: Layout, stamp: str) -> dict[str, Any]:
    """Copy the live model and its metadata to backups/model_<stamp>/ (a no-op without a model)."""
    version = current_version(layout)
    if version is None:
        say("no current model yet: nothing to back up")
        return {"backed_up": False, "reason": "no current model"}
    verified_model_path(layout)
    destination = layout.backups_dir / f"model_{stamp}"
    atomic.copy_tree(layout.versions_dir / version, destination)
    say(f"backed up model {version} to {destination}")
    return {"backed_up": True, "version": version, "backup": str(destination)}
