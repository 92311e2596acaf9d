"""A model is unpickled only when a registering step signed it: whoever can write the models volume can
replace a model and recompute its checksum, but cannot sign it (mindpulse.signing)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import joblib
import pytest

from mindpulse import protocol, registry, signing
from mindpulse.paths import DIR_ENVS, METADATA_FILE, METADATA_SIGNATURE_FILE, MODEL_FILE, Layout
from mindpulse.protocol import StepError
from mindpulse.retrain import fit, model_file, training


class Payload:
    """A pickle that runs code when it is loaded: it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def plant_crafted_model(layout: Layout, marker: Path) -> Path:
    """The attack: the live model replaced by the payload, its checksum in metadata.json recomputed."""
    folder = layout.current_model_dir.resolve()
    joblib.dump(Payload(marker), folder / MODEL_FILE)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["model_sha256"] = registry.file_sha256(folder / MODEL_FILE)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    return folder


def step_environment(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    for volume, folder in layout.volume_dirs.items():
        monkeypatch.setenv(DIR_ENVS[volume], str(folder))


def test_a_registered_version_is_signed_and_loads(seeded: Layout) -> None:
    folder = seeded.current_model_dir.resolve()

    assert (folder / METADATA_SIGNATURE_FILE).is_file()
    assert registry.verified_model_path(seeded) == folder / MODEL_FILE
    assert hasattr(model_file.load(seeded), "predict")


def test_a_crafted_pickle_with_its_checksum_recomputed_is_refused_before_it_is_unpickled(
    seeded: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pickle-ran"
    folder = plant_crafted_model(seeded, marker)
    live = registry.current_version(seeded)
    # The attack landed: the checksum alone now vouches for the payload, and loading it runs its code.
    assert registry.file_sha256(folder / MODEL_FILE) == json.loads((folder / METADATA_FILE).read_text())["model_sha256"]
    joblib.load(folder / MODEL_FILE).close()
    assert marker.exists()
    marker.unlink()
    step_environment(seeded, monkeypatch)

    with pytest.raises(SystemExit) as exited:
        protocol.main("simulate_traffic", ["--rows", "10", "--seed", "1"])

    assert exited.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"ERROR: {folder / METADATA_FILE}: its signature does not match (changed after it was registered, or "
        "signed with another key); refusing to load the model"
    )
    assert not marker.exists(), "the crafted pickle was unpickled"
    assert registry.current_version(seeded) == live
    assert not seeded.production_data.exists() or seeded.production_data.read_text().count("\n") <= 1


def test_a_version_signed_with_another_key_is_refused(seeded: Layout, tmp_path: Path) -> None:
    folder = seeded.current_model_dir.resolve()
    intruder = Layout.under(tmp_path / "intruder")
    signing.ensure_keys(intruder)
    signing.sign(intruder, folder / METADATA_FILE)

    with pytest.raises(StepError, match="its signature does not match"):
        registry.verified_model_path(seeded)


@pytest.mark.parametrize("step", ["backup_current_model", "rollback_model"])
def test_an_unsigned_version_is_refused_by_every_step_that_would_trust_it(
    seeded: Layout, step: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signature_file = seeded.current_model_dir.resolve() / METADATA_SIGNATURE_FILE
    signature_file.unlink()
    step_environment(seeded, monkeypatch)
    arguments = {"backup_current_model": ["--run-stamp", "20261206_120000"], "rollback_model": []}[step]
    arguments += ["--to-version", "v0001", "--reason", "try it"] if step == "rollback_model" else []

    with pytest.raises(SystemExit) as exited:
        protocol.main(step, arguments)

    assert exited.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"ERROR: {signature_file}: missing: the model version is not signed; refusing to load it"
    assert not seeded.backups_dir.exists()


def test_a_step_without_the_trust_volume_says_so(seeded: Layout) -> None:
    shutil.rmtree(seeded.trust_dir)

    with pytest.raises(StepError, match=rf"^{seeded.public_key}: no model-signing public key"):
        registry.verified_model_path(seeded)


def test_the_first_key_pair_signs_the_versions_already_there_and_later_nothing_unsigned_is_signed(
    seeded: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = seeded.current_model_dir.resolve()
    for path in (folder / METADATA_SIGNATURE_FILE, seeded.private_key, seeded.public_key):
        path.unlink()  # as a models volume from before signing

    registry.establish_trust(seeded)

    assert registry.verified_model_path(seeded) == folder / MODEL_FILE
    assert oct(seeded.private_key.stat().st_mode & 0o777) == "0o600"
    # Later: the pair exists, so an unsigned version stays unsigned and refused.
    (folder / METADATA_SIGNATURE_FILE).unlink()
    capsys.readouterr()
    registry.establish_trust(seeded)
    assert not (folder / METADATA_SIGNATURE_FILE).exists() and capsys.readouterr().out == ""


def test_a_version_whose_checksum_fails_is_not_adopted_by_the_first_key_pair(seeded: Layout) -> None:
    folder = seeded.current_model_dir.resolve()
    for path in (folder / METADATA_SIGNATURE_FILE, seeded.private_key, seeded.public_key):
        path.unlink()
    with open(folder / MODEL_FILE, "ab") as model:
        model.write(b"tampered")

    registry.establish_trust(seeded)

    assert not (folder / METADATA_SIGNATURE_FILE).exists()


def test_a_lost_private_key_beside_its_public_key_is_an_error_not_a_new_pair(seeded: Layout) -> None:
    seeded.private_key.unlink()
    public = seeded.public_key.read_bytes()

    with pytest.raises(StepError, match=rf"^{seeded.private_key}: missing, but {seeded.public_key} exists"):
        signing.ensure_keys(seeded)
    assert seeded.public_key.read_bytes() == public and not seeded.private_key.exists()


def test_a_lost_public_key_is_derived_again_from_the_private_key(seeded: Layout) -> None:
    public = seeded.public_key.read_bytes()
    seeded.public_key.unlink()

    assert signing.ensure_keys(seeded) is False
    assert seeded.public_key.read_bytes() == public
    assert registry.verified_model_path(seeded).is_file()


def test_registering_needs_the_private_key(seeded: Layout) -> None:
    os.remove(seeded.private_key)

    with pytest.raises(StepError, match=rf"^{seeded.private_key}: no model-signing key"):
        training.train_and_register(seeded, seeded.reference_data, None, fit.TrainingSettings(), {"trained_by": "test"})
