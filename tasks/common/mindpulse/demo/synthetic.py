"""Synthetic data with the student_lifestyle_100k schema, from a documented generating process.

The Kaggle file cannot be downloaded by the pipeline, so the demo generates its own, in which
lifestyle really drives depression risk:

    Age ~ U{18..30}; Gender: Female 49%, Male 47%, Other 4%; Department uniform over five
    Study_Hours        ~ N(4.5, 1.8) clipped to [0, 14]
    Sleep_Duration     ~ N(7.0 - 0.15 (study - 4.5), 1.1) clipped to [3, 11]
    Social_Media_Hours ~ Gamma(2.5, 1.2) clipped to [0, 12]
    Physical_Activity  ~ Gamma(2, 30) minutes a day, clipped to [0, 300]
    Stress_Level       = round(5 + 0.45 (study - 4.5) - 0.6 (sleep - 7) + 0.25 (social - 3)
                               - 0.008 (activity - 60) + 0.6 [Medical or Engineering] + N(0, 1.4)) in [1, 10]
    CGPA               = 3.0 + 0.12 (study - 4.5) + 0.08 (sleep - 7) - 0.05 (social - 3) + N(0, 0.3) in [0, 4]
    logit P(Depression) = -0.9 + 0.55 (stress - 5) - 0.45 (sleep - 7) + 0.30 (social - 3)
                          - 0.012 (activity - 60) - 0.9 (CGPA - 3) + 0.2 [Female]

Covariate shift s moves the lifestyle (less sleep, more study and social media, less activity);
concept shift c blends the risk model towards a different one, so a model trained before the
shift loses accuracy. Because P(Depression | features) is known, the best accuracy any model can
reach on a sample is computable: `bayes_accuracy`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from mindpulse import schema

GENDERS = ("Female", "Male", "Other")
GENDER_SHARES = (0.49, 0.47, 0.04)
DEPARTMENTS = schema.CATEGORICAL_FEATURES["Department"]


def lifestyle(rows: int, rng: np.random.Generator, covariate_shift: float = 0.0) -> pd.DataFrame:
    """Feature columns only, in schema order."""
    s = covariate_shift
    study = np.clip(rng.normal(4.5 + 1.0 * s, 1.8, rows), 0, 14)
    sleep = np.clip(rng.normal(7.0 - 0.15 * (study - 4.5) - 0.9 * s, 1.1, rows), 3, 11)
    social = np.clip(rng.gamma(2.5, 1.2, rows) * (1 + 0.5 * s), 0, 12)
    activity = np.clip(rng.gamma(2.0, 30.0, rows) * max(0.2, 1 - 0.35 * s), 0, 300)
    department = rng.choice(DEPARTMENTS, rows)
    gender = rng.choice(GENDERS, rows, p=GENDER_SHARES)
    demanding = np.isin(department, ("Medical", "Engineering"))
    stress = 5 + 0.45 * (study - 4.5) - 0.6 * (sleep - 7) + 0.25 * (social - 3) - 0.008 * (activity - 60)
    stress = np.clip(np.rint(stress + 0.6 * demanding + rng.normal(0, 1.4, rows)), 1, 10)
    cgpa = 3.0 + 0.12 * (study - 4.5) + 0.08 * (sleep - 7) - 0.05 * (social - 3) + rng.normal(0, 0.3, rows)
    return pd.DataFrame(
        {
            "Age": rng.integers(18, 31, rows),
            "Gender": gender,
            "Department": department,
            "CGPA": np.round(np.clip(cgpa, 0, 4), 2),
            "Sleep_Duration": np.round(sleep, 1),
            "Study_Hours": np.round(study, 1),
            "Social_Media_Hours": np.round(social, 1),
            "Physical_Activity": np.round(activity),
            "Stress_Level": stress.astype("int64"),
        }
    )[list(schema.FEATURES)]


def depression_probability(features: pd.DataFrame, concept_shift: float = 0.0) -> np.ndarray:
    stress = features["Stress_Level"].to_numpy(float)
    sleep = features["Sleep_Duration"].to_numpy(float)
    social = features["Social_Media_Hours"].to_numpy(float)
    activity = features["Physical_Activity"].to_numpy(float)
    cgpa = features["CGPA"].to_numpy(float)
    study = features["Study_Hours"].to_numpy(float)
    female = (features["Gender"] == "Female").to_numpy(float)
    usual = (
        -0.9 + 0.55 * (stress - 5) - 0.45 * (sleep - 7) + 0.30 * (social - 3)
        - 0.012 * (activity - 60) - 0.9 * (cgpa - 3) + 0.2 * female
    )  # fmt: skip
    # After a concept shift, study load and isolation (little activity) drive risk, stress much less.
    shifted = -0.4 + 0.6 * (study - 4.5) + 0.1 * (stress - 5) - 0.02 * (activity - 60) + 0.5 * (social - 3)
    logit = (1 - concept_shift) * usual + concept_shift * shifted
    return np.asarray(1 / (1 + np.exp(-logit)))


def bayes_accuracy(features: pd.DataFrame, concept_shift: float = 0.0) -> float:
    """Expected accuracy of the best possible classifier (the true probability, cut at 0.5)."""
    probability = depression_probability(features, concept_shift)
    return float(np.mean(np.maximum(probability, 1 - probability)))


def generate_reference(rows: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = lifestyle(rows, rng)
    depressed = rng.random(rows) < depression_probability(features)
    frame = pd.concat([pd.DataFrame({schema.ID: np.arange(1, rows + 1)}), features], axis=1)
    frame[schema.TARGET] = depressed
    return frame


def generate_production(
    rows: int,
    predict: Callable[[pd.DataFrame], np.ndarray],
    seed: int | None,
    covariate_shift: float = 0.0,
    concept_shift: float = 0.0,
    unlabelled_share: float = 0.0,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Production rows as the serving API logs them: one day of traffic ending at `end`.

    `predict(features) -> array of 0/1` is the live model; `actual` is drawn from the generating
    process and left empty for a random `unlabelled_share` of rows (outcome not known yet).
    """
    rng = np.random.default_rng(seed)
    features = lifestyle(rows, rng, covariate_shift)
    actual = (rng.random(rows) < depression_probability(features, concept_shift)).astype(int)
    end = end or datetime.now(UTC)
    offsets = np.sort(rng.uniform(0, 86_400, rows))[::-1]
    stamps = [(end - timedelta(seconds=float(offset))).isoformat(timespec="seconds") for offset in offsets]
    frame = pd.concat([pd.DataFrame({schema.TIMESTAMP: stamps}), features], axis=1)
    frame[schema.PREDICTION] = np.asarray(predict(features)).astype(int)
    frame[schema.ACTUAL] = pd.Series(actual, dtype="Int8").mask(rng.random(rows) < unlabelled_share)
    return frame
