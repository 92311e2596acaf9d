"""Which candidate becomes the challenger: the simplest one that the validation rows cannot tell apart
from the best (Breiman's one-standard-error rule).

The validation rows are the newest rows there are (the recent window's), so they judge every
candidate on what the model will meet next. After a concept shift that window is small: 1,000 new
labelled rows leave 160 validation rows, on which one standard error of a difference in accuracy is
about 3 points, more than what separates the candidates. Taking the best score there sometimes
picked the forest, which recovers far less of the lost accuracy on so few rows than the logistic
regression (the benchmark's concept-shift section compares both rules over ten seeds). A candidate within
one standard error of the best is indistinguishable from it on these rows; among those, the one with
the fewest degrees of freedom generalises best from few rows, so it is chosen. On large windows the
standard error is a fraction of a point and the rule picks the best score.

The standard error of each difference is a paired bootstrap over the validation rows (both
candidates scored on the same resampled rows), so it works for every selection metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

RESAMPLES = 200


def metric_value(metric: str, target: np.ndarray, probability: np.ndarray) -> float:
    """The selection metric of predicted probabilities (labels cut at 0.5); -1 where it is undefined."""
    predicted = probability >= 0.5
    if metric == "accuracy":
        return float(np.mean(predicted == target))
    if metric == "roc_auc":
        return float(roc_auc_score(target, probability)) if len(np.unique(target)) == 2 else -1.0
    scorer = {"f1": f1_score, "precision": precision_score, "recall": recall_score}[metric]
    return float(scorer(target, predicted, zero_division=0))


def paired_standard_errors(
    metric: str, target: np.ndarray, best: np.ndarray, others: Sequence[np.ndarray], seed: int
) -> list[float]:
    """Bootstrap standard error of metric(best) - metric(other), for each other, on the same resampled rows."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(target), (RESAMPLES, len(target)))
    if metric == "accuracy":
        # Fast path, same figure: the mean of per-row correctness over each draw.
        right = target == (best >= 0.5)
        return [float(np.std((right[draws]).mean(axis=1) - (target == (o >= 0.5))[draws].mean(axis=1))) for o in others]
    best_scores = np.array([metric_value(metric, target[rows], best[rows]) for rows in draws])
    return [
        float(np.std(best_scores - np.array([metric_value(metric, target[rows], other[rows]) for rows in draws])))
        for other in others
    ]


def simplest_within_one_standard_error(
    scores: Sequence[float],
    complexity: Sequence[tuple[int, bool]],
    standard_errors: Sequence[float],
) -> int:
    """Index of the least complex candidate whose score is within one standard error of the best score;
    `standard_errors[i]` is that of (best score - score i), 0 for the best itself."""
    best = int(np.argmax(scores))
    close = [
        index
        for index, (value, error) in enumerate(zip(scores, standard_errors, strict=True))
        if scores[best] - value <= error
    ]
    return min(close, key=lambda index: (complexity[index], -scores[index]))
