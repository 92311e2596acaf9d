"""The promotion gate's rule, as pure functions over per-row correctness and scores (standard library
only), so that it is tested without training anything.

A challenger goes live iff, on the held-out evaluation rows both models are scored on:

(a) it is not significantly worse than the live model: one-sided exact McNemar test on the rows where
    exactly one of the two models is right; significantly worse means p < alpha; and
(b) its score by the selection metric is at least the floor:
        max(min_score, live score - (tolerance - drawdown of the live model)).

The drawdown is how far the live model's chain of promotions has fallen below the best model of that
chain, each step measured on its own paired evaluation rows (the live model and its challenger
re-scored on the same newest rows, so each difference compares like with like even when the data
moved): drawdown' = max(0, drawdown + live score - challenger score). It is recorded in every
promoted version's metadata, so a run of small losses, each within the tolerance alone, stops being
promoted once they add up to more than the tolerance; a better challenger pays the drawdown back.
A tie costs nothing: a model as good as the live one on fresher data goes live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

# Scores are rounded to 4 decimals before they are compared: a difference below this is rounding.
EPSILON = 1e-9


@dataclass(frozen=True)
class Rule:
    """The gate's settings: train_new_model's parameters promotion_tolerance, promotion_alpha and
    promotion_min_score (their defaults and bounds are declared in mindpulse.catalog)."""

    tolerance: float
    alpha: float
    min_score: float


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str
    figures: dict[str, Any]


def discordant(live_correct: Sequence[bool], challenger_correct: Sequence[bool]) -> tuple[int, int]:
    """(rows only the live model gets right, rows only the challenger gets right)."""
    if len(live_correct) != len(challenger_correct):
        raise ValueError("both models must be scored on the same rows")
    live_only = sum(1 for old, new in zip(live_correct, challenger_correct, strict=True) if old and not new)
    challenger_only = sum(1 for old, new in zip(live_correct, challenger_correct, strict=True) if new and not old)
    return live_only, challenger_only


def mcnemar_worse_p(live_only: int, challenger_only: int) -> float:
    """One-sided exact McNemar p-value for "the challenger is worse": the chance that, if both models
    were equally good, at least `live_only` of the discordant rows would go the live model's way
    (each discordant row is a fair coin under that hypothesis)."""
    rows = live_only + challenger_only
    if rows == 0:
        return 1.0
    return sum(comb(rows, k) for k in range(live_only, rows + 1)) / (1 << rows)


def floor(live_score: float, live_drawdown: float, rule: Rule) -> tuple[float, str]:
    """The lowest score a challenger may go live with, and where that figure comes from."""
    budget = max(0.0, rule.tolerance - live_drawdown)
    relative = live_score - budget
    if rule.min_score >= relative:
        return rule.min_score, "min_score"
    return round(relative, 6), f"live score minus the loss budget left ({budget:.4f} of {rule.tolerance})"


def decide(
    live_score: float,
    challenger_score: float,
    live_correct: Sequence[bool],
    challenger_correct: Sequence[bool],
    live_drawdown: float,
    rule: Rule,
) -> Verdict:
    """Judge a challenger against the live model on the same evaluation rows (see the module doc)."""
    live_only, challenger_only = discordant(live_correct, challenger_correct)
    p_worse = mcnemar_worse_p(live_only, challenger_only)
    lowest, source = floor(live_score, live_drawdown, rule)
    significantly_worse = p_worse < rule.alpha
    below_floor = challenger_score < lowest - EPSILON
    figures = {
        "live_score": live_score,
        "challenger_score": challenger_score,
        "rows_only_live_right": live_only,
        "rows_only_challenger_right": challenger_only,
        "p_worse": round(p_worse, 6),
        "alpha": rule.alpha,
        "tolerance": rule.tolerance,
        "min_score": rule.min_score,
        "floor": lowest,
        "floor_source": source,
        "live_drawdown": round(live_drawdown, 6),
        "drawdown": round(max(0.0, live_drawdown + live_score - challenger_score), 6),
    }
    findings = [
        f"McNemar p(worse) {p_worse:.4f} {'<' if significantly_worse else '>='} alpha {rule.alpha}",
        f"floor {lowest:.4f} ({source})",
    ]
    if significantly_worse or below_floor:
        failed = "significantly worse" if significantly_worse else "below the floor"
        if significantly_worse and below_floor:
            failed = "significantly worse and below the floor"
        return Verdict(False, f"{'; '.join(findings)}: {failed}", figures)
    return Verdict(True, f"{'; '.join(findings)}: not significantly worse, at or above the floor", figures)


def forced(verdict: Verdict) -> Verdict:
    """A person's choice overrides the gate; the model they chose becomes the new baseline (drawdown 0)."""
    if verdict.promote:
        return verdict
    return Verdict(True, f"forced by a person over the gate ({verdict.reason})", {**verdict.figures, "drawdown": 0.0})
