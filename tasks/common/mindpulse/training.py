"""Training and the promotion gate.

Candidates are the three algorithms, each a scikit-learn Pipeline carrying its own preprocessing,
fitted on two windows of the training data: "all" rows, and only the "recent" production rows (the
rows merge_production_data numbered after the reference's largest id). After a concept shift the
old rows teach the wrong relation, and only the recent window recovers; without one, "all" wins on
the larger sample. The candidates are compared on a validation split of the recent rows (of all
rows when there are too few recent ones).

The winner, the challenger, is registered as a new version either way. It goes live only if the gate
(mindpulse.gate) agrees on the evaluation set (the newest labelled production rows, held out by
merge_production_data and unseen by every candidate and by the live model), or when a person forces it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass
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

from mindpulse import atomic, catalog, gate, production, registry, schema, selection
from mindpulse.paths import Layout
from mindpulse.production import digest, has_rows
from mindpulse.protocol import StepError, say
from mindpulse.results import Training

ALGORITHMS = ("logistic_regression", "random_forest", "xgboost")
WINDOWS = ("all", "recent")
# The step's parameters, as train_new_model declares them: their defaults are the settings' defaults.
PARAMETERS = {parameter.name: parameter for parameter in catalog.step("train_new_model").parameters}
# Fewer recent rows than this make too small a training window to be worth a candidate.
MIN_RECENT_ROWS = 500
# Fewer evaluation rows than this cannot tell two models apart: the gate then keeps the live model.
MIN_EVALUATION_ROWS = 50
# Each tree of the forest sees at most this many rows: past it, accuracy stops improving while
# training time keeps growing faster than the rows (n log n).
FOREST_MAX_SAMPLES = 50_000
# The winner is refitted with its validation rows when they are more than this share of its window.
REFIT_SHARE = 0.05
# Training rows stored with each version as its input example (MLflow's input_example.json).
EXAMPLE_ROWS = 5


def build_pipeline(algorithm: str, seed: int, rows: int) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(schema.NUMERIC_FEATURE_NAMES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(schema.CATEGORICAL_FEATURE_NAMES)),
        ]
    )
    classifiers = {
        "logistic_regression": lambda: LogisticRegression(max_iter=1000),
        "random_forest": lambda: RandomForestClassifier(
            n_estimators=100,
            max_depth=12,
            min_samples_leaf=5,
            max_samples=min(1.0, FOREST_MAX_SAMPLES / max(rows, 1)),
            n_jobs=-1,
            random_state=seed,
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


@dataclass(frozen=True)
class TrainingSettings:
    metric: str = PARAMETERS["selection_metric"].default
    seed: int = PARAMETERS["seed"].default
    validation_share: float = PARAMETERS["validation_share"].default
    tolerance: float = PARAMETERS["promotion_tolerance"].default
    force_promote: bool = PARAMETERS["force_promote"].default
    alpha: float = PARAMETERS["promotion_alpha"].default
    min_score: float = PARAMETERS["promotion_min_score"].default

    @property
    def rule(self) -> gate.Rule:
        return gate.Rule(self.tolerance, self.alpha, self.min_score)

    def check(self) -> None:
        """The declared bounds, for callers that build settings in code rather than from the command line."""
        values = {
            "selection_metric": self.metric,
            "seed": self.seed,
            "validation_share": self.validation_share,
            "promotion_tolerance": self.tolerance,
            "force_promote": self.force_promote,
            "promotion_alpha": self.alpha,
            "promotion_min_score": self.min_score,
        }
        try:
            for name, value in values.items():
                PARAMETERS[name].check(value)
        except ValueError as error:
            raise StepError(str(error)) from None


@dataclass
class Candidate:
    algorithm: str
    window: str
    model: Pipeline
    metrics: dict[str, float]
    fitted_rows: int
    # What the one-standard-error choice needs: the validation rows' labels and this candidate's probabilities.
    validation_target: np.ndarray | None = None
    validation_probability: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"{self.algorithm}@{self.window}"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    figures: dict[str, Any]


def score(metrics: dict[str, float], metric: str) -> float:
    return float(np.nan_to_num(metrics[metric], nan=-1.0))


def train_candidates(training: pd.DataFrame, recent: pd.Series, settings: TrainingSettings) -> list[Candidate]:
    """Fit every algorithm on every window; candidates come back best first on the validation rows."""
    target = training[schema.TARGET].astype(int)
    if target.nunique() < 2:
        raise StepError(f"training data: column {schema.TARGET} holds a single class; cannot train")
    windows = {"all": pd.Series(True, index=training.index)}
    if recent.sum() >= MIN_RECENT_ROWS:
        windows["recent"] = recent
    pool = training.index[recent] if "recent" in windows else training.index
    stratify = target[pool] if target[pool].value_counts().min() >= 2 else None
    _, validation = train_test_split(
        pool, test_size=settings.validation_share, random_state=settings.seed, stratify=stratify
    )
    held_out = training.index.isin(validation)
    x_valid, y_valid = training.loc[held_out, list(schema.FEATURES)], target[held_out]
    candidates = []
    for window, rows in windows.items():
        fit = rows & ~held_out
        if target[fit].nunique() < 2:
            say(f"window {window}: one class only, skipped")
            continue
        for algorithm in ALGORITHMS:
            started = datetime.now(UTC)
            model = build_pipeline(algorithm, settings.seed, int(fit.sum()))
            model.fit(training.loc[fit, list(schema.FEATURES)], target[fit])
            metrics = evaluate(model, x_valid, y_valid)
            seconds = (datetime.now(UTC) - started).total_seconds()
            figures = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
            say(f"{algorithm}@{window} ({int(fit.sum())} rows): {figures} ({seconds:.1f} s)")
            probability = model.predict_proba(x_valid)[:, 1]
            candidates.append(
                Candidate(algorithm, window, model, metrics, int(fit.sum()), y_valid.to_numpy(), probability)
            )
    return sorted(candidates, key=lambda candidate: -score(candidate.metrics, settings.metric))


def choose(candidates: list[Candidate], settings: TrainingSettings) -> tuple[Candidate, dict[str, Any]]:
    """The challenger: the simplest candidate within one standard error of the best (mindpulse.selection).
    Simpler means an earlier algorithm of ALGORITHMS. Between windows the newest rows cannot tell apart, the
    recent one is preferred: it learned today's relation, while "all" may blend in one that has changed."""
    best = candidates[0]
    errors = selection.paired_standard_errors(
        settings.metric,
        best.validation_target,
        best.validation_probability,
        [candidate.validation_probability for candidate in candidates],
        settings.seed,
    )
    index = selection.simplest_within_one_standard_error(
        [score(candidate.metrics, settings.metric) for candidate in candidates],
        [(ALGORITHMS.index(candidate.algorithm), candidate.window != "recent") for candidate in candidates],
        errors,
    )
    chosen = candidates[index]
    if chosen is not best:
        say(f"{chosen.name} chosen: within one standard error ({errors[index]:.4f}) of the best, {best.name}")
    return chosen, {"best_on_validation": best.name, "standard_error": round(errors[index], 4)}


