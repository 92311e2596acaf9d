"""Summaries of a run: a JSON file in /reports, a few lines in the log, and an optional webhook.

The webhook body is Slack-compatible: `text` is what Slack (and Mattermost, Rocket.Chat) shows;
the full summary travels under `summary` for receivers that want the figures. Posting never
raises: a run that did its work must not fail because a chat service is down.

Standard library only: the notification steps' images carry no pandas.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from mindpulse import atomic
from mindpulse.paths import Layout
from mindpulse.step import StepError, say


def post_webhook(url: str | None, summary_text: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """POST {"text": summary_text, "summary": payload} as JSON to `url`; report what happened.

    Error messages never contain the URL: a webhook URL is a secret (the token is in its path).
    """
    if not url:
        return {"webhook": "not configured"}
    if urlsplit(url).scheme not in {"http", "https"}:
        return {"webhook": "failed", "error": "the webhook URL must start with http:// or https://"}
    try:
        body = json.dumps({"text": summary_text, "summary": payload}, default=str).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return {"webhook": "sent", "status": response.status}
    except Exception as error:  # the contract is "never raises", whatever urllib throws
        return {"webhook": "failed", "error": _describe(error, timeout)}


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason  # urlopen wraps connection errors; the cause is the useful part
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(error).__name__}: {error}"


def publish_summary(
    layout: Layout, name: str, stamp: str, summary: dict[str, Any], text: str, webhook_url: str | None
) -> dict[str, Any]:
    """Write reports/<name>_<stamp>.json, print `text`, post the webhook; return what happened."""
    path = layout.summary_file(name, stamp)
    # Phase marker: the fault tests kill the step on this line, inside the write.
    say(f"writing {path}")
    try:
        atomic.write_json(path, summary)
    except OSError as error:
        raise StepError(f"cannot write {path}: {error.strerror or error}") from error
    say(text)
    outcome = post_webhook(webhook_url, text, summary)
    if outcome["webhook"] == "failed":
        say(f"WARNING: webhook not delivered: {outcome['error']}")
    return {"summary_file": str(path), **outcome}


def retrain_summary_text(summary: dict[str, Any]) -> str:
    """A few lines a person reads in a chat message: what was decided, why, on which data, with what result."""
    winner, gate = _mapping(summary.get("winner")), _mapping(summary.get("gate"))
    metric = summary.get("selection_metric") or "accuracy"
    version = winner.get("version") or "unknown version"
    live = summary.get("live_version") or "?"
    outcome = "promoted: now live" if summary.get("promoted") else f"rejected: {live} stays live"
    reasons = "; ".join(str(reason) for reason in summary.get("reasons") or []) or "no reason recorded"
    drift = summary.get("drift_share")
    lines = [
        f"MindPulse retrain finished: model {version} ({winner.get('algorithm') or 'unknown algorithm'}) {outcome}",
        f"Decision: retrain because {reasons}",
        f"Rows: {_count(summary.get('production_rows'))} production, {_count(summary.get('labelled_rows'))} "
        f"labelled, {_count(summary.get('archived_rows'))} archived",
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
    lines.append(f"Gate: {summary.get('decision') or 'no decision recorded'}")
    if summary.get("quarantined_rows"):
        lines.append(
            f"Quarantined: {_count(summary['quarantined_rows'])} bad production rows set aside, not trained on; "
            f"lines and reasons in {summary.get('quarantine_file') or '?'}"
        )
    return "\n".join(lines)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?" if value is None else str(value)


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "?" if value is None else str(value)


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else str(value)
