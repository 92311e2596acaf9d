"""What a person reads of a run: the few lines of a summary in the log, a chat message and the dashboard.

Standard library only.
"""

from __future__ import annotations

from typing import Any

from mindpulse import results


def retrain_summary_text(summary: results.RetrainSummary) -> str:
    """A few lines a person reads in a chat message: what was decided, why, on which data, with what result."""
    winner, gate = summary.winner or {}, summary.gate or {}
    metric = summary.selection_metric or "accuracy"
    version = winner.get("version") or "unknown version"
    live = summary.live_version or "?"
    outcome = "promoted: now live" if summary.promoted else f"rejected: {live} stays live"
    reasons = "; ".join(str(reason) for reason in summary.reasons or []) or "no reason recorded"
    drift = summary.drift_share
    lines = [
        f"MindPulse retrain finished: model {version} ({winner.get('algorithm') or 'unknown algorithm'}) {outcome}",
        f"Decision: retrain because {reasons}",
        f"Rows: {_count(summary.production_rows)} production, {_count(summary.labelled_rows)} "
        f"labelled, {_count(summary.archived_rows)} archived",
        f"Drift share: {_percent(drift) if drift is not None else 'not measured'}",
    ]
    new_value = _mapping(gate.get("challenger")).get(metric)
    old_value = _mapping(gate.get("champion")).get(metric)
    if gate.get("champion"):
        change = (
            f"{metric} on {_count(gate.get('evaluation_rows'))} held-out rows: {_score(old_value)} "
            f"({gate.get('champion_version') or '?'}) -> {_score(new_value)} ({version})"
        )
        if isinstance(old_value, int | float) and isinstance(new_value, int | float):
            change += f", {new_value - old_value:+.4f}"
        lines.append(change)
    lines.append(f"Gate: {summary.decision or 'no decision recorded'}")
    if summary.quarantined_rows:
        lines.append(
            f"Quarantined: {_count(summary.quarantined_rows)} bad production rows set aside, not trained on; "
            f"lines and reasons in {summary.quarantine_file or '?'}"
        )
    return "\n".join(lines)


def report_text(entry: results.HistoryEntry, drift_threshold: float) -> str:
    lines = [f"MindPulse monitoring {entry.stamp} (model {entry.model_version or 'none'})"]
    if entry.drift_share is None:
        lines.append("Drift: not measured (no production data)")
    else:
        verdict = "DRIFT" if entry.drift_detected else "no drift"
        lines.append(
            f"Drift: {entry.drift_share:.0%} of feature columns drifted (threshold {drift_threshold:.0%}): {verdict}"
        )
    measured = "not measured (no labelled rows)" if entry.accuracy is None else f"{entry.accuracy:.3f}"
    lines.append(f"Production accuracy: {measured}")
    lines.append("Reports: " + (", ".join(entry.reports.values()) or "none"))
    return "\n".join(lines)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?" if value is None else str(value)


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "?" if value is None else str(value)


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else str(value)