def _refit_on_whole_window(
    winner: Candidate, training: pd.DataFrame, recent: pd.Series, settings: TrainingSettings
) -> Candidate:
    """Give the winner back its validation rows when they are a sizeable share of its window (the
    recent window after a concept shift is small, and every row counts there)."""
    window = training[recent] if winner.window == "recent" else training
    validation_rows = len(window) - winner.fitted_rows
    if validation_rows <= REFIT_SHARE * len(window):
        return winner
    say(f"refitting {winner.name} on all {len(window)} rows of its window")
    model = build_pipeline(winner.algorithm, settings.seed, len(window))
    model.fit(window[list(schema.FEATURES)], window[schema.TARGET].astype(int))
    return Candidate(winner.algorithm, winner.window, model, winner.metrics, len(window))


def judge(
    challenger: Candidate,
    layout: Layout,
    evaluation: pd.DataFrame | None,
    settings: TrainingSettings,
    source: Path | None = None,
) -> Decision:
    """The promotion gate: challenger against the live model on the same held-out evaluation rows."""
    live = registry.current_version(layout)
    if live is None:
        return Decision(True, "no live model yet", {"drawdown": 0.0})
    rows = 0 if evaluation is None else len(evaluation)
    figures: dict[str, Any] = {"champion_version": live, "evaluation_rows": rows, "tolerance": settings.tolerance}
    if rows < MIN_EVALUATION_ROWS:
        verdict = gate.Verdict(
            False, f"only {rows} evaluation rows (need {MIN_EVALUATION_ROWS}): cannot show it is not worse", figures
        )
    else:
        verdict = _paired_verdict(challenger, layout, evaluation, settings, source, figures)
    verdict = gate.forced(verdict) if settings.force_promote else verdict
    return Decision(verdict.promote, verdict.reason, verdict.figures)


