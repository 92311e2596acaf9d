"""What the retrain pipeline decides from the data: is there enough new labelled data, has it
drifted. Evidently is imported only where drift is measured.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mindpulse import options, production, schema
from mindpulse.paths import Layout
from mindpulse.step import NothingToDo, StepError, say

# Quarantined lines a step lists in its log; the merge writes them all to the quarantine file.
SHOWN_QUARANTINED = 5


def load_production(
    layout: Layout, max_quarantine_share: float = options.DEFAULT_MAX_QUARANTINE_SHARE
) -> schema.ProductionRows | None:
    """Production rows as they are now, the bad ones set aside (and said in the log) while they are
    at most `max_quarantine_share` of the rows; None when there are no rows yet."""
    snapshot = production.read_snapshot(layout)
    if not production.has_rows(snapshot):
        return None
    parsed = schema.parse_production_rows(snapshot, str(layout.production_data), max_quarantine_share)
    say_quarantined(layout, parsed.quarantined)
    return parsed


def say_quarantined(layout: Layout, quarantined: tuple[schema.QuarantinedRow, ...]) -> None:
    if not quarantined:
        return
    say(f"{layout.production_data}: {len(quarantined)} bad rows set aside (quarantined), not used:")
    for row in quarantined[:SHOWN_QUARANTINED]:
        say(f"  line {row.line}: {row.reason}")
    if len(quarantined) > SHOWN_QUARANTINED:
        say(f"  ... and {len(quarantined) - SHOWN_QUARANTINED} more")


def count_production(current: schema.ProductionRows | None) -> dict[str, int]:
    """What a step reports about production data: valid rows, those with a known outcome, rows set aside."""
    if current is None:
        return {"production_rows": 0, "labelled_rows": 0, "quarantined_rows": 0}
    return {
        "production_rows": len(current.rows),
        "labelled_rows": int(current.rows[schema.ACTUAL].notna().sum()),
        "quarantined_rows": len(current.quarantined),
    }


def load_reference(layout: Layout) -> pd.DataFrame:
    if not layout.reference_data.exists():
        raise StepError(f"{layout.reference_data}: reference data is missing (run the bootstrap first)")
    return schema.load_reference(layout.reference_data)


def check_production_data(
    layout: Layout,
    threshold: int,
    force: bool,
    max_quarantine_share: float = options.DEFAULT_MAX_QUARANTINE_SHARE,
) -> dict[str, Any]:
    """Retrain when at least `threshold` valid production rows carry their true outcome."""
    counts = count_production(load_production(layout, max_quarantine_share))
    labelled = counts["labelled_rows"]
    say(f"{layout.production_data}: {counts['production_rows']} rows, {labelled} labelled (threshold {threshold})")
    result = {**counts, "threshold": threshold, "force": force}
    if labelled >= threshold:
        return {**result, "retrain": True, "reason": f"{labelled} labelled rows >= threshold {threshold}"}
    if force:
        return {**result, "retrain": True, "reason": "forced by the caller"}
    raise NothingToDo({**result, "retrain": False, "reason": f"{labelled} labelled rows < threshold {threshold}"})


def detect_drift(
    layout: Layout,
    threshold: float,
    min_rows: int,
    force: bool,
    max_quarantine_share: float = options.DEFAULT_MAX_QUARANTINE_SHARE,
) -> dict[str, Any]:
    """Retrain when more than `threshold` of the feature columns drifted from the live model's training data."""
    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    counts = count_production(current)
    rows = counts["production_rows"]
    if current is None or rows < min_rows:
        result = {**counts, "min_rows": min_rows, "drift_share": None, "force": force}
        reason = f"{rows} production rows < {min_rows}, too few to judge drift"
        if force:
            return {**result, "retrain": True, "reason": f"forced by the caller ({reason})"}
        raise NothingToDo({**result, "retrain": False, "reason": reason})
    # Imported once the data is known to be valid: Evidently takes seconds to import, bad input fails at once.
    from mindpulse.drift import measure_drift

    measurement = measure_drift(reference, current.rows, threshold)
    say(
        f"drift share {measurement.share:.2f} (threshold {threshold}); drifted: "
        + (", ".join(measurement.drifted_columns) or "none")
    )
    result = {**measurement.as_dict(), **counts, "drift_share": measurement.share, "force": force}
    if measurement.drift_detected:
        return {**result, "retrain": True, "reason": f"drift share {measurement.share:.2f} > {threshold}"}
    if force:
        return {**result, "retrain": True, "reason": "forced by the caller"}
    raise NothingToDo({**result, "retrain": False, "reason": f"drift share {measurement.share:.2f} <= {threshold}"})
