"""Command-line options that several entrypoints share, each falling back to its environment
variable (standard library only: every image family can use it)."""

from __future__ import annotations

import argparse
import math

from mindpulse import step
from mindpulse.paths import utc_stamp

DEFAULT_DRIFT_THRESHOLD = 0.3
DEFAULT_MIN_DRIFT_ROWS = 100
# Bad production rows are set aside (quarantined) while they are at most 1% of the rows. The serving
# API writes rows mechanically, so a bad row is a one-off (a client sending an out-of-range value, a
# torn write); 1% tolerates ten such rows per thousand, the retrain threshold, while a systematic
# fault (a client on another schema or unit) bad in more rows fails the run for a person to look at
# instead of silently training on a skewed remainder. Below 100 rows it tolerates none.
DEFAULT_MAX_QUARANTINE_SHARE = 0.01
SELECTION_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")


def check_drift_threshold(value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"drift threshold must be a share in [0, 1), got {value!r}")


def parse_drift_threshold(raw: str) -> float:
    value = float(raw)
    check_drift_threshold(value)
    return value


def parse_quarantine_share(raw: str) -> float:
    value = float(raw)
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"the largest share of quarantined rows must be in [0, 1), got {value!r}")
    return value


def max_quarantine_share(cli: argparse.ArgumentParser) -> None:
    """The one quarantine setting: every step that reads production data must use the same value,
    or one step would fail a file another accepted."""
    cli.add_argument(
        "--max-quarantine-share",
        type=parse_quarantine_share,
        default=step.env("MAX_QUARANTINE_SHARE", DEFAULT_MAX_QUARANTINE_SHARE, parse_quarantine_share),
        help="largest share of bad production rows set aside (quarantined) instead of failing the file; "
        "0 fails on any bad row [MAX_QUARANTINE_SHARE]",
    )


def force(cli: argparse.ArgumentParser, what: str) -> None:
    cli.add_argument(
        "--force",
        action=argparse.BooleanOptionalAction,
        default=step.env("FORCE", False, step.flag),
        help=f"retrain whatever the {what} [FORCE]",
    )


def drift(cli: argparse.ArgumentParser, meaning: str) -> None:
    """The drift rule's two parameters, shared by detect_drift and the drift report."""
    cli.add_argument(
        "--threshold",
        type=parse_drift_threshold,
        default=step.env("DRIFT_THRESHOLD", DEFAULT_DRIFT_THRESHOLD, parse_drift_threshold),
        help=f"share of drifted feature columns {meaning} [DRIFT_THRESHOLD]",
    )
    cli.add_argument(
        "--min-rows",
        type=int,
        default=step.env("MIN_DRIFT_ROWS", DEFAULT_MIN_DRIFT_ROWS, int),
        help="fewest production rows to judge drift on [MIN_DRIFT_ROWS]",
    )


def run_stamp(cli: argparse.ArgumentParser) -> None:
    cli.add_argument(
        "--stamp",
        default=step.env("RUN_STAMP", utc_stamp()),
        help="YYYYMMDD_HHMMSS shared by every file one run writes [RUN_STAMP]",
    )


def webhook_url(cli: argparse.ArgumentParser) -> None:
    cli.add_argument(
        "--webhook-url",
        default=step.env("WEBHOOK_URL", None),
        help="Slack-compatible webhook to POST the summary to [WEBHOOK_URL]",
    )


def selection_metric(cli: argparse.ArgumentParser, picks: str) -> None:
    cli.add_argument(
        "--metric",
        choices=SELECTION_METRICS,
        default=step.env("SELECTION_METRIC", "accuracy"),
        help=f"metric that picks {picks} [SELECTION_METRIC]",
    )


def seed(cli: argparse.ArgumentParser, default: int | None) -> None:
    described = "random when unset" if default is None else "for repeatable results"
    cli.add_argument(
        "--seed", type=int, default=step.env("SEED", default, int), help=f"random seed, {described} [SEED]"
    )
