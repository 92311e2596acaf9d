"""Posting a run's summary to a webhook.

The webhook body is Slack-compatible: `text` is what Slack (and Mattermost, Rocket.Chat) shows;
the full summary travels under `summary` for receivers that want the figures. Posting never
raises: a run that did its work must not fail because a chat service is down.

Standard library only: the notification steps' images carry no pandas.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit


def post_webhook(url: str | None, summary_text: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """POST {"text": summary_text, "summary": payload} as JSON to `url`; report what happened.

    Error messages never contain the URL: a webhook URL is a secret (the token is in its path).
    """
    if not url:
        return {"webhook": "not configured"}
    if urlsplit(url).scheme not in {"http", "https"}:
        return {"webhook": "failed", "error": "the webhook URL must start with http:// or https://"}
    # Imported only to post: urllib.request brings http.client, email and ssl, a fifth of a summary
    # step's start-up, and most runs have no webhook configured.
    import urllib.request

    try:
        body = json.dumps({"text": summary_text, "summary": payload}, default=str).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return {"webhook": "sent", "http_status": response.status}
    except Exception as error:  # the contract is "never raises", whatever urllib throws
        return {"webhook": "failed", "error": _describe(error, timeout)}


def _describe(error: BaseException, timeout: float) -> str:
    import urllib.error  # loaded by urllib.request already, which raised the error

    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason  # urlopen wraps connection errors; the cause is the useful part
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"{type(error).__name__}: {error}"
