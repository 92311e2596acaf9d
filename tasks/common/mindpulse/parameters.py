"""Step parameters, each declared once: its type, default, bounds and help, and every spelling derived.

A `Parameter` named `drift_threshold` is, without another word written anywhere:
- the keyword argument of the step function (`detect_drift(layout, drift_threshold=...)`);
- the flag `--drift-threshold` and its `--help` line;
- the container's environment variable `DRIFT_THRESHOLD` (the flag's default);
- the DAG Param `drift_threshold` in the trigger form (when `in_form`), whose JSON schema is built from
  the same bounds, so a value the form accepts is a value the step accepts;
- the deployment default `MINDPULSE_DRIFT_THRESHOLD` / Airflow Variable `mindpulse_drift_threshold`.

Standard library only: every image family and the Airflow image import it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mindpulse.paths import utc_stamp

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_flag(raw: str) -> bool:
    """A boolean from text: true/false, 1/0, yes/no, on/off (any case; Jinja renders Python's True)."""
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def parse_object(raw: str) -> dict[str, Any]:
    """A JSON object from text (anything else is refused: a step reads it by its keys)."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


_PARSERS: dict[type, Callable[[str], Any]] = {int: int, float: float, str: str, bool: parse_flag, dict: parse_object}
_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "object"}


@dataclass(frozen=True)
class Parameter:
    """One parameter of one or more steps. `None` as default means "unset" (the step decides)."""

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    # Exclusive upper bound, for shares that must stay below 1.
    below: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    required: bool = False
    # A DAG Param in the trigger form; the DAG passes `{{ params.<name> }}`.
    in_form: bool = False
    # Whether a deployment may change the form's default (Airflow Variable / MINDPULSE_<NAME>). Off for
    # overrides meant for a person at the trigger form, never for every scheduled run.
    configurable: bool = True
    # What the DAG passes instead, rendered per run (e.g. the run's stamp); None: nothing.
    template: str | None = None
    # Handed to the container privately (never rendered in the UI): a webhook URL carries its token.
    secret: bool = False
    # Computes the value when nothing sets it (the current time, for a run's stamp); `default` stays None.
    fallback: Callable[[], Any] | None = field(default=None, compare=False)
    title: str = field(default="", compare=False)

    @property
    def env(self) -> str:
        return self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def with_default(self, default: Any) -> Parameter:
        return replace(self, default=default)

    def parse(self, raw: str) -> Any:
        """The value of `raw` text (a flag, an environment variable, a rendered template), checked."""
        try:
            value = _PARSERS[self.kind](raw)
        except ValueError as error:
            raise ValueError(f"{self.name}: {raw!r} is not a valid {self.kind.__name__} ({error})") from None
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        """Raise ValueError naming the parameter when `value` is outside its declared bounds."""
        if value is None:
            if self.required:
                raise ValueError(f"{self.name} is required")
            return
        if self.kind in (int, float) and not (isinstance(value, bool) or math.isfinite(value)):
            raise ValueError(f"{self.name} must be a finite number, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name} must be at least {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.name} must be at most {self.maximum:g}, got {value!r}")
        if self.below is not None and value >= self.below:
            raise ValueError(f"{self.name} must be below {self.below:g}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ValueError(f"{self.name} must match {self.pattern}, got {value!r}")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError(f"{self.name} needs at least {self.min_length} characters, got {value!r}")

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema an Airflow Param validates the trigger form with: the same bounds as `check`."""
        kind = _JSON_TYPES[self.kind]
        schema: dict[str, Any] = {"type": kind if self.required or self.default is not None else [kind, "null"]}
        for key, bound in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("exclusiveMaximum", self.below),
            ("minLength", self.min_length),
        ):
            if bound is not None:
                schema[key] = bound
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.pattern is not None:
            # JSON-schema patterns search; `check` matches the whole value. `$` would also match before a
            # final newline, so the end is "no character follows" (the same in ECMA and Python regexes).
            schema["pattern"] = f"^(?:{self.pattern})(?![\\s\\S])"
        if self.kind is float:
            # NaN passes every bound (it compares false): this clause holds for NaN alone, so `not` refuses it.
            schema["not"] = {"type": "number", "minimum": 0, "exclusiveMaximum": 0}
        return schema


# --- parameters several steps share --------------------------------------------------------------
# Each is declared here once; a step lists the ones it takes in mindpulse.catalog.

# Bad production rows are set aside (quarantined) while they are at most 1% of the rows. The serving
# API writes rows mechanically, so a bad row is a one-off (a client sending an out-of-range value, a
# torn write); 1% tolerates ten such rows per thousand, the retrain threshold, while a systematic
# fault (a client on another schema or unit) bad in more rows fails the run for a person to look at
# instead of silently training on a skewed remainder. Below 100 rows it tolerates none. Every step
# that reads production data takes the same value, or one step would fail a file another accepted.
MAX_QUARANTINE_SHARE = Parameter(
    "max_quarantine_share",
    float,
    0.01,
    "largest share of bad production rows set aside (quarantined) instead of failing the file; 0 fails on any bad row",
    minimum=0.0,
    below=1.0,
    in_form=True,
    title="Largest quarantined share",
)
DRIFT_THRESHOLD = Parameter(
    "drift_threshold",
    float,
    0.3,
    "share of drifted feature columns above which the data counts as drifted (and the model is retrained)",
    minimum=0.0,
    below=1.0,
    in_form=True,
    title="Drift threshold",
)
MIN_DRIFT_ROWS = Parameter("min_drift_rows", int, 100, "fewest production rows to judge drift on", minimum=2)
FORCE = Parameter("force", bool, False, "retrain whatever the checks say", in_form=True, title="Force a retrain")
SELECTION_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")
SELECTION_METRIC = Parameter(
    "selection_metric",
    str,
    "accuracy",
    "metric on held-out rows that picks the model and judges it against the live one",
    choices=SELECTION_METRICS,
    in_form=True,
    title="Selection metric",
)
SEED = Parameter("seed", int, 42, "random seed, for repeatable results")
RUN_STAMP = Parameter(
    "run_stamp",
    str,
    None,
    "YYYYMMDD_HHMMSS shared by every file one run writes (default: now, UTC)",
    pattern=r"\d{8}_\d{6}",
    # run_after is set for every kind of run (scheduled, manual, asset-triggered) and is the same for every
    # task and retry of the run, so a retried task writes the same names again instead of new ones.
    template="{{ dag_run.run_after.strftime('%Y%m%d_%H%M%S') }}",
    fallback=utc_stamp,
)
WEBHOOK_URL = Parameter(
    "webhook_url", str, None, "Slack-compatible webhook to POST the summary to (never fails the run)", secret=True
)
# Past this share a disk is close enough to full that a person should act before writes start failing.
DASHBOARD_DAYS = Parameter(
    "dashboard_days",
    int,
    30,
    "days up to the newest reporting run that reports/index.html shows (history.html shows every run)",
    minimum=1,
    maximum=3650,
    in_form=True,
    title="Dashboard days",
)
DISK_ALERT_SHARE = Parameter(
    "disk_alert_share",
    float,
    0.9,
    "share of a volume's disk in use above which the summary alerts",
    minimum=0.0,
    maximum=1.0,
    in_form=True,
    title="Disk alert share",
)
