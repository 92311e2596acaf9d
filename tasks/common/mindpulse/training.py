"""Training: three candidate algorithms, each a scikit-learn Pipeline carrying its own
preprocessing, compared on one held-out split; the winner becomes the live model.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mindpulse import atomic, registry, schema
from mindpulse.options import SELECTION_METRICS
from mindpulse.paths import Layout
from mindpulse.production import digest
from mindpulse.step import StepError, say

ALGORITHMS = ("logistic_regression", "random_forest", "xgboost")


def build_pipeline(algorithm: str, seed: int) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(schema.NUMERIC_FEATURE_NAMES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(schema.CATEGORICAL_FEATURE_NAMES)),
        ]
    )
    classifiers = {
        "logistic_regression": lambda: LogisticRegression(max_iter=1000),
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=100, max_depth=12, min_samples_leaf=5, n_jobs=-1, random_state=seed
        ),
        "xgboost": lambda: xgboost.XGBClassifier(
            n_estimators=300, max_depth=4, learning_rate=0.08, tree_method="hist", n_jobs=-1, random_state=seed
        ),
    }
    return Pipeline([("preprocess", preprocess), ("classifier", classifiers[algorithm]())])


def evaluate(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> dict[str, float]:
    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, 1]
    scores = {
        "accuracy": accuracy_score(target, predicted),
        "f1": f1_score(target, predicted, zero_division=0),
        "precision": precision_score(target, predicted, zero_division=0),
        "recall": recall_score(target, predicted, zero_division=0),
        "roc_auc": roc_auc_score(target, probability) if target.nunique() == 2 else float("nan"),
    }
    return {name: round(float(value), 4) for name, value in scores.items()}


@dataclass
class Candidate:
    algorithm: str
    model: Pipeline
    metrics: dict[str, float]


def train_candidates(training: pd.DataFrame, metric: str, seed: int, test_size: float) -> list[Candidate]:
    """Fit every algorithm on one split; candidates come back best first by `metric`."""
    if metric not in SELECTION_METRICS:
        raise StepError(f"selection metric {metric!r} is not one of {', '.join(SELECTION_METRICS)}")
    target = training[schema.TARGET].astype(int)
    if target.nunique() < 2:
        raise StepError(f"training data: column {schema.TARGET} holds a single class; cannot train")
    features = training[list(schema.FEATURES)]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=test_size, random_state=seed, stratify=target
    )
    candidates = []
    for algorithm in ALGORITHMS:
        started = datetime.now(UTC)
        model = build_pipeline(algorithm, seed).fit(x_train, y_train)
        metrics = evaluate(model, x_test, y_test)
        seconds = (datetime.now(UTC) - started).total_seconds()
        scores = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
        say(f"{algorithm}: {scores} ({seconds:.1f} s)")
        candidates.append(Candidate(algorithm, model, metrics))
    return sorted(candidates, key=lambda candidate: -np.nan_to_num(candidate.metrics[metric], nan=-1.0))


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }


def train_and_promote(
    layout: Layout, training_file: Path, metric: str, seed: int, test_size: float, provenance: dict[str, Any]
) -> dict[str, Any]:
    """Train on `training_file`, promote the winner, and make its training data the drift reference."""
    raw = schema.read_csv_bytes(training_file)
    training = schema.parse_reference(raw, str(training_file))
    say(f"training on {len(training)} rows from {training_file}")
    candidates = train_candidates(training, metric, seed, test_size)
    winner = candidates[0]
    previous = registry.current_metadata(layout)
    metadata = {
        "algorithm": winner.algorithm,
        "selection_metric": metric,
        "metrics": winner.metrics,
        "candidates": {candidate.algorithm: candidate.metrics for candidate in candidates},
        "previous": {"version": previous["version"], "metrics": previous["metrics"]} if previous else None,
        "training_rows": len(training),
        "training_data_sha256": digest(raw),
        "test_size": test_size,
        "seed": seed,
        "features": list(schema.FEATURES),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        **provenance,
    }
    version = registry.promote(layout, metadata, lambda path: joblib.dump(winner.model, path))
    say(f"promoted {winner.algorithm} as {version} ({metric} {winner.metrics[metric]:.4f})")
    if training_file != layout.reference_data:
        # Drift must mean "far from what the live model learned": its training data is the new reference.
        atomic.write_bytes(layout.reference_data, raw)
    return {
        "promoted": True,
        "version": version,
        "algorithm": winner.algorithm,
        "selection_metric": metric,
        "metrics": winner.metrics,
        "candidates": metadata["candidates"],
        "previous": metadata["previous"],
        "training_rows": len(training),
    }


def load_current_model(layout: Layout) -> Pipeline:
    """The live model, refused when its file does not match the checksum in its metadata."""
    return joblib.load(registry.verified_model_path(layout))
