"""The step train_new_model: fit the candidates and choose the challenger (mindpulse.retrain.fit), judge it against
the live model (mindpulse.retrain.judge), then register it as a new version either way and make it live only when
the gate agrees or a person forces it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mindpulse import atomic, chunk_store, production, registry, schema, signature
from mindpulse.paths import EVALUATION_INPUT, INPUTS_FILE, TRAINING_INPUT, Layout
from mindpulse.production import digest, has_rows
from mindpulse.protocol import say
from mindpulse.results import Training
from mindpulse.retrain import model_file
from mindpulse.retrain.fit import TrainingSettings, choose, refit_on_whole_window, train_candidates
from mindpulse.retrain.judge import judge

# Training rows stored with each version as its input example (MLflow's input_example.json).
EXAMPLE_ROWS = 5


def train_new_model(
    layout: Layout,
    selection_metric: str,
    validation_share: float,
    promotion_tolerance: float,
    promotion_alpha: float,
    promotion_min_score: float,
    force_promote: bool,
    seed: int,
) -> Training:
    """The retrain step: train on merge_production_data's files, judged on its held-out rows."""
    settings = TrainingSettings(
        selection_metric,
        seed,
        validation_share,
        promotion_tolerance,
        force_promote,
        promotion_alpha,
        promotion_min_score,
    )
    consumed = production.Consumption.load(layout)
    provenance = {"trained_by": "retrain", registry.PRODUCTION_STAMP: consumed.stamp if consumed else None}
    return train_and_register(layout, layout.training_data, layout.evaluation_data, settings, provenance)


def train_and_register(
    layout: Layout,
    training_file: Path,
    evaluation_file: Path | None,
    settings: TrainingSettings,
    provenance: dict[str, Any],
) -> Training:
    """Train the candidates, register the best as a new version, and make it live if the gate agrees.

    A promoted model's training window becomes the drift reference. A retry of the same inputs
    finds the version it registered before and only finishes that work.
    """
    settings.check()
    raw = schema.read_csv_bytes(training_file)
    evaluation_raw = schema.read_csv_bytes(evaluation_file) if evaluation_file and evaluation_file.exists() else b""
    run_key = hashlib.sha256(
        raw + b"\0" + evaluation_raw + b"\0" + json.dumps(asdict(settings), sort_keys=True).encode()
    ).hexdigest()
    training = schema.parse_reference(raw, str(training_file))
    version = registry.find_version(layout, "run_key", run_key)
    if version is None:
        provenance = {**provenance, "run_key": run_key, "training_data_sha256": digest(raw)}
        provenance["evaluation_data_sha256"] = digest(evaluation_raw) if evaluation_raw else None
        evaluation = _evaluation_rows(evaluation_raw, evaluation_file)
        kept = {TRAINING_INPUT: raw, EVALUATION_INPUT: evaluation_raw}
        version = _train_and_register(
            layout, training, training_file, (evaluation, evaluation_file), settings, provenance, kept
        )
    else:
        say(f"{version} was registered from these inputs by an earlier attempt: finishing its work")
    metadata = registry.version_metadata(layout, version)
    registry.finish_registration(layout, version)
    promoted = registry.current_version(layout) == version
    if promoted and training_file != layout.reference_data:
        # Drift must mean "far from what the live model learned": its training window is the new reference.
        recent = training[schema.ID] >= metadata["recent_from_id"]
        window_rows = training[recent] if metadata["window"] == "recent" else training
        atomic.write_with(layout.reference_data, lambda path: window_rows.to_csv(path, index=False))
    return Training(
        promoted=promoted,
        version=version,
        status=metadata["status"],
        reason=metadata["reason"],
        live_version=registry.current_version(layout),
        algorithm=metadata["algorithm"],
        window=metadata["window"],
        selection_metric=settings.metric,
        metrics=metadata["metrics"],
        gate=metadata["gate"],
        candidates=metadata["candidates"],
        training_rows=metadata["training_rows"],
    )


def _train_and_register(
    layout: Layout,
    training: pd.DataFrame,
    training_file: Path,
    held_out: tuple[pd.DataFrame | None, Path | None],
    settings: TrainingSettings,
    provenance: dict[str, Any],
    kept: dict[str, bytes],
) -> str:
    recent_from_id = _first_recent_id(layout, training_file)
    recent = training[schema.ID] >= recent_from_id
    say(f"training on {len(training)} rows ({int(recent.sum())} recent) from {training_file}")
    candidates = train_candidates(training, recent, settings)
    chosen, chosen_by = choose(candidates, settings)
    challenger = refit_on_whole_window(chosen, training, recent, settings)
    verdict = judge(challenger, layout, held_out[0], settings, source=held_out[1])
    described = schema.model_signature(training.head(EXAMPLE_ROWS))
    environment = model_file.environment()
    metadata = {
        "algorithm": challenger.algorithm,
        "window": challenger.window,
        "selection_metric": settings.metric,
        "metrics": challenger.metrics,
        "candidates": {candidate.name: candidate.metrics for candidate in candidates},
        "chosen_by": chosen_by,
        "gate": verdict.figures,
        "settings": asdict(settings),
        "recent_from_id": recent_from_id,
        "training_rows": int(recent.sum()) if challenger.window == "recent" else len(training),
        "features": list(schema.FEATURES),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "image": os.environ.get("MINDPULSE_IMAGE"),
        "libraries": model_file.library_versions(environment),
        model_file.EXAMPLE_PREDICTIONS: model_file.example_predictions(challenger.model, described),
        **provenance,
    }
    version = registry.register(
        layout,
        metadata,
        lambda path: model_file.write(challenger.model, path),
        verdict.promote,
        verdict.reason,
        lambda folder: _describe(layout, folder, described, environment, kept),
    )
    say(f"{'promoted' if verdict.promote else 'rejected'} {challenger.name} as {version}: {verdict.reason}")
    return version


def _describe(
    layout: Layout,
    folder: Path,
    described: signature.Signature,
    environment: signature.Environment,
    kept: dict[str, bytes],
) -> None:
    """MLflow's files, and the rows the version was made from, kept (mindpulse.chunk_store) and listed in INPUTS_FILE:
    with the settings and seed in its metadata, what verify_model rebuilds it from."""
    signature.write(folder, described, environment)
    inputs = {role: chunk_store.keep(layout, raw).document() for role, raw in kept.items() if raw}
    atomic.write_json(folder / INPUTS_FILE, inputs)


def _first_recent_id(layout: Layout, training_file: Path) -> int:
    """merge_production_data numbers the production rows after the largest id of the reference."""
    if training_file == layout.reference_data or not layout.reference_data.exists():
        return np.iinfo(np.int64).max
    return int(pd.read_csv(layout.reference_data, usecols=[schema.ID])[schema.ID].max()) + 1


def _evaluation_rows(raw: bytes, source: Path | None) -> pd.DataFrame | None:
    if not has_rows(raw):
        return None
    return schema.parse_reference(raw, str(source))
