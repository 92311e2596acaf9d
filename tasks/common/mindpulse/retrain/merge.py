"""merge_production_data: the training set (reference data + labelled production rows, the newest
`max_training_rows` of them) and the evaluation set (the newest labelled production rows, held out from training).

The evaluation set is what the promotion gate judges on: the rows closest to what the model will
see next, which neither the challenger nor the live model has trained on.

The cap bounds a year of unattended running: a promoted model's window becomes the reference the next merge
starts from, so without it every retrain would train on everything since the install. Older rows are left out,
not sampled: the newest rows are the population the model will serve, a sample of last year's would pull it
toward a concept that may have shifted, and the archive keeps every consumed row for as long as retention keeps
archives (keep_files, keep_days).
"""

from __future__ import annotations

import math

import pandas as pd

from mindpulse import atomic, production, schema
from mindpulse.datasets import MAX_QUARANTINE_SHARE, load_reference, say_quarantined
from mindpulse.paths import Layout, utc_stamp
from mindpulse.protocol import say
from mindpulse.results import Merge


def merge_production_data(
    layout: Layout,
    run_stamp: str | None,
    evaluation_share: float,
    max_training_rows: int,
    max_quarantine_share: float = MAX_QUARANTINE_SHARE,
) -> Merge:
    """Write training_data.csv and evaluation_data.csv, and record in consumption.json which
    production bytes they came from (archive_production_data moves exactly those). Bad production
    rows, while few enough to quarantine, are left out and listed in quarantine/ under `stamp`."""
    stamp = run_stamp or utc_stamp()
    _finish_an_interrupted_archive(layout)
    snapshot = production.read_snapshot(layout)
    earlier = production.Consumption.load(layout)
    same_run = earlier is not None and (earlier.stamp, earlier.sha256) == (stamp, production.digest(snapshot))
    kept = Merge.read(earlier.merged) if same_run and earlier is not None and earlier.merged else None
    if kept is not None and layout.training_data.exists() and layout.evaluation_data.exists():
        # The same run again, after train_new_model may already have replaced the reference: merging
        # anew would train on the new rows twice. The files this merge wrote are still the truth.
        say(f"{layout.consumption_manifest}: run {stamp} merged these production bytes already; kept its files")
        return kept
    reference = load_reference(layout)
    parsed = (
        schema.parse_production_rows(snapshot, str(layout.production_data), max_quarantine_share)
        if production.has_rows(snapshot)
        else schema.ProductionRows(pd.DataFrame(columns=list(schema.PRODUCTION_COLUMNS)))
    )
    say_quarantined(layout, parsed.quarantined)
    current = parsed.rows
    labelled = schema.labelled(current)
    # Production rows carry no student id: number them after the largest id in the reference,
    # so train_new_model can tell them apart from the reference rows.
    first_id = int(reference[schema.ID].max()) + 1 if len(reference) else 1
    new_rows = labelled[list(schema.FEATURES)].assign(**{schema.TARGET: labelled[schema.ACTUAL].astype("int8")})
    new_rows.insert(0, schema.ID, range(first_id, first_id + len(new_rows)))
    # The file is in append order, so its tail is the newest data.
    evaluation_rows = math.floor(len(new_rows) * evaluation_share)
    evaluation = new_rows.iloc[len(new_rows) - evaluation_rows :]
    merged = pd.concat([reference, new_rows.iloc[: len(new_rows) - evaluation_rows]], ignore_index=True)
    # The newest copy of a repeated row stays, where it arrived: the cap below cuts from the oldest.
    duplicated = merged.duplicated(subset=[*schema.FEATURES, schema.TARGET], keep="last")
    merged = merged[~duplicated]
    # Reference then production, each in the order it arrived: the tail is the newest rows.
    left_out = max(0, len(merged) - max_training_rows)
    merged = merged.iloc[left_out:]
    say(
        f"reference {len(reference)} rows + {len(labelled)} labelled production rows "
        f"({len(current) - len(labelled)} unlabelled): {len(merged)} training rows "
        f"({int(duplicated.sum())} duplicates dropped, {left_out} oldest left out by the cap of {max_training_rows}), "
        f"newest {len(evaluation)} held out for evaluation"
    )
    atomic.write_with(layout.training_data, lambda path: merged.to_csv(path, index=False))
    atomic.write_with(layout.evaluation_data, lambda path: evaluation.to_csv(path, index=False))
    # The quarantined lines stay in the consumed bytes: the archive keeps them, this file says why
    # they were not used. Written before the manifest, which commits the merge.
    quarantine_file = production.write_quarantine(layout, stamp, parsed.quarantined)
    result = Merge(
        training_rows=len(merged),
        evaluation_rows=len(evaluation),
        reference_rows=len(reference),
        production_rows=len(current),
        labelled_rows=len(labelled),
        duplicates_dropped=int(duplicated.sum()),
        left_out_by_cap=left_out,
        quarantined_rows=len(parsed.quarantined),
        quarantine_file=None if quarantine_file is None else str(quarantine_file),
        training_data=str(layout.training_data),
        evaluation_data=str(layout.evaluation_data),
    )
    if len(current):
        production.Consumption(
            stamp=stamp,
            consumed_bytes=len(snapshot),
            sha256=production.digest(snapshot),
            rows=len(current) + len(parsed.quarantined),
            labelled_rows=len(labelled),
            merged=result.as_dict(),
        ).save(layout)
    else:
        layout.consumption_manifest.unlink(missing_ok=True)
    return result


def _finish_an_interrupted_archive(layout: Layout) -> None:
    """An archive step killed after writing the archive but before cutting prod_data.csv leaves its
    manifest behind. Merging now would consume those rows again, so finish that archive first."""
    pending = production.Consumption.load(layout)
    if pending and layout.archive_file(pending.stamp).exists():
        say(f"finishing the archive of run {pending.stamp}, which was interrupted")
        production.archive_production_data(layout)
