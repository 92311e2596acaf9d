"""The step notify_retrain_success: what a retrain run decided and achieved, from the earlier steps' results, to
the log, a JSON file in /reports and the webhook.

Standard library only: the notify image carries no pandas.
"""

from __future__ import annotations

from typing import Any, TypeVar

from mindpulse import catalog, registry, results
from mindpulse.messages import retrain_summary_text
from mindpulse.paths import RETRAIN_SUMMARY, Layout
from mindpulse.summaries import publish

ResultType = TypeVar("ResultType", bound=results.Result)


def notify_retrain_success(
    layout: Layout, run_stamp: str, step_results: dict[str, Any] | None, webhook_url: str | None
) -> results.Delivery:
    """Summarise a retrain run from the earlier steps' results: why it ran, on which rows, and what
    the promotion gate decided about the new model."""
    typed = _typed(step_results or {})
    label_check, drift = _one(typed, results.LabelCheck), _one(typed, results.DriftCheck)
    merge, archive = _one(typed, results.Merge), _one(typed, results.Archive)
    trained = _one(typed, results.Training)
    counted = merge or label_check
    summary = results.RetrainSummary(
        stamp=run_stamp,
        reasons=[check.reason for check in (label_check, drift) if check and check.retrain],
        production_rows=counted.production_rows if counted else None,
        labelled_rows=counted.labelled_rows if counted else None,
        evaluation_rows=merge.evaluation_rows if merge else None,
        drift_share=drift.drift_share if drift else None,
        drifted_columns=drift.drifted_columns if drift else None,
        winner={
            "algorithm": trained.algorithm,
            "window": trained.window,
            "version": trained.version,
            "metrics": trained.metrics,
            "candidates": trained.candidates,
        }
        if trained
        else {},
        promoted=trained.promoted if trained else None,
        decision=trained.reason if trained else None,
        gate=trained.gate if trained else None,
        live_version=registry.current_version(layout),
        selection_metric=trained.selection_metric if trained else None,
        training_rows=trained.training_rows if trained else None,
        archived_rows=archive.archived_rows if archive else None,
        quarantined_rows=merge.quarantined_rows if merge else None,
        quarantine_file=merge.quarantine_file if merge else None,
    )
    return publish(layout, RETRAIN_SUMMARY, run_stamp, summary, retrain_summary_text(summary), webhook_url)


def _typed(step_results: dict[str, Any]) -> list[results.Result]:
    """Each retrain step's result read as the type its declaration names (a skipped step has none)."""
    found = []
    for declared in catalog.steps_of(catalog.RETRAIN):
        result = declared.result.read(step_results.get(declared.name))
        if result is not None:
            found.append(result)
    return found


def _one(typed: list[results.Result], kind: type[ResultType]) -> ResultType | None:
    return next((result for result in typed if type(result) is kind), None)
