"""A run's summary, published: a JSON file in /reports, a few lines in the log, and an optional webhook post.
Both pipelines end with one (mindpulse.retrain.notify, mindpulse.reporting.summary).

Standard library only: the notify images carry no pandas.
"""

from __future__ import annotations

from mindpulse import atomic, results
from mindpulse.paths import Layout
from mindpulse.protocol import StepError, say
from mindpulse.webhook import post_webhook


def publish(
    layout: Layout, name: str, stamp: str, summary: results.Result, text: str, webhook_url: str | None
) -> results.Delivery:
    """Write reports/<name>_<stamp>.json, print `text`, post the webhook; return what happened."""
    path = layout.summary_file(name, stamp)
    # Phase marker: the fault tests kill the step on this line, inside the write.
    say(f"writing {path}")
    try:
        atomic.write_json(path, summary.as_dict())
    except OSError as error:
        raise StepError(f"cannot write {path}: {error.strerror or error}") from error
    say(text)
    delivery = results.Delivery(summary_file=str(path), **post_webhook(webhook_url, text, summary.as_dict()))
    if delivery.webhook == "failed":
        say(f"WARNING: webhook not delivered: {delivery.error}")
    return delivery
