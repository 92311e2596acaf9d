"""The drift detector's false-alarm rate and power, with exact 95% bounds.

Each trial draws a production window from the demo generator's own (reference) distribution, moves
2 or 4 of the 9 feature columns by a share of their reference standard deviation (then rounds them as
the generator does), and judges it by the project's rule with the default threshold against 20,000
reference rows. Shift 0 measures false alarms. Every rate carries its Clopper-Pearson 95% interval:
a rate from n trials proves no more than its bound.

mindpulse.drift.measure_drift spends almost all of its time drawing Evidently's plots (about 0.7 s a
window on an idle core, 5 s on a loaded one): 3,000 windows would take hours. The trials therefore
call the same per-column statistical tests of Evidently (`get_stattest`, the methods and default
thresholds measure_drift chooses for the window size) and the same rule (mindpulse.drift.is_drift);
the first CHECKED trials of every point also go through measure_drift itself, and the results record
whether both gave the same verdict and the same drifted columns on every one of them.

A section of bench/benchmark.py (`--sections drift_power`).
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench import stats
from bench.harness import Run

TITLE = "Drift detector: false alarms and power"
JOBS = 2

REFERENCE_ROWS = 20_000
SHIFTED = {
    2: ("Sleep_Duration", "Study_Hours"),
    4: ("Sleep_Duration", "Study_Hours", "Social_Media_Hours", "Physical_Activity"),
}
DECIMALS = {"Sleep_Duration": 1, "Study_Hours": 1, "Social_Media_Hours": 1, "Physical_Activity": 0}
FALSE_ALARM_MAX = 0.05
DETECTION_MIN = 0.95
DETECTION_SHIFT, DETECTION_FEATURES, DETECTION_FROM_ROWS = 0.35, 4, 500
FULL = {"windows": [200, 500, 1000, 5000], "shifts": [0.05, 0.1, 0.2, 0.35], "trials": 75, "null_trials": 150}
SMOKE = {"windows": [200, 1000], "shifts": [0.35], "trials": 3, "null_trials": 3}
CHECKED = 2


def fast_drifted_columns(reference: Any, window: Any) -> list[str]:
    """The columns measure_drift would call drifted, from Evidently's own per-column tests without its plots."""
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    from mindpulse import drift, schema

    small = len(window) < drift.SMALL_SAMPLE_ROWS
    drifted = []
    for column in schema.FEATURES:
        kind = ColumnType.Categorical if column in schema.CATEGORICAL_FEATURE_NAMES else ColumnType.Numerical
        method = ("chisquare" if kind == ColumnType.Categorical else "ks") if small else None
        test = get_stattest(reference[column], window[column], kind, method)
        if test(reference[column], window[column], kind, None).drifted:
            drifted.append(column)
    return drifted


def shifted_window(reference: Any, rows: int, columns: tuple[str, ...], shift: float, seed: int) -> Any:
    import numpy as np

    from mindpulse.demo import synthetic

    window = synthetic.lifestyle(rows, np.random.default_rng(seed))
    for column in columns:
        moved = window[column] + shift * reference[column].std()
        window[column] = moved.round(DECIMALS[column])
    return window


def run_point(point: tuple[int, int, float, int]) -> dict[str, Any]:
    """`trials` windows of `rows` rows with `features` columns moved by `shift` SD: how many were flagged."""
    from mindpulse import drift
    from mindpulse.demo import synthetic

    rows, features, shift, trials = point
    reference = synthetic.generate_reference(REFERENCE_ROWS, 42)
    flagged, shares, columns = 0, [], {column: 0 for column in SHIFTED[max(SHIFTED)]}
    checks = {"windows": 0, "same": 0}
    method = ""
    for trial in range(trials):
        seed = 1_000_000 + 10_000 * features + 1000 * int(shift * 100) + trial + rows * 7
        window = shifted_window(reference, rows, SHIFTED.get(features, ()), shift, seed)
        drifted = fast_drifted_columns(reference, window)
        share = len(drifted) / len(window.columns)
        if trial < CHECKED:
            measured = drift.measure_drift(reference, window)
            checks["windows"] += 1
            checks["same"] += measured.drifted_columns == drifted and measured.drift_detected == drift.is_drift(
                share, drift.DEFAULT_THRESHOLD
            )
            method = measured.columns["Sleep_Duration"]["method"]
        flagged += drift.is_drift(share, drift.DEFAULT_THRESHOLD)
        shares.append(share)
        for column in columns:
            columns[column] += column in drifted
    low, high = stats.clopper_pearson(flagged, trials)
    print(f"{rows} rows, {features} features, shift {shift}: {flagged}/{trials}", flush=True)
    return {
        "rows": rows,
        "features": features,
        "shift_sd": shift,
        "trials": trials,
        "flagged": flagged,
        "rate": flagged / trials,
        "low": low,
        "high": high,
        "mean_share": sum(shares) / trials,
        "column_flag_rate": {column: count / trials for column, count in columns.items()},
        "numeric_method": method,
        "checked_against_measure_drift": checks,
    }


