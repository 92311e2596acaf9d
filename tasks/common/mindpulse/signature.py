"""A registered version as an MLflow model: what it expects and returns, and how MLflow loads it, in MLflow's
documented model format (standard library only: the images write it without MLflow).

Each version folder holds, next to model.joblib:

    MLmodel             MLflow's model file. `flavors`: `sklearn` (the model file is a plain pickle,
                        `serialization_format: pickle`) and `python_function` through `mlflow.sklearn`, so
                        `mlflow.pyfunc.load_model` and `mlflow models serve` load it. `signature.inputs` /
                        `signature.outputs` are JSON strings of MLflow column specs ({"type": "double", "name":
                        "CGPA", "required": true}; types long, double, string, ...), `saved_input_example_info`
                        points at the example, and `metadata.mindpulse_data_contract` holds the data contract's
                        ranges and categories per column, which MLflow's column specs cannot express. `metadata`
                        is MLflow's own slot for free-form model metadata, so `mlflow.models.Model.load(folder)
                        .metadata` reads it, while the signature stays plain MLflow that serving tools enforce.
    input_example.json  a few training rows, pandas "split" orient: {"columns": [...], "data": [[...]]}
    requirements.txt    the distributions the model was pickled with, pinned to the versions the training
    python_env.yaml     image ran (`Environment`), and the Python, as MLflow's virtualenv and conda
    conda.yaml          environment managers read them

MLmodel and the two environment files are written as JSON. JSON is YAML (YAML 1.2 is a superset, and PyYAML's
safe_load, which MLflow uses, reads it), so MLflow reads the files while the images without a YAML library can
check them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mindpulse import atomic
from mindpulse.paths import (
    CONDA_FILE,
    INPUT_EXAMPLE_FILE,
    MODEL_FILE,
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    SIGNATURE_FILE,
)
from mindpulse.protocol import StepError

# MLflow's column types (mlflow.types.DataType).
MLFLOW_TYPES = frozenset({"boolean", "integer", "long", "float", "double", "string", "binary", "datetime"})
CONTRACT_KEY = "mindpulse_data_contract"
BOUNDS = ("minimum", "maximum", "categories")


@dataclass(frozen=True)
class Column:
    """One input or output column: its MLflow type and what the data contract allows in it."""

    name: str
    type: str
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str | int, ...] | None = None

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "required": True}

    def bounds(self) -> dict[str, Any]:
        values = {"minimum": self.minimum, "maximum": self.maximum, "categories": self.categories}
        given = {key: value for key, value in values.items() if value is not None}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in given.items()}


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Column, ...]
    outputs: tuple[Column, ...]
    # {"columns": [...], "data": [[...], ...]}: rows of the inputs, or None without an example.
    example: dict[str, Any] | None = None


@dataclass(frozen=True)
class Environment:
    """What loading the model file needs: the Python and the distributions it was pickled with, as (name, version)."""

    python: str
    requirements: tuple[tuple[str, str], ...]

    def version(self, distribution: str) -> str:
        return dict(self.requirements)[distribution]


def write(folder: Path, signature: Signature, environment: Environment) -> None:
    """Write MLmodel, input_example.json (when there is an example) and the environment files into a version
    folder."""
    columns = (*signature.inputs, *signature.outputs)
    document: dict[str, Any] = {
        "flavors": _flavors(environment),
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": {
            "inputs": json.dumps([column.spec() for column in signature.inputs]),
            "outputs": json.dumps([column.spec() for column in signature.outputs]),
            "params": None,
        },
        "metadata": {CONTRACT_KEY: {column.name: column.bounds() for column in columns}},
    }
    if signature.example is not None:
        atomic.write_json(folder / INPUT_EXAMPLE_FILE, signature.example)
        document["saved_input_example_info"] = {
            "artifact_path": INPUT_EXAMPLE_FILE,
            "type": "dataframe",
            "pandas_orient": "split",
        }
    atomic.write_json(folder / SIGNATURE_FILE, document)
    _write_environment(folder, environment)


def _flavors(environment: Environment) -> dict[str, Any]:
    """MLflow's sklearn flavor (mlflow.sklearn.save_model writes the same keys) and the python_function flavor
    that serves it; `predict` returns the class, the signature's output."""
    return {
        "python_function": {
            "loader_module": "mlflow.sklearn",
            "model_path": MODEL_FILE,
            "predict_fn": "predict",
            "python_version": environment.python,
            "env": {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE},
        },
        "sklearn": {
            "pickled_model": MODEL_FILE,
            "sklearn_version": environment.version("scikit-learn"),
            "serialization_format": "pickle",
            "code": None,
        },
    }