def _paired_verdict(
    challenger: Candidate,
    layout: Layout,
    evaluation: pd.DataFrame,
    settings: TrainingSettings,
    source: Path | None,
    figures: dict[str, Any],
) -> gate.Verdict:
    features, target = evaluation[list(schema.FEATURES)], evaluation[schema.TARGET].astype(int)
    if target.nunique() < 2 and settings.metric != "accuracy":
        # Every other metric is undefined (roc_auc) or degenerate (f1, precision, recall) on one class:
        # comparing two models by it would promote or reject on nothing.
        raise StepError(
            f"{source or 'evaluation data'}: column {schema.TARGET} holds one class only in its {len(target)} rows: "
            f"the selection metric {settings.metric} cannot judge the challenger there (accuracy can)"
        )
    champion = joblib.load(registry.verified_model_path(layout))
    figures["challenger"] = evaluate(challenger.model, features, target)
    figures["champion"] = evaluate(champion, features, target)
    live_metadata = registry.current_metadata(layout) or {}
    verdict = gate.decide(
        live_score=score(figures["champion"], settings.metric),
        challenger_score=score(figures["challenger"], settings.metric),
        live_correct=(champion.predict(features) == target).tolist(),
        challenger_correct=(challenger.model.predict(features) == target).tolist(),
        live_drawdown=float((live_metadata.get("gate") or {}).get("drawdown", 0.0)),
        rule=settings.rule,
    )
    new, old, live = verdict.figures["challenger_score"], verdict.figures["live_score"], figures["champion_version"]
    headline = f"{settings.metric} {new:.4f} vs live {live} {old:.4f} on {len(target)} held-out rows"
    return gate.Verdict(verdict.promote, f"{headline}; {verdict.reason}", {**figures, **verdict.figures})


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }


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
        version = _train_and_register(
            layout, training, training_file, (evaluation, evaluation_file), settings, provenance
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


def _train_and_register(
    layout: Layout,
    training: pd.DataFrame,
    training_file: Path,
    held_out: tuple[pd.DataFrame | None, Path | None],
    settings: TrainingSettings,
    provenance: dict[str, Any],
) -> str:
    recent_from_id = _first_recent_id(layout, training_file)
    recent = training[schema.ID] >= recent_from_id
    say(f"training on {len(training)} rows ({int(recent.sum())} recent) from {training_file}")
    candidates = train_candidates(training, recent, settings)
    chosen, chosen_by = choose(candidates, settings)
    challenger = _refit_on_whole_window(chosen, training, recent, settings)
    decision = judge(challenger, layout, held_out[0], settings, source=held_out[1])
    metadata = {
        "algorithm": challenger.algorithm,
        "window": challenger.window,
        "selection_metric": settings.metric,
        "metrics": challenger.metrics,
        "candidates": {candidate.name: candidate.metrics for candidate in candidates},
        "chosen_by": chosen_by,
        "gate": decision.figures,
        "settings": asdict(settings),
        "recent_from_id": recent_from_id,
        "training_rows": int(recent.sum()) if challenger.window == "recent" else len(training),
        "features": list(schema.FEATURES),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "image": os.environ.get("MINDPULSE_IMAGE"),
        "libraries": library_versions(),
        **provenance,
    }
    version = registry.register(
        layout,
        metadata,
        lambda path: joblib.dump(challenger.model, path),
        decision.promote,
        decision.reason,
        schema.model_signature(training.head(EXAMPLE_ROWS)),
    )
    say(f"{'promoted' if decision.promote else 'rejected'} {challenger.name} as {version}: {decision.reason}")
    return version


def _first_recent_id(layout: Layout, training_file: Path) -> int:
    """merge_production_data numbers the production rows after the largest id of the reference."""
    if training_file == layout.reference_data or not layout.reference_data.exists():
        return np.iinfo(np.int64).max
    return int(pd.read_csv(layout.reference_data, usecols=[schema.ID])[schema.ID].max()) + 1


def _evaluation_rows(raw: bytes, source: Path | None) -> pd.DataFrame | None:
    if not has_rows(raw):
        return None
    return schema.parse_reference(raw, str(source))


def load_current_model(layout: Layout) -> Pipeline:
    """The live model, refused when its file does not match the checksum in its metadata."""
    return joblib.load(registry.verified_model_path(layout))
