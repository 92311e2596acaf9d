"""The data volume's datasets as the steps read them: validated, with bad production rows set aside.

Also the reporting pipeline's first step, which only asks whether there is data to report on.
"""

from __future__ import annotations

import pandas as pd

from mindpulse import parameters, production, registry, schema
from mindpulse.paths import Layout
from mindpulse.protocol import StepError, say
from mindpulse.results import Availability, ProductionCounts

# Quarantined lines a step lists in its log; the merge writes them all to the quarantine file.
SHOWN_QUARANTINED = 5
MAX_QUARANTINE_SHARE = parameters.MAX_QUARANTINE_SHARE.default


def load_production(layout: Layout, max_quarantine_share: float = MAX_QUARANTINE_SHARE) -> schema.ProductionRows | None:
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


def count_production(current: schema.ProductionRows | None) -> ProductionCounts:
    """What a step reports about production data: valid rows, those with a known outcome, rows set aside."""
    if current is None:
        return ProductionCounts(production_rows=0, labelled_rows=0, quarantined_rows=0)
    return ProductionCounts(
        production_rows=len(current.rows),
        labelled_rows=int(current.rows[schema.ACTUAL].notna().sum()),
        quarantined_rows=len(current.quarantined),
    )


def load_reference(layout: Layout) -> pd.DataFrame:
    if not layout.reference_data.exists():
        raise StepError(f"{layout.reference_data}: reference data is missing (run the bootstrap first)")
    return schema.load_reference(layout.reference_data)


def check_data_availability(layout: Layout, max_quarantine_share: float = MAX_QUARANTINE_SHARE) -> Availability:
    reference = load_reference(layout)
    current = load_production(layout, max_quarantine_share)
    counts = count_production(current)
    say(f"{layout.reference_data}: {len(reference)} rows")
    if current is None:
        say(f"{layout.production_data}: missing or empty; the drift and performance reports will be skipped")
    else:
        say(f"{layout.production_data}: {counts.production_rows} rows, {counts.labelled_rows} labelled")
    return Availability(
        **counts.as_dict(),
        reference_rows=len(reference),
        production_available=current is not None,
        model_version=registry.current_version(layout),
    )
