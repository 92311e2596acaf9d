"""The model registry on the models volume (standard library only).

Every trained model is registered as an immutable folder `versions/vNNNN/` holding `model.joblib`,
`metadata.json` (the model file's SHA-256, its metrics, data hashes, the image that trained it,
and the gate's decision: "promoted" or "rejected") and MLflow's files, which make the folder an MLflow model
(`MLmodel`, `input_example.json`, the environment files: see `mindpulse.signature`), checked with the model
whenever it is loaded. The metadata is
signed (`metadata.json.sig`, see `mindpulse.signing`), and every load checks that signature before it
trusts the checksum in it, so no pickle is loaded that a registering step did not write. `current`
is a relative symlink to the live version. Registering writes the folder completely under a
temporary name and renames it into place; going live swaps the symlink with one atomic rename.
A reader following `current` therefore always finds a complete version, and the serving side
loads one stable path: /models/current/model.joblib.

`audit.jsonl` gets one line per decision (promoted, rejected, rolled back): which version was live
when, and why (`mindpulse.audit`). Numbering a version, switching `current` and appending to the log hold the
registry lock, so a training run, a rollback and retention on any host take turns.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mindpulse import atomic, audit, chunk_store, signature, signing
from mindpulse.paths import (
    ENVIRONMENT_FILES,
    INPUTS_FILE,
    METADATA_FILE,
    METADATA_SIGNATURE_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    VERSION_PATTERN,
    Layout,
    temp_prefix,
    utc_stamp,
)
from mindpulse.protocol import StepError, say
from mindpulse.results import Backup, Rollback
from mindpulse.signature import Signature

PROMOTED, REJECTED = audit.PROMOTED, audit.REJECTED
# The gate's figures (mindpulse.retrain.gate.decide) the audit line repeats: the decision can be checked from the
# log alone. The full metrics of both models stay in the version's metadata.
AUDITED_FIGURES = (
    "live_score",
    "challenger_score",
    "p_worse",
    "alpha",
    "floor",
    "floor_source",
    "drawdown",
    "evaluation_rows",
)
# The metadata key naming the run stamp of the production rows a version was trained on: its archive and
# quarantine files carry that stamp, and retention keeps them while the version is kept.
PRODUCTION_STAMP = "production_stamp"


def current_version(layout: Layout) -> str | None:
    try:
        target = os.readlink(layout.current_model_dir)
    except (FileNotFoundError, OSError):
        return None
    return Path(target).name


def current_metadata(layout: Layout) -> dict[str, Any] | None:
    """Metadata of the live model, or None when no model has been promoted yet."""
    version = current_version(layout)
    return None if version is None else version_metadata(layout, version)


def version_metadata(layout: Layout, version: str) -> dict[str, Any]:
    path = _version_folder(layout, version) / METADATA_FILE
    return _parsed_metadata(path, path.read_bytes)


def _version_folder(layout: Layout, version: str) -> Path:
    folder = layout.versions_dir / version
    if not VERSION_PATTERN.fullmatch(version) or not folder.is_dir():
        raise StepError(f"{folder}: no such model version")
    return folder


def _parsed_metadata(path: Path, read: Callable[[], bytes]) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(read())
    except (OSError, ValueError) as error:
        raise StepError(f"{path}: unreadable model metadata ({error})") from None
    return parsed


def versions(layout: Layout) -> list[str]:
    """Every registered version, oldest first."""
    found = [
        path.name
        for path in (layout.versions_dir.iterdir() if layout.versions_dir.is_dir() else ())
        if VERSION_PATTERN.fullmatch(path.name)
    ]
    return sorted(found, key=lambda name: int(name[1:]))


def next_version(layout: Layout) -> str:
    existing = versions(layout)
    return f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Verified:
    """A version whose files were checked: its model file, its signed metadata, and its signature (None for a
    version registered before signatures)."""

    model_path: Path
    metadata: dict[str, Any]
    signature: Signature | None


def verified_model_path(layout: Layout, version: str | None = None) -> Path:
    """The model file of `version` (default: the live one), after checking it against the
    checksum in its metadata."""
    return verified_version(layout, version).model_path


def verified_version(layout: Layout, version: str | None = None) -> Verified:
    """`version` (default: the live one) after checking its metadata's signature, then the model file and the
    MLflow files against the checksums in it."""
    version = version or current_version(layout)
    if version is None:
        raise StepError(f"{layout.current_model_dir}: no model has been promoted yet (run the bootstrap)")
    folder = _version_folder(layout, version)
    # The checksum is trusted only from the bytes the signature covers, read once.
    path = folder / METADATA_FILE
    metadata = _parsed_metadata(path, lambda: signing.verified_bytes(layout, path))
    _check_checksum(folder, metadata)
    return Verified(folder / MODEL_FILE, metadata, verified_signature(layout, version, metadata))


def _check_checksum(folder: Path, metadata: dict[str, Any]) -> None:
    model = folder / MODEL_FILE
    if not model.is_file():
        raise StepError(f"{model}: model file is missing")
    if file_sha256(model) != metadata.get("model_sha256"):
        raise StepError(f"{model}: checksum does not match its {METADATA_FILE}; refusing to load it")


def establish_trust(layout: Layout) -> None:
    """Make the install's model-signing key pair if there is none (airflow-init, the bootstrap). Versions
    already on the models volume then are signed if their checksums hold: trust on first use, since until
    signing existed their checksums were all that vouched for them. Later, nothing unsigned is ever signed."""
    if not signing.ensure_keys(layout):
        return
    for version in versions(layout):
        folder = layout.versions_dir / version
        if (folder / METADATA_SIGNATURE_FILE).exists():
            continue
        try:
            _check_checksum(folder, version_metadata(layout, version))
        except StepError as error:
            say(f"{version} left unsigned: {error}")
            continue
        signing.sign(layout, folder / METADATA_FILE)
        say(f"{version}: signed (registered before model signing)")


def verified_signature(layout: Layout, version: str, metadata: dict[str, Any] | None = None) -> Signature | None:
    """The MLflow signature of `version`, checked: well formed, matching its checksum and the model's
    features (from `metadata`, when the caller has verified it), and the files beside it (environment, kept
    inputs) against theirs. None for a version registered before MLflow signatures, which still loads."""
    folder = layout.versions_dir / version
    metadata = metadata or version_metadata(layout, version)
    path = folder / SIGNATURE_FILE
    expected = metadata.get("signature_sha256")
    if expected is not None and not path.is_file():
        raise StepError(f"{path}: model signature is missing (its {METADATA_FILE} records one)")
    found = signature.read(folder)
    if found is None:
        return None
    if expected is not None and file_sha256(path) != expected:
        raise StepError(f"{path}: checksum does not match its {METADATA_FILE}; refusing to load the model")
    features = metadata.get("features")
    if features is not None and [column.name for column in found.inputs] != features:
        raise StepError(f"{path}: signature inputs are not the model's features {features}")
    for name, digest in (metadata.get("files_sha256") or {}).items():
        if not (folder / name).is_file() or file_sha256(folder / name) != digest:
            raise StepError(f"{folder / name}: missing or not matching its {METADATA_FILE}; refusing to load the model")
    return found


def kept_inputs(layout: Layout, version: str) -> dict[str, Any] | None:
    """The version's INPUTS_FILE ({role: mindpulse.chunk_store.Kept document}), or None for a version registered
    before versions kept their inputs. Read after verified_version has checked its checksum."""
    return chunk_store.inputs_of(_version_folder(layout, version))


def find_version(layout: Layout, key: str, value: Any) -> str | None:
    """The newest version whose metadata has `key` == `value` (how a retried step finds its own work)."""
    for version in reversed(versions(layout)):
        if version_metadata(layout, version).get(key) == value:
            return version
    return None


def register(
    layout: Layout,
    metadata: dict[str, Any],
    write_model: Callable[[Path], None],
    promote: bool,
    reason: str,
    describe: Callable[[Path], None] | None = None,
) -> str:
    """Register a new version with `write_model(path)` writing the model file and `describe(folder)` what describes
    it beside it (MLflow's files, mindpulse.signature; its kept inputs, INPUTS_FILE); make it live if `promote`."""
    layout.versions_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=temp_prefix(layout.versions_dir / "new"), dir=layout.versions_dir))
    try:
        write_model(staging / MODEL_FILE)
        if describe is not None:
            describe(staging)
        # Numbering, deciding and going live under one lock, the files written before it: another registration
        # would otherwise take the same number, and a rollback in between would see its pointer overwritten.
        with atomic.exclusive(layout.registry_lock):
            version = next_version(layout)
            promote, reason = _still_promoted(layout, metadata, promote, reason)
            _write_metadata(layout, staging, version, metadata, promote, reason, described=describe is not None)
            os.rename(staging, layout.versions_dir / version)
            finish_registration(layout, version)
    except OSError as error:
        raise StepError(f"{layout.versions_dir}: cannot register the new model: {error.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version


def _still_promoted(layout: Layout, metadata: dict[str, Any], promote: bool, reason: str) -> tuple[bool, str]:
    """The gate compared the challenger with the model live then; if another version went live since (a
    rollback), that verdict says nothing about the model it would replace."""
    gate = metadata.get("gate")
    if not promote or not isinstance(gate, dict):
        return promote, reason  # no gate said anything (a version a person registers by hand)
    judged_against, live = gate.get("champion_version"), current_version(layout)
    if judged_against != live:
        return False, f"{live} went live while it was judged against {judged_against}: not promoted over it ({reason})"
    return promote, reason


def _write_metadata(
    layout: Layout,
    staging: Path,
    version: str,
    metadata: dict[str, Any],
    promote: bool,
    reason: str,
    described: bool,
) -> None:
    document = {
        **metadata,
        "version": version,
        "status": PROMOTED if promote else REJECTED,
        "reason": reason,
        "live_when_registered": current_version(layout),
        "model_sha256": file_sha256(staging / MODEL_FILE),
    }
    if described:
        # Its checksum also says a signature is expected: a version that lost its MLmodel is refused.
        document["signature_sha256"] = file_sha256(staging / SIGNATURE_FILE)
        present = [name for name in (*ENVIRONMENT_FILES, INPUTS_FILE) if (staging / name).is_file()]
        document["files_sha256"] = {name: file_sha256(staging / name) for name in present}
    atomic.write_json(staging / METADATA_FILE, document)
    signing.sign(layout, staging / METADATA_FILE)
    staging.chmod(0o755)


def finish_registration(layout: Layout, version: str) -> None:
    """Finish what registering `version` decided: point `current` at it when it was promoted, and
    write its audit line. Safe to repeat (a retry after a crash between the steps finishes them)."""
    with atomic.exclusive(layout.registry_lock):
        metadata = version_metadata(layout, version)
        if metadata["status"] == PROMOTED and current_version(layout) == metadata["live_when_registered"]:
            _point_current_at(layout, version)
        if not any(entry.get("version") == version for entry in audit.entries(layout)):
            gate = {name: value for name, value in (metadata.get("gate") or {}).items() if name in AUDITED_FIGURES}
            live_before = metadata["live_when_registered"]
            audit.record(layout, metadata["status"], version, live_before, metadata["reason"], gate)


def rollback_model(layout: Layout, to_version: str | None, reason: str, requested_by: str | None = None) -> Rollback:
    """Make an earlier version live again. Without `to_version`: the one live before the current one. Under the
    registry lock: a promotion cannot land between reading what is live and switching it."""
    reason = reason.strip()
    by = requested_by or getpass.getuser()
    with atomic.exclusive(layout.registry_lock):
        live = current_version(layout)
        target = to_version or audit.previously_live(layout, live)
        if target is None:
            raise StepError(f"{layout.audit_log}: no earlier live version to roll back to; name one with --to")
        verified_model_path(layout, target)
        if target == live:
            # A retried rollback finds its work done.
            say(f"{target} is live already: nothing to change")
            return Rollback(rolled_back=False, version=target, previous=live, reason="already live")
        _point_current_at(layout, target)
        audit.record(layout, audit.ROLLED_BACK, target, live, reason, by=by)
    say(f"rolled back from {live} to {target}: {reason}")
    return Rollback(rolled_back=True, version=target, previous=live, reason=reason)


def _point_current_at(layout: Layout, version: str) -> None:
    link = layout.current_link_temp(version)
    link.unlink(missing_ok=True)
    link.symlink_to(Path(layout.versions_dir.name) / version)
    os.replace(link, layout.current_model_dir)


def backup_current_model(layout: Layout, run_stamp: str | None = None) -> Backup:
    """Copy the live model and its metadata to backups/model_<stamp>/ (a no-op without a model)."""
    version = current_version(layout)
    if version is None:
        say("no current model yet: nothing to back up")
        return Backup(backed_up=False, reason="no current model")
    verified_model_path(layout)
    destination = layout.backup_dir(run_stamp or utc_stamp())
    if destination.is_dir() and (destination / METADATA_FILE).is_file():
        say(f"{destination} exists already (a retried run): kept")
    else:
        # Phase marker: the fault tests kill the step on this line, inside the copy.
        say(f"copying model {version} to {destination}")
        atomic.copy_tree(layout.versions_dir / version, destination)
        say(f"backed up model {version} to {destination}")
    return Backup(backed_up=True, version=version, backup=str(destination))
