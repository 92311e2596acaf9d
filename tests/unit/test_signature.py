"""Each registered version is an MLflow model that says what it expects: the sklearn and python_function flavors,
the libraries it was trained with, and a signature from the data contract, checked whenever the model is loaded,
and read by MLflow's own code."""

from __future__ import annotations

import json
import pickle
import platform
from collections.abc import Callable
from pathlib import Path

import joblib
import mlflow.pyfunc
import pandas as pd
import pytest
import sklearn
from mlflow.models import Model, validate_schema
from mlflow.models.signature import ModelSignature
from mlflow.models.utils import _enforce_schema

from mindpulse import protocol, registry, schema, signature, signing
from mindpulse.paths import (
    CONDA_FILE,
    DIR_ENVS,
    INPUT_EXAMPLE_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    SIGNATURE_FILE,
    Layout,
)
from mindpulse.protocol import StepError
from mindpulse.retrain import model_file, training


def live_folder(layout: Layout) -> Path:
    return layout.current_model_dir.resolve()


def test_a_registered_version_stores_the_data_contract_as_its_signature(seeded: Layout) -> None:
    folder = live_folder(seeded)
    document = json.loads((folder / SIGNATURE_FILE).read_text())

    inputs = json.loads(document["signature"]["inputs"])
    assert [spec["name"] for spec in inputs] == list(schema.FEATURES)
    types = {spec["name"]: spec["type"] for spec in inputs}
    assert types == types | {"Age": "long", "Stress_Level": "long", "CGPA": "double", "Gender": "string"}
    assert json.loads(document["signature"]["outputs"]) == [{"type": "long", "name": "prediction", "required": True}]
    contract = document["metadata"][signature.CONTRACT_KEY]
    assert contract["Age"] == {"minimum": 16, "maximum": 60}
    assert contract["Physical_Activity"] == {"minimum": 0.0, "maximum": 1440.0}
    assert contract["Department"] == {"categories": list(schema.CATEGORICAL_FEATURES["Department"])}
    assert contract["prediction"] == {"categories": [0, 1]}
    example = json.loads((folder / INPUT_EXAMPLE_FILE).read_text())
    assert example["columns"] == list(schema.FEATURES) and len(example["data"]) == training.EXAMPLE_ROWS
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["signature_sha256"] == registry.file_sha256(folder / SIGNATURE_FILE)
    found = registry.verified_signature(seeded, folder.name)
    assert found is not None and found.inputs == schema.model_signature(pd.DataFrame(columns=schema.FEATURES)).inputs


def test_mlflow_reads_the_signature_and_enforces_it_on_the_input_example(seeded: Layout) -> None:
    folder = live_folder(seeded)

    model = Model.load(str(folder))

    assert model.signature.inputs.input_names() == list(schema.FEATURES)
    assert ModelSignature.from_dict(model.signature.to_dict()) == model.signature
    assert model.metadata[signature.CONTRACT_KEY]["Stress_Level"] == {"minimum": 1, "maximum": 10}
    example = model.load_input_example(str(folder))
    assert list(example.columns) == list(schema.FEATURES) and len(example) == training.EXAMPLE_ROWS
    validate_schema(example, model.signature.inputs)
    enforced = _enforce_schema(example, model.signature.inputs)
    predictions = joblib.load(folder / "model.joblib").predict(enforced)
    validate_schema(pd.DataFrame({"prediction": predictions.astype("int64")}), model.signature.outputs)
    # The enforcement is real: a frame without a column the signature requires is refused.
    with pytest.raises(Exception, match="CGPA"):
        _enforce_schema(example.drop(columns="CGPA"), model.signature.inputs)


def test_a_registered_version_is_an_mlflow_model_with_the_sklearn_and_python_function_flavors(seeded: Layout) -> None:
    folder = live_folder(seeded)
    flavors = json.loads((folder / SIGNATURE_FILE).read_text())["flavors"]
    installed = model_file.environment()

    assert flavors["sklearn"] == {
        "pickled_model": MODEL_FILE,
        "sklearn_version": sklearn.__version__,
        "serialization_format": "pickle",
        "code": None,
    }
    assert flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert flavors["python_function"]["model_path"] == MODEL_FILE
    assert flavors["python_function"]["env"] == {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}
    # The environment files pin what trained the model, as this process has it installed.
    pins = [f"{name}=={version}" for name, version in installed.requirements]
    assert (folder / REQUIREMENTS_FILE).read_text().splitlines() == pins
    assert {"scikit-learn", "numpy", "pandas", "scipy"} <= {name for name, _ in installed.requirements}
    assert any(name.startswith("xgboost") for name, _ in installed.requirements)
    python_env = json.loads((folder / PYTHON_ENV_FILE).read_text())
    assert python_env["python"] == platform.python_version() and python_env["dependencies"] == ["-r requirements.txt"]
    assert json.loads((folder / CONDA_FILE).read_text())["dependencies"][-1] == {"pip": pins}
    # The model file is a plain pickle, the format the sklearn flavor names.
    with open(folder / MODEL_FILE, "rb") as handle:
        assert type(pickle.load(handle)).__name__ == "Pipeline"


