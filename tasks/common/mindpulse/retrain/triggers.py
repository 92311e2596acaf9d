"""The retrain pipeline's two triggers: enough new labelled rows, or drifted features. Either says
"retrain" (a result) or "nothing to do" (NothingToDo). Evidently is imported only where drift is measured.
"""

from __future__ import annotations

from typing import Any

from mindpulse.datasets import MAX_QUARANTINE_SHARE, count_production, load_production, load_reference
from mindpulse.paths import Layout
from mindpulse.protocol import NothingToDo, frozen_imports, say
from mindpulse.results import DriftCheck, LabelCheck


def check_production_data(
    layout: Layout, retrain_threshold: int, force: bool, max_quarantine_share: float = MAX_QUARANTINE_SHARE
) -> LabelCheck:
    """Retrain when at least `retrain_threshold` valid production rows carry their true outcome."""
    counts = count_production(load_production(layout, max_quarantine_share))
    labelled = counts.labelled_rows
    say(f"{layout.production_data}: {counts.production_rows} rows, {labelled} labelled (threshold {retrain_threshold})")

    def decision(retrain: bool, reason: str) -> LabelCheck:
        return LabelCheck(
            **counts.as_dict(), retrain=retrain, reason=reason, force=force, retrain_threshold=retrain_threshold
        )

    if labelled >= retrain_threshold:
        return decision(True, f"{labelled} labelled rows >= threshold {retrain_threshold}")
    if force:
        return decision(True, "forced by the caller")
    raise NothingToDo(decision(False, f"{labelled} labelled rows < threshold {retrain_threshold}"))


def detect_drift(
    layout: Layout,
    drift_threshold: float,
    min_drift_rows: int,
    force: bool,
    max_quarantine_share: float = MAX_QUARANTINE_SHARE,
) -> DriftCheck:
    """Retrain when more than `drift_threshold` of the feature columns drifted from the live model's training data."""
    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    counts = count_production(current)
    settings: dict[str, Any] = {"force": force, "min_drift_rows": min_drift_rows, "drift_threshold": drift_threshold}
    rows = counts.production_rows
    if current is None or rows < min_drift_rows:
        reason = f"{rows} production rows < {min_drift_rows}, too few to judge drift"
        if force:
            return DriftCheck(**counts.as_dict(), **settings, retrain=True, reason=f"forced by the caller ({reason})")
        raise NothingToDo(DriftCheck(**counts.as_dict(), **settings, retrain=False, reason=reason))
    # Imported once the data is known to be valid: Evidently takes seconds to import, bad input fails at once.
    with frozen_imports():
        from mindpulse.drift import measure_drift

    measurement = measure_drift(reference, current.rows, drift_threshold)
    share = measurement.drift_share
    say(
        f"drift share {share:.2f} (threshold {drift_threshold}); drifted: "
        + (", ".join(measurement.drifted_columns) or "none")
    )

    def decision(retrain: bool, reason: str) -> DriftCheck:
        return DriftCheck(
            **counts.as_dict(),
            **settings,
            retrain=retrain,
            reason=reason,
            drift_share=share,
            drift_detected=measurement.drift_detected,
            drifted_columns=measurement.drifted_columns,
            columns=measurement.columns,
        )

    if measurement.drift_detected:
        return decision(True, f"drift share {share:.2f} > {drift_threshold}")
    if force:
        return decision(True, "forced by the caller")
    raise NothingToDo(decision(False, f"drift share {share:.2f} <= {drift_threshold}"))
