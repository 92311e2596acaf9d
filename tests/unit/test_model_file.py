"""A model is loaded by the libraries that trained it, or by others that predict the same: a version records its
libraries and its predictions on its input example, and a load with other libraries predicts the example again
(mindpulse.retrain.model_file). Another image's libraries are stood in for by another Environment, the one thing
these tests cannot install twice; everything else is the real registry, signing and model."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import pytest

from mindpulse import protocol, registry, signing
from mindpulse.paths import DIR_ENVS, METADATA_FILE, MODEL_FILE, Layout
from mindpulse.protocol import StepError
from mindpulse.retrain import model_file
from mindpulse.signature import Environment


def live_folder(layout: Layout) -> Path:
    return layout.current_model_dir.resolve()


def other_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> str:
    """This process stands in for an image whose scikit-learn is another release; returns the release it claims."""
    installed = model_file.environment()
    claimed = "0.0.1"
    requirements = tuple((name, claimed if name == "scikit-learn" else v) for name, v in installed.requirements)
    monkeypatch.setattr(model_file, "environment", lambda: Environment(installed.python, requirements))
    return claimed


def edit_signed_metadata(layout: Layout, change: dict) -> None:
    """What a registering step could have written: the metadata changed and signed with the install's key."""
    path = live_folder(layout) / METADATA_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | change))
    signing.sign(layout, path)


def test_the_model_file_is_a_plain_pickle_that_pickle_and_joblib_load_alike(seeded: Layout) -> None:
    path = live_folder(seeded) / MODEL_FILE
    with open(path, "rb") as handle:
        unpickled = pickle.load(handle)
    rows = json.loads((live_folder(seeded) / "input_example.json").read_text())
    frame = model_file.example_predictions(joblib.load(path), registry.verified_version(seeded).signature)

    assert frame == model_file.example_predictions(unpickled, registry.verified_version(seeded).signature)
    assert len(frame["labels"]) == len(rows["data"])


def test_a_version_records_its_libraries_and_its_own_predictions_on_its_input_example(seeded: Layout) -> None:
    verified = registry.verified_version(seeded)
    assert verified.signature is not None

    assert verified.metadata["libraries"] == model_file.library_versions()
    recorded = verified.metadata[model_file.EXAMPLE_PREDICTIONS]
    assert recorded == model_file.example_predictions(model_file.load(seeded), verified.signature)
    assert set(recorded["labels"]) <= {0, 1} and all(0 <= p <= 1 for p in recorded["probabilities"])


def test_other_libraries_that_predict_the_same_load_the_model_and_say_so(
    seeded: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    claimed = other_scikit_learn(monkeypatch)
    trained_with = registry.verified_version(seeded).metadata["libraries"]["scikit-learn"]

    model = model_file.load(seeded)

    assert hasattr(model, "predict")
    [line] = capsys.readouterr().out.splitlines()
    assert line == (
        f"{live_folder(seeded) / MODEL_FILE}: trained with scikit-learn {trained_with} (this image has {claimed}); "
        "its predictions on the input example are unchanged"
    )


def test_other_libraries_that_predict_differently_are_refused_with_one_line_naming_the_row(
    seeded: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = registry.verified_version(seeded).metadata[model_file.EXAMPLE_PREDICTIONS]
    # What these libraries predict is not what the ones that trained it predicted: row 2's class moved.
    moved = {**recorded, "labels": [recorded["labels"][0], 1 - recorded["labels"][1], *recorded["labels"][2:]]}
    edit_signed_metadata(seeded, {model_file.EXAMPLE_PREDICTIONS: moved})
    # The fault landed, and alone it changes nothing: with the libraries that trained it, the model loads unchecked.
    assert registry.verified_version(seeded).metadata[model_file.EXAMPLE_PREDICTIONS] == moved
    assert hasattr(model_file.load(seeded), "predict")
    other_scikit_learn(monkeypatch)
    for volume, folder in seeded.volume_dirs.items():
        monkeypatch.setenv(DIR_ENVS[volume], str(folder))
    live = registry.current_version(seeded)

    with pytest.raises(SystemExit) as exited:
        protocol.main("simulate_traffic", ["--rows", "10", "--seed", "1"])

    assert exited.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"ERROR: {live_folder(seeded) / MODEL_FILE}: trained with scikit-learn ")
    assert f"(row 2: class {moved['labels'][1]} p=" in line and line.endswith("or retrain")
    assert registry.current_version(seeded) == live
    assert not seeded.production_data.exists() or seeded.production_data.read_text().count("\n") <= 1


def test_a_model_these_libraries_cannot_unpickle_is_refused_with_one_line(seeded: Layout) -> None:
    path = live_folder(seeded) / MODEL_FILE
    # A pickle naming a module these libraries do not have, as a newer scikit-learn's model can.
    path.write_bytes(b"csklearn.a_module_from_another_release\nEstimator\n.")
    edit_signed_metadata(seeded, {"model_sha256": registry.file_sha256(path)})

    with pytest.raises(StepError) as refused:
        model_file.load(seeded)

    assert str(refused.value) == (
        f"{path}: cannot load the model: ModuleNotFoundError: No module named 'sklearn.a_module_from_another_release'"
    )


def test_a_version_without_recorded_predictions_loads_with_other_libraries_and_says_it_could_not_compare(
    seeded: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = live_folder(seeded) / METADATA_FILE
    metadata = json.loads(path.read_text())
    del metadata[model_file.EXAMPLE_PREDICTIONS]  # as versions registered before the check have it
    path.write_text(json.dumps(metadata))
    signing.sign(seeded, path)
    other_scikit_learn(monkeypatch)

    assert hasattr(model_file.load(seeded), "predict")
    assert "it records no predictions to compare, loading it" in capsys.readouterr().out
