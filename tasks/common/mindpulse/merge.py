"""merge_production_data: reference data + the labelled production rows, as the training set."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mindpulse import atomic, production, schema
from mindpulse.monitoring import load_reference
from mindpulse.paths import Layout
from mindpulse.step import say


def merge_production_data(layout: Layout, stamp: str) -> dict[str, Any]:
    """Write training_data.csv and record in consumption.json which production bytes it used."""
    reference = load_reference(layout)
    snapshot = production.read_snapshot(layout)
    current = (
        schema.parse_production(snapshot, str(layout.production_data))
        if production.has_rows(snapshot)
        else pd.DataFrame(columns=list(schema.PRODUCTION_COLUMNS))
    )
    labelled = schema.labelled(current)
    # Production rows carry no student id: number them after the largest id in the reference.
    first_id = int(reference[schema.ID].max()) + 1 if len(reference) else 1
    new_rows = labelled[list(schema.FEATURES)].assign(**{schema.TARGET: labelled[schema.ACTUAL].astype("int8")})
    new_rows.insert(0, schema.ID, range(first_id, first_id + len(new_rows)))
    merged = pd.concat([reference, new_rows], ignore_index=True)
    duplicated = merged.duplicated(subset=[*schema.FEATURES, schema.TARGET])
    merged = merged[~duplicated]
    say(
        f"reference {len(reference)} rows + {len(labelled)} labelled production rows "
        f"({len(current) - len(labelled)} unlabelled), {int(duplicated.sum())} duplicates dropped"
    )
    atomic.write_with(layout.training_data, lambda path: merged.to_csv(path, index=False))
    if len(current):
        production.Consumption(
            stamp=stamp,
            consumed_bytes=len(snapshot),
            sha256=production.digest(snapshot),
            rows=len(current),
            labelled_rows=len(labelled),
        ).save(layout)
    else:
        layout.consumption_manifest.unlink(missing_ok=True)
    return {
        "training_rows": len(merged),
        "reference_rows": len(reference),
        "production_rows": len(current),
        "labelled_production_rows": len(labelled),
        "duplicates_dropped": int(duplicated.sum()),
        "training_data": str(layout.training_data),
    }
