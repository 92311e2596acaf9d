"""Statistics the measurements report their uncertainty with (scipy is in the host venv)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy.stats import beta, t


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion: it never claims less
    uncertainty than there is, which matters at 0 or all successes, where other intervals collapse."""
    if not 0 <= successes <= trials or trials == 0:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes} of {trials}")
    tail = (1 - confidence) / 2
    lower = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    upper = 1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    return lower, upper


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and Student-t interval of independent measurements (one per seed)."""
    count = len(values)
    if count < 2:
        raise ValueError("an interval needs at least two measurements")
    mean = sum(values) / count
    spread = math.sqrt(sum((value - mean) ** 2 for value in values) / (count - 1))
    half = float(t.ppf((1 + confidence) / 2, count - 1)) * spread / math.sqrt(count)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": spread, "n": count}


def median_range(values: Sequence[float]) -> dict[str, float]:
    """Median with the smallest and largest value: timings on a shared machine have a long upper tail,
    which a mean and a symmetric interval would hide."""
    if not values:
        raise ValueError("no measurements")
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