def measure(run: Run) -> dict[str, Any]:
    from mindpulse import drift, schema

    config = SMOKE if run.smoke else FULL

    points = [(rows, 0, 0.0, config["null_trials"]) for rows in config["windows"]]
    points += [
        (rows, features, shift, config["trials"])
        for rows in config["windows"]
        for features in SHIFTED
        for shift in config["shifts"]
    ]
    with ProcessPoolExecutor(max_workers=1 if run.smoke else JOBS) as pool:
        measured = list(pool.map(run_point, points))
    feature_count = len(schema.FEATURES)
    return {
        "config": config,
        "reference_rows": REFERENCE_ROWS,
        "threshold": drift.DEFAULT_THRESHOLD,
        "columns_needed": math.floor(drift.DEFAULT_THRESHOLD * feature_count) + 1,
        "feature_count": feature_count,
        "shifted_columns": {str(count): list(columns) for count, columns in SHIFTED.items()},
        "points": measured,
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for point in result["points"]:
        if point["shift_sd"] == 0:
            found.append(
                {
                    "target": f"drift false alarms at {point['rows']} rows: 95% upper bound <= {FALSE_ALARM_MAX:.0%}",
                    "measured": f"{point['flagged']}/{point['trials']}, upper bound {point['high']:.1%}",
                    "met": point["high"] <= FALSE_ALARM_MAX,
                }
            )
        elif (
            point["shift_sd"] == DETECTION_SHIFT
            and point["features"] == DETECTION_FEATURES
            and point["rows"] >= DETECTION_FROM_ROWS
        ):
            found.append(
                {
                    "target": f"drift detected at {DETECTION_SHIFT} SD in {DETECTION_FEATURES} features, "
                    f"{point['rows']} rows: 95% lower bound >= {DETECTION_MIN:.0%}",
                    "measured": f"{point['flagged']}/{point['trials']}, lower bound {point['low']:.1%}",
                    "met": point["low"] >= DETECTION_MIN,
                }
            )
    return found


def blind_spots(results: dict[str, Any]) -> list[str]:
    """Where the detector cannot see a shift: derived from the rule and from the measured bounds."""
    needed, total = results["columns_needed"], results["feature_count"]
    notes = [
        f"By construction: drift is called when more than {results['threshold']:.0%} of the {total} feature columns "
        f"drift, i.e. at least {needed} columns. A shift confined to fewer columns is flagged only when chance "
        "adds columns, whatever its size."
    ]
    for point in results["points"]:
        if point["shift_sd"] > 0 and point["high"] < 0.5:
            notes.append(
                f"Measured: {point['shift_sd']} SD in {point['features']} columns at {point['rows']:,} rows is flagged "
                f"in at most {point['high']:.0%} of windows (95% upper bound)."
            )
    return notes


def render(results: dict[str, Any]) -> str:
    points = results["points"]
    windows = sorted({point["rows"] for point in points})
    lines = [
        f"Reference: {results['reference_rows']:,} demo rows. Rule: share of drifted columns > {results['threshold']} "
        f"(mindpulse.drift). Shifted columns: 2 = {', '.join(results['shifted_columns']['2'])}; "
        f"4 = {', '.join(results['shifted_columns']['4'])}. Each cell: flagged/trials, rate "
        "[Clopper-Pearson 95% interval].",
        "",
        "| shift (SD) | columns | " + " | ".join(f"{rows:,} rows" for rows in windows) + " |",
        "|---:|---:|" + "---|" * len(windows),
    ]
    cells = {(point["shift_sd"], point["features"], point["rows"]): point for point in points}
    for shift, features in sorted({(point["shift_sd"], point["features"]) for point in points}):
        row = [
            f"{cell['flagged']}/{cell['trials']}, {cell['rate']:.0%} [{cell['low']:.1%}, {cell['high']:.1%}]"
            for rows in windows
            if (cell := cells.get((shift, features, rows)))
        ]
        lines.append(f"| {shift} | {features or '-'} | " + " | ".join(row) + " |")
    methods = {point["rows"]: point["numeric_method"] for point in points}
    lines += ["", "Numeric test per window: " + ", ".join(f"{rows:,} rows {methods[rows]}" for rows in windows) + "."]
    checked = sum(point["checked_against_measure_drift"]["windows"] for point in points)
    same = sum(point["checked_against_measure_drift"]["same"] for point in points)
    lines += [
        "",
        f"The trials apply Evidently's per-column tests without its plots (see bench/drift_power.py); on {checked} "
        f"windows also judged by mindpulse.drift.measure_drift itself, both agreed on the verdict and the "
        f"drifted columns in {same}.",
    ]
    lines += ["", "Where the detector is blind:", ""] + [f"- {note}" for note in blind_spots(results)]
    return "\n".join(lines)


def explain(result: dict[str, Any], document: dict[str, Any]) -> list[str]:
    paragraphs = []
    for point in result["points"]:
        if point["shift_sd"] == 0 and point["high"] > FALSE_ALARM_MAX:
            paragraphs.append(
                f"**Drift false alarms at {point['rows']:,} rows: upper bound {point['high']:.1%}, target ≤ "
                f"{FALSE_ALARM_MAX:.0%}.** {point['flagged']} of {point['trials']} undrifted windows were flagged "
                f"({point['rate']:.1%}); with {point['trials']} trials the exact 95% interval reaches "
                f"{point['high']:.1%}, so these trials cannot show the rate is at most {FALSE_ALARM_MAX:.0%}."
            )
        elif (
            point["shift_sd"] == DETECTION_SHIFT
            and point["features"] == DETECTION_FEATURES
            and point["rows"] >= DETECTION_FROM_ROWS
            and point["low"] < DETECTION_MIN
        ):
            paragraphs.append(
                f"**Drift detection at {DETECTION_SHIFT} SD in {DETECTION_FEATURES} features, {point['rows']:,} rows: "
                f"lower bound {point['low']:.1%}, target ≥ {DETECTION_MIN:.0%}.** {point['flagged']} of "
                f"{point['trials']} shifted windows were flagged ({point['numeric_method']} per numeric column)."
            )
    return paragraphs
