"""What the retrain pipeline decides from the data: is there enough new labelled data, has it
drifted. Evidently is imported only where drift is measured.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mindpulse import production, schema
from mindpulse.paths import Layout
from mindpulse.step import NothingToDo, StepError, say


def load_production(layout: Layout) -> pd.DataFrame | None:
    """Validated production rows as they are now, or None when there are none yet."""
    snapshot = production.read_snapshot(layout)
    if not production.has_rows(snapshot):
        return None
    return schema.parse_production(snapshot, str(layout.production_data))


def load_reference(layout: Layout) -> pd.DataFrame:
    if not layout.reference_data.exists():
        raise StepError(f"{layout.reference_data}: reference data is missing (run the bootstrap first)")
    return schema.load_reference(layout.reference_data)


def check_production_data(layout: Layout, threshold: int, force: bool) -> dict[str, Any]:
    """Retrain when at least `threshold` production rows carry their true outcome."""
    current = load_production(layout)
    total = 0 if current is None else len(current)
    labelled = 0 if current is None else int(current[schema.ACTUAL].notna().sum())
    say(f"{layout.production_data}: {total} rows, {labelled} labelled (threshold {threshold})")
    enough = labelled >= threshold
    result = {"production_rows": total, "labelled_rows": labelled, "threshold": threshold, "force": force}
    if enough:
        return {**result, "retrain": True, "reason": f"{labelled} labelled rows >= threshold {threshold}"}
    if force:
        return {**result, "retrain": True, "reason": "forced by the caller"}
    raise NothingToDo({**result, "retrain": False, "reason": f"{labelled} labelled rows < threshold {threshold}"})


def detect_drift(layout: Layout, threshold: float, min_rows: int, force: bool) -> dict[str, Any]:
    """Retrain when more than `threshold` of the feature columns drifted from the live model's training data."""
    from mindpulse.drift import measure_drift

    reference = load_reference(layout)
    current = load_production(layout)
    rows = 0 if current is None else len(current)
    if rows < min_rows:
        result = {"production_rows": rows, "min_rows": min_rows, "drift_share": None, "force": force}
        reason = f"{rows} production rows < {min_rows}, too few to judge drift"
        if force:
            return {**result, "retrain": True, "reason": f"forced by the caller ({reason})"}
        raise NothingToDo({**result, "retrain": False, "reason": reason})
    measurement = measure_drift(reference, current, threshold)
    say(
        f"drift share {measurement.share:.2f} (threshold {threshold}); drifted: "
        + (", ".join(measurement.drifted_columns) or "none")
    )
    result = {**measurement.as_dict(), "drift_share": measurement.share, "force": force}
    if measurement.drift_detected:
        return {**result, "retrain": True, "reason": f"drift share {measurement.share:.2f} > {threshold}"}
    if force:
        return {**result, "retrain": True, "reason": "forced by the caller"}
    raise NothingToDo({**result, "retrain": False, "reason": f"drift share {measurement.share:.2f} <= {threshold}"})
