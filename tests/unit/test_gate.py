"""The promotion gate's rule (mindpulse.retrain.gate) on constructed per-row correctness: no training involved."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from mindpulse.protocol import StepError
from mindpulse.retrain import gate
from mindpulse.retrain.training import TrainingSettings

ROWS = 1000
RULE = gate.Rule(tolerance=0.01, alpha=0.05, min_score=0.0)


def paired(live_only: int, challenger_only: int, both: int = 700, rows: int = ROWS) -> dict:
    """Per-row correctness of two models on the same `rows` rows, and their accuracies."""
    live = [True] * both + [True] * live_only + [False] * challenger_only
    challenger = [True] * both + [False] * live_only + [True] * challenger_only
    neither = rows - len(live)
    live, challenger = live + [False] * neither, challenger + [False] * neither
    return {
        "live_score": sum(live) / rows,
        "challenger_score": sum(challenger) / rows,
        "live_correct": live,
        "challenger_correct": challenger,
    }


@pytest.mark.parametrize(("live_only", "challenger_only"), [(0, 0), (5, 0), (0, 5), (3, 3), (60, 50), (150, 60)])
def test_mcnemar_matches_the_exact_binomial_test(live_only: int, challenger_only: int) -> None:
    discordant = live_only + challenger_only
    expected = binomtest(live_only, discordant, 0.5, alternative="greater").pvalue if discordant else 1.0
    assert gate.mcnemar_worse_p(live_only, challenger_only) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_known_values() -> None:
    assert gate.mcnemar_worse_p(5, 0) == 1 / 32
    assert gate.mcnemar_worse_p(3, 3) == 42 / 64


def test_a_loss_of_exactly_the_tolerance_goes_live_and_one_row_more_does_not() -> None:
    # 60 vs 50 discordant rows: a 0.01 loss that the paired test cannot call significant (p ~ 0.2).
    inside = gate.decide(**paired(60, 50), live_drawdown=0.0, rule=RULE)
    outside = gate.decide(**paired(61, 50), live_drawdown=0.0, rule=RULE)

    assert inside.figures["challenger_score"] == pytest.approx(inside.figures["live_score"] - 0.01)
    assert inside.promote and inside.figures["p_worse"] > RULE.alpha
    assert not outside.promote and outside.figures["p_worse"] > RULE.alpha
    assert "below the floor" in outside.reason and "significantly" not in outside.reason
    assert outside.figures["floor"] == pytest.approx(0.751)  # live score 0.761 minus the tolerance


def test_a_wider_tolerance_lets_the_same_challenger_through() -> None:
    assert gate.decide(
        **paired(61, 50), live_drawdown=0.0, rule=gate.Rule(tolerance=0.02, alpha=0.05, min_score=0.0)
    ).promote


def test_a_significantly_worse_challenger_is_kept_out_even_within_the_tolerance() -> None:
    # 10,000 rows: 150 rows only the live model gets right, 60 only the challenger: -0.009, p < 1e-9.
    verdict = gate.decide(**paired(150, 60, both=7000, rows=10_000), live_drawdown=0.0, rule=RULE)

    assert verdict.figures["live_score"] - verdict.figures["challenger_score"] < RULE.tolerance
    assert not verdict.promote and verdict.figures["p_worse"] < 1e-6
    assert "significantly worse" in verdict.reason


def test_slightly_worse_challengers_stop_going_live_before_the_losses_add_up_to_the_tolerance() -> None:
    drawdown, live_score, promoted_losses = 0.0, None, []
    for _ in range(10):
        # Each challenger is 4 rows in 1000 worse than the live model on its own evaluation rows.
        verdict = gate.decide(**paired(24, 20), live_drawdown=drawdown, rule=RULE)
        live_score = verdict.figures["live_score"]
        if not verdict.promote:
            break
        promoted_losses.append(live_score - verdict.figures["challenger_score"])
        drawdown = verdict.figures["drawdown"]
    else:
        pytest.fail("ten challengers, each 0.004 worse, all went live")
    assert len(promoted_losses) == 2, "0.004 + 0.004 fits the 0.01 budget, a third 0.004 does not"
    assert sum(promoted_losses) <= RULE.tolerance
    assert verdict.figures["floor_source"].startswith("live score minus the loss budget left (0.0020")


def test_a_better_challenger_pays_the_drawdown_back() -> None:
    better = gate.decide(**paired(20, 40), live_drawdown=0.008, rule=RULE)
    assert better.promote and better.figures["drawdown"] == 0.0
    slightly = gate.decide(**paired(20, 25), live_drawdown=0.008, rule=RULE)
    assert slightly.figures["drawdown"] == pytest.approx(0.003)


def test_a_tie_goes_live_and_costs_nothing() -> None:
    verdict = gate.decide(**paired(30, 30), live_drawdown=0.004, rule=RULE)
    assert verdict.promote and verdict.figures["drawdown"] == pytest.approx(0.004)


def test_the_absolute_minimum_score_is_a_floor_of_its_own() -> None:
    rule = gate.Rule(tolerance=0.01, alpha=0.05, min_score=0.77)
    verdict = gate.decide(**paired(30, 30), live_drawdown=0.0, rule=rule)  # both score 0.73

    assert not verdict.promote
    assert verdict.figures["floor"] == 0.77 and verdict.figures["floor_source"] == "min_score"


def test_a_person_can_force_a_rejected_challenger_live_and_it_says_so() -> None:
    rejected = gate.decide(**paired(150, 60, both=7000, rows=10_000), live_drawdown=0.0, rule=RULE)
    forced = gate.forced(rejected)

    assert forced.promote and forced.reason.startswith("forced by a person over the gate (")
    assert rejected.reason in forced.reason and forced.figures["drawdown"] == 0.0
    accepted = gate.decide(**paired(30, 30), live_drawdown=0.0, rule=RULE)
    assert gate.forced(accepted) == accepted, "forcing a challenger the gate accepts changes nothing"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"tolerance": -0.01}, "promotion_tolerance"),
        ({"alpha": 0.0}, "promotion_alpha"),
        ({"alpha": 1.0}, "promotion_alpha"),
        ({"min_score": 1.5}, "promotion_min_score"),
    ],
)
def test_out_of_range_settings_are_named(settings: dict[str, float], problem: str) -> None:
    with pytest.raises(StepError, match=problem):
        TrainingSettings(**settings).check()


def test_models_scored_on_different_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="same rows"):
        gate.discordant([True, False], [True])
