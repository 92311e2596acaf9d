"""Fitting the candidates and choosing the challenger: the first of train_new_model's three parts (fit, judge,
register and promote).

Candidates are the three algorithms, each a scikit-learn Pipeline carrying its own preprocessing, fitted on two
windows of the training data: "all" rows, and only the "recent" production rows (the rows merge_production_data
numbered after the reference's largest id). After a concept shift the old rows teach the wrong relation, and only
the recent window recovers; without one, "all" wins on the larger sample. The candidates are compared on a
validation split of the recent rows (of all rows when there are too few recent ones), and the challenger is the
simplest one the validation rows cannot tell apart from the best (mindpulse.retrain.selection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mindpulse import catalog, schema
from mindpulse.protocol import StepError, say
from mindpulse.retrain import gate, selection

ALGORITHMS = ("logistic_regression", "random_forest", "xgboost")
WINDOWS = ("all", "recent")
# The step's parameters, as train_new_model declares them: their defaults are the settings' defaults.
PARAMETERS = {parameter.name: parameter for parameter in catalog.step("train_new_model").parameters}
# Fewer recent rows than this make too small a training window to be worth a candidate.
MIN_RECENT_ROWS = 500
# Each tree of the forest sees at most this many rows: past it, accuracy stops improving while
# training time keeps growing faster than the rows (n log n).
FOREST_MAX_SAMPLES = 50_000
# The winner is refitted with its validation rows when they are more than this share of its window.
REFIT_SHARE = 0.05


def build_pipeline(algorithm: str, seed: int, rows: int) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(schema.NUMERIC_FEATURE_NAMES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(schema.CATEGORICAL_FEATURE_NAMES)),
        ]
    )
    classifiers: dict[str, Callable[[], Any]] = {
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

    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """The validation rows' labels and this candidate's probabilities (a candidate refit on its whole
        window has none)."""
        if self.validation_target is None or self.validation_probability is None:
            raise ValueError(f"candidate {self.name} was fitted without validation rows")
        return self.validation_target, self.validation_probability


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
    """The challenger: the simplest candidate within one standard error of the best (mindpulse.retrain.selection).
    Simpler means an earlier algorithm of ALGORITHMS. Between windows the newest rows cannot tell apart, the
    recent one is preferred: it learned today's relation, while "all" may blend in one that has changed."""
    best = candidates[0]
    target, best_probability = best.validation()
    errors = selection.paired_standard_errors(
        settings.metric,
        target,
        best_probability,
        [candidate.validation()[1] for candidate in candidates],
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


def refit_on_whole_window(
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
