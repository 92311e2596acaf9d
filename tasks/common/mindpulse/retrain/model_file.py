"""A version's model file: how it is written and how a step loads it.

Written as a plain pickle, which MLflow's sklearn flavor (`serialization_format: pickle`), joblib and pickle all
load, so the serving side's path /models/current/model.joblib keeps its name and MLflow serves the same bytes.

Loaded only after the registry has checked the version (mindpulse.registry.verified_version), and only by the
libraries that trained it, or by others that predict the same: a version records the libraries it was trained
with and its predictions on its own input example. When this image's libraries differ, the step predicts the
example again and refuses the model if a class or a probability moved; a pickle that cannot be unpickled here is
refused too. Either way with one line naming the model file and the versions, never with a traceback.
"""

from __future__ import annotations

import functools
import importlib.metadata
import pickle
import platform
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.pipeline import Pipeline

from mindpulse import registry
from mindpulse.paths import Layout
from mindpulse.protocol import StepError, say
from mindpulse.signature import Environment, Signature

# The top-level modules a model file needs when it is unpickled and used: its requirements (by distribution name,
# e.g. xgboost-cpu for xgboost), and the libraries whose versions a load compares.
MODULES = ("sklearn", "xgboost", "numpy", "scipy", "pandas")
# The metadata key of the predictions on the input example: what another image's libraries must reproduce.
EXAMPLE_PREDICTIONS = "input_example_predictions"
# Probabilities further apart than this are another prediction; below it is float noise between builds.
TOLERANCE = 1e-6


@functools.cache
def environment() -> Environment:
    """This image's Python and the distributions behind MODULES, with their installed versions (looked up once:
    finding a module's distribution reads every installed package's metadata)."""
    providers = importlib.metadata.packages_distributions()
    requirements = tuple(
        (name, importlib.metadata.version(name)) for name in (providers[module][0] for module in MODULES)
    )
    return Environment(platform.python_version(), requirements)


def library_versions(found: Environment | None = None) -> dict[str, str]:
    """{"python": ..., distribution: version}: what a version records as its "libraries"."""
    found = found or environment()
    return {"python": found.python, **dict(found.requirements)}


def library_differences(recorded: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """{library: (the version `recorded`, this image's or None)} for each recorded library whose version differs."""
    here = library_versions()
    return {name: (was, here.get(name)) for name, was in recorded.items() if here.get(name) != was}


def write(model: Pipeline, path: Path) -> None:
    with open(path, "wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)


def example_predictions(model: Pipeline, signature: Signature) -> dict[str, list[Any]]:
    """The model's classes and probabilities of class 1 on the signature's input example, read as MLflow reads it."""
    if signature.example is None:
        raise ValueError("a signature without an input example has nothing to predict on")
    frame = pd.DataFrame(signature.example["data"], columns=signature.example["columns"])
    return {
        "labels": [int(label) for label in model.predict(frame)],
        "probabilities": [float(p) for p in model.predict_proba(frame)[:, 1]],
    }


def load(layout: Layout, version: str | None = None) -> Pipeline:
    """The model of `version` (default: the live one), checked by the registry, then against this image's libraries."""
    verified = registry.verified_version(layout, version)
    # A library this image lacks is not compared here: unpickling says at once whether the model needs it.
    differences = library_differences(verified.metadata.get("libraries") or {})
    changed = {name: (was, now) for name, (was, now) in differences.items() if now is not None}
    difference = ", ".join(f"{name} {was} (this image has {now})" for name, (was, now) in changed.items())
    try:
        # joblib reads the pickles written here and the joblib files of versions registered before them.
        model: Pipeline = joblib.load(verified.model_path)
    except Exception as error:
        trained = f"trained with {difference}: " if changed else ""
        failure = f"{type(error).__name__}: {error}"
        raise StepError(f"{verified.model_path}: cannot load the model: {trained}{failure}") from None
    if changed:
        _check_predictions(model, verified, difference)
    return model


def _check_predictions(model: Pipeline, verified: registry.Verified, difference: str) -> None:
    expected = verified.metadata.get(EXAMPLE_PREDICTIONS)
    if expected is None or verified.signature is None or verified.signature.example is None:
        # Registered before versions recorded their predictions: nothing to compare, so the load goes on, and says so.
        say(f"{verified.model_path}: trained with {difference}; it records no predictions to compare, loading it")
        return
    found = example_predictions(model, verified.signature)
    rows = zip(expected["labels"], expected["probabilities"], found["labels"], found["probabilities"], strict=True)
    for row, (label, probability, label_here, probability_here) in enumerate(rows, start=1):
        if label_here != label or abs(probability_here - probability) > TOLERANCE:
            raise StepError(
                f"{verified.model_path}: trained with {difference}, and here it predicts its input example "
                f"differently (row {row}: class {label} p={probability:.6f}, here class {label_here} "
                f"p={probability_here:.6f}): run it in the image that trained it ({verified.metadata.get('image')}) "
                "or retrain"
            )
    say(f"{verified.model_path}: trained with {difference}; its predictions on the input example are unchanged")
