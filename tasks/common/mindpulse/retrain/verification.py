"""The step verify_model: rebuild a registered version from what it kept, and prove the rebuilt model is the same.

A version keeps everything that went into it: its training and evaluation rows (mindpulse.chunk_store, listed in
its inputs.json), its settings and seed, the first id of its recent window, and the libraries and image that
trained it (metadata.json, signed). Verifying restores the rows, checks them against the SHA-256 the version
recorded, fits and chooses exactly as train_new_model did (mindpulse.retrain.fit), and compares the rebuilt model
file with the kept one: byte-identical, or, where they differ, prediction-identical on the evaluation rows (a
library that is not bitwise deterministic across builds or core counts). Anything else fails with one line saying
which input differs: a chunk, the libraries, the choice of candidate, or, with every input the same, the model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mindpulse import chunk_store, registry, schema
from mindpulse.chunk_store import Kept
from mindpulse.paths import EVALUATION_INPUT, INPUTS_FILE, TRAINING_INPUT, Layout
from mindpulse.production import has_rows
from mindpulse.protocol import StepError, say
from mindpulse.results import Verification
from mindpulse.retrain import model_file
from mindpulse.retrain.fit import TrainingSettings, choose, refit_on_whole_window, train_candidates


def verify_model(layout: Layout, version: str) -> Verification:
    verified = registry.verified_version(layout, version)
    metadata = verified.metadata
    manifest = registry.kept_inputs(layout, version)
    if manifest is None:
        raise StepError(
            f"{verified.model_path.parent / INPUTS_FILE}: {version} was registered before versions kept their "
            "inputs, so it cannot be rebuilt"
        )
    roles = (TRAINING_INPUT, EVALUATION_INPUT)
    rows = {role: _restore(layout, version, role, manifest.get(role)) for role in roles}
    differences = model_file.library_differences(metadata.get("libraries") or {})
    differ = {name: f"{was} (here {now})" for name, (was, now) in differences.items()}
    training = schema.parse_reference(rows[TRAINING_INPUT], f"{version} training rows")
    recent = training[schema.ID] >= metadata["recent_from_id"]
    settings = TrainingSettings(**metadata["settings"])
    say(f"rebuilding {version} from {len(training)} kept rows ({int(recent.sum())} recent), seed {settings.seed}")
    candidates = train_candidates(training, recent, settings)
    chosen, _ = choose(candidates, settings)
    rebuilt = refit_on_whole_window(chosen, training, recent, settings)
    libraries = "; the libraries differ: " + ", ".join(f"{n} {v}" for n, v in differ.items()) if differ else ""
    if (rebuilt.algorithm, rebuilt.window) != (metadata["algorithm"], metadata["window"]):
        raise StepError(
            f"{verified.model_path}: the rebuild chose {rebuilt.name}, the version {metadata['algorithm']}@"
            f"{metadata['window']}{libraries}"
        )
    with tempfile.TemporaryDirectory() as folder:
        rebuilt_file = Path(folder) / "model"
        model_file.write(rebuilt.model, rebuilt_file)
        rebuilt_sha256 = registry.file_sha256(rebuilt_file)
    identical = "bytes"
    if rebuilt_sha256 != metadata["model_sha256"]:
        judged_on = _judged_on(rows[EVALUATION_INPUT], training, version)
        moved = _moved(model_file.load(layout, version), rebuilt.model, judged_on)
        if moved is not None:
            raise StepError(f"{verified.model_path}: the rebuilt model predicts differently ({moved}){libraries}")
        identical = "predictions"
    say(f"{version} rebuilt: {'byte-identical' if identical == 'bytes' else 'prediction-identical'} model")
    return Verification(
        version=version,
        identical=identical,
        model_sha256=metadata["model_sha256"],
        rebuilt_sha256=rebuilt_sha256,
        algorithm=rebuilt.algorithm,
        window=rebuilt.window,
        training_rows=len(training),
        libraries_differ=differ,
    )


def _restore(layout: Layout, version: str, role: str, kept: dict[str, Any] | None) -> bytes:
    return b"" if kept is None else chunk_store.restore(layout, Kept.from_document(kept), f"{version} {role} rows")


def _judged_on(evaluation_raw: bytes, training: pd.DataFrame, version: str) -> pd.DataFrame:
    """The rows two models are compared on: the version's evaluation rows, or its training rows without any."""
    if has_rows(evaluation_raw):
        return schema.parse_reference(evaluation_raw, f"{version} evaluation rows")[list(schema.FEATURES)]
    return training[list(schema.FEATURES)]


def _moved(kept: object, rebuilt: object, rows: pd.DataFrame) -> str | None:
    """Where two models' probabilities part by more than the load check allows, or None."""
    before = kept.predict_proba(rows)[:, 1]  # type: ignore[attr-defined]
    after = rebuilt.predict_proba(rows)[:, 1]  # type: ignore[attr-defined]
    gaps = np.abs(before - after)
    if not (gaps > model_file.TOLERANCE).any():
        return None
    worst = int(gaps.argmax())
    return f"{int((gaps > model_file.TOLERANCE).sum())} of {len(rows)} rows, most at row {worst + 1}: {gaps[worst]:.6f}"