def _write_environment(folder: Path, environment: Environment) -> None:
    pins = [f"{name}=={version}" for name, version in environment.requirements]
    atomic.write_text(folder / REQUIREMENTS_FILE, "".join(f"{pin}\n" for pin in pins))
    atomic.write_json(
        folder / PYTHON_ENV_FILE,
        {"python": environment.python, "build_dependencies": ["pip"], "dependencies": [f"-r {REQUIREMENTS_FILE}"]},
    )
    atomic.write_json(
        folder / CONDA_FILE,
        {
            "name": "mlflow-env",
            "channels": ["conda-forge"],
            "dependencies": [f"python={environment.python}", "pip", {"pip": pins}],
        },
    )


def read(folder: Path) -> Signature | None:
    """The signature of a version folder, checked; None when it has none (registered before signatures).

    StepError naming the file when MLmodel or its input example is not what `write` writes."""
    path = folder / SIGNATURE_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        inputs = _columns(document, "inputs")
        outputs = _columns(document, "outputs")
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise StepError(f"{path}: malformed model signature ({_describe(error)})") from None
    example = _example(folder, document, inputs) if "saved_input_example_info" in document else None
    return Signature(inputs, outputs, example)


def _columns(document: dict[str, Any], side: str) -> tuple[Column, ...]:
    specs = json.loads(document["signature"][side])
    contract = document.get("metadata", {}).get(CONTRACT_KEY, {})
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"signature {side} is not a list of column specs")
    columns = []
    for spec in specs:
        if not isinstance(spec.get("name"), str) or spec.get("type") not in MLFLOW_TYPES:
            raise ValueError(f"signature {side}: {json.dumps(spec)} needs a name and one of the MLflow types")
        bounds = contract.get(spec["name"], {})
        if not isinstance(bounds, dict) or set(bounds) - set(BOUNDS):
            raise ValueError(f"{CONTRACT_KEY}: {spec['name']}: only {', '.join(BOUNDS)} may be given")
        categories = bounds.get("categories")
        columns.append(
            Column(
                spec["name"],
                spec["type"],
                bounds.get("minimum"),
                bounds.get("maximum"),
                None if categories is None else tuple(categories),
            )
        )
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"signature {side}: a column is named twice")
    return tuple(columns)


def _example(folder: Path, document: dict[str, Any], inputs: tuple[Column, ...]) -> dict[str, Any]:
    info = document["saved_input_example_info"]
    path = folder / str(info.get("artifact_path") if isinstance(info, dict) else "")
    try:
        example: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        columns, rows = example["columns"], example["data"]
    except FileNotFoundError:
        raise StepError(f"{path}: input example named by {folder / SIGNATURE_FILE} is missing") from None
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise StepError(f"{path}: malformed input example ({_describe(error)})") from None
    if columns != [column.name for column in inputs]:
        raise StepError(f"{path}: columns {columns} are not the signature's inputs")
    if not isinstance(rows, list) or not rows or any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
        raise StepError(f"{path}: every row of the input example needs one value per column")
    return example


def _describe(error: Exception) -> str:
    return f"no {error}" if isinstance(error, KeyError) else str(error)