def test_mlflow_pyfunc_loads_a_version_and_predicts_what_the_step_recorded(seeded: Layout) -> None:
    """In this venv's MLflow (tests/images/test_mlflow_model.py installs MLflow from the version's requirements.txt
    and serves it)."""
    folder = live_folder(seeded)

    loaded = mlflow.pyfunc.load_model(str(folder))
    example = Model.load(str(folder)).load_input_example(str(folder))

    recorded = json.loads((folder / METADATA_FILE).read_text())[model_file.EXAMPLE_PREDICTIONS]
    assert [int(label) for label in loaded.predict(example)] == recorded["labels"]
    assert set(Model.load(str(folder)).flavors) == {"python_function", "sklearn"}


def _rewrite(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def corrupt(folder: Path) -> None:
        document = json.loads((folder / name).read_text())
        change(document)
        (folder / name).write_text(json.dumps(document))

    return corrupt


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "not JSON": (lambda folder: (folder / SIGNATURE_FILE).write_text("signature: [\n"), "MLmodel: malformed model"),
    "inputs not a JSON string": (
        _rewrite(SIGNATURE_FILE, lambda d: d["signature"].update(inputs="[{")),
        "MLmodel: malformed model signature",
    ),
    "unknown column type": (
        _rewrite(SIGNATURE_FILE, lambda d: d["signature"].update(inputs='[{"name": "Age", "type": "int"}]')),
        "MLmodel: malformed model signature .*needs a name and one of the MLflow types",
    ),
    "no signature key": (
        _rewrite(SIGNATURE_FILE, lambda d: d.pop("signature")),
        r"MLmodel: malformed model signature \(no 'signature'\)",
    ),
    "example missing": (lambda folder: (folder / INPUT_EXAMPLE_FILE).unlink(), "input_example.json: input example"),
    "example columns": (
        _rewrite(INPUT_EXAMPLE_FILE, lambda d: d["columns"].reverse()),
        "input_example.json: columns .* are not the signature's inputs",
    ),
    "MLmodel missing": (lambda folder: (folder / SIGNATURE_FILE).unlink(), "MLmodel: model signature is missing"),
    "edited": (
        lambda folder: (folder / SIGNATURE_FILE).write_text((folder / SIGNATURE_FILE).read_text() + " "),
        "MLmodel: checksum does not match",
    ),
    # What MLflow's virtualenv manager would install, swapped for another build.
    "requirements edited": (
        lambda folder: (folder / REQUIREMENTS_FILE).write_text("scikit-learn==0.20.0\n"),
        "requirements.txt: missing or not matching its metadata.json",
    ),
    "python_env.yaml missing": (
        lambda folder: (folder / PYTHON_ENV_FILE).unlink(),
        "python_env.yaml: missing or not matching its metadata.json",
    ),
}


@pytest.mark.parametrize(("corrupt", "expected"), CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_malformed_signature_makes_loading_the_model_fail_naming_the_file(
    seeded: Layout, corrupt: Callable[[Path], None], expected: str
) -> None:
    folder = live_folder(seeded)
    corrupt(folder)

    with pytest.raises(StepError, match=rf"^{folder}/{expected}"):
        model_file.load(seeded)


def test_a_step_that_loads_a_model_with_a_malformed_signature_exits_with_one_error_line(
    seeded: Layout, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for volume, folder in seeded.volume_dirs.items():
        monkeypatch.setenv(DIR_ENVS[volume], str(folder))
    path = live_folder(seeded) / SIGNATURE_FILE
    path.write_text("{")

    with pytest.raises(SystemExit) as exited:
        protocol.main("backup_current_model", ["--run-stamp", "20261130_120000"])

    assert exited.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"ERROR: {path}: malformed model signature (")
    assert not seeded.backups_dir.exists()


def test_a_version_registered_before_signatures_still_loads(seeded: Layout) -> None:
    folder = live_folder(seeded)
    for name in (SIGNATURE_FILE, INPUT_EXAMPLE_FILE):
        (folder / name).unlink()
    metadata = json.loads((folder / METADATA_FILE).read_text())
    del metadata["signature_sha256"]
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    signing.sign(seeded, folder / METADATA_FILE)  # as airflow-init signs such a version once (establish_trust)

    assert registry.verified_signature(seeded, folder.name) is None
    rows = schema.load_reference(seeded.reference_data).head(3)[list(schema.FEATURES)]
    assert set(model_file.load(seeded).predict(rows)) <= {0, 1}
