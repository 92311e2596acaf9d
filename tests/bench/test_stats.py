"""The statistics the benchmark's figures rest on, against known values."""

from __future__ import annotations

import math

import pytest

from bench import harness, stats


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Closed forms at the edges: (alpha/2)^(1/n).
        (0, 60, 0.0, 1 - 0.025 ** (1 / 60)),
        (60, 60, 0.025 ** (1 / 60), 1.0),
        # R: binom.test(5, 20)$conf.int
        (5, 20, 0.08657147, 0.49104587),
        (1, 10, 0.002528579, 0.445016117),
    ],
)
def test_clopper_pearson_matches_known_intervals(successes: int, trials: int, low: float, high: float) -> None:
    assert stats.clopper_pearson(successes, trials) == pytest.approx((low, high), abs=1e-7)


def test_sixty_trials_without_a_false_alarm_cannot_show_five_percent_but_seventy_five_can() -> None:
    assert stats.clopper_pearson(0, 60)[1] > 0.05 > stats.clopper_pearson(0, 75)[1]


def test_mean_interval_is_the_student_t_interval() -> None:
    interval = stats.mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert interval["mean"] == 2.0 and interval["sd"] == 1.0
    assert (interval["low"], interval["high"]) == pytest.approx((2.0 - half, 2.0 + half))
    with pytest.raises(ValueError):
        stats.mean_interval([1.0])


def test_a_range_holding_a_negative_number_is_written_so_it_reads_one_way() -> None:
    added = {"n": 30, "median": -0.0001, "min": -0.161, "max": 0.092}
    assert harness.span(added, 3) == "0.000 (-0.161 to 0.092)"  # no "-0.000", no "-0.161-0.092"
    assert harness.span({"n": 5, "median": 1.2, "min": 1.1, "max": 1.5}) == "1.20 (1.10-1.50)"
    assert harness.fixed(-0.0004, 3, "+") == "+0.000" and harness.fixed(-0.004, 3, "+") == "-0.004"
