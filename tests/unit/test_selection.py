"""The one-standard-error choice of the challenger (mindpulse.retrain.selection), on constructed scores."""

from __future__ import annotations

import numpy as np
import pytest

from mindpulse.retrain import selection

# (algorithm rank, not the recent window): logistic_regression@recent is the simplest.
COMPLEXITY = [(2, True), (0, True), (0, False), (1, False)]


def test_the_simplest_candidate_within_one_standard_error_of_the_best_is_chosen() -> None:
    scores = [0.775, 0.756, 0.756, 0.744]
    assert selection.simplest_within_one_standard_error(scores, COMPLEXITY, [0.0, 0.03, 0.03, 0.03]) == 2


def test_a_clearly_better_candidate_wins_over_a_simpler_one() -> None:
    scores = [0.775, 0.70, 0.71, 0.744]
    assert selection.simplest_within_one_standard_error(scores, COMPLEXITY, [0.0, 0.01, 0.01, 0.01]) == 0


def test_identical_predictions_have_no_standard_error_and_different_ones_do() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 2, 400)
    best = rng.random(400)
    other = np.where(rng.random(400) < 0.2, 1 - best, best)
    errors = selection.paired_standard_errors("accuracy", target, best, [best, other], seed=1)
    assert errors[0] == 0.0
    # 20% of the rows disagree: the sd of a mean of +-1/0 differences over 400 rows is about sqrt(0.2/400).
    assert errors[1] == pytest.approx(np.sqrt(0.2 / 400), rel=0.25)


def test_the_accuracy_fast_path_agrees_with_the_generic_bootstrap() -> None:
    rng = np.random.default_rng(2)
    target, best, other = rng.integers(0, 2, 300), rng.random(300), rng.random(300)
    fast = selection.paired_standard_errors("accuracy", target, best, [other], seed=3)
    draws = np.random.default_rng(3).integers(0, 300, (selection.RESAMPLES, 300))
    generic = np.std(
        [
            selection.metric_value("accuracy", target[rows], best[rows])
            - selection.metric_value("accuracy", target[rows], other[rows])
            for rows in draws
        ]
    )
    assert fast == pytest.approx([generic])


def test_roc_auc_is_minus_one_where_undefined() -> None:
    assert selection.metric_value("roc_auc", np.array([1, 1]), np.array([0.2, 0.9])) == -1.0
