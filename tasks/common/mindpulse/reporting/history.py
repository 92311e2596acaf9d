"""history.jsonl: one line per reporting run, the source of the dashboard's charts; and the reports'
JSON twins, read back as typed results.

Standard library only: the steps that read it carry no pandas.
"""

from __future__ import annotations

import json
from typing import Any

from mindpulse import atomic, results
from mindpulse.paths import STAMP_PATTERN, Layout
from mindpulse.protocol import StepError, say


def read_twin(layout: Layout, kind: str, stamp: str) -> results.Report | None:
    """The JSON twin of the `kind` report of run `stamp`, or None when that report was skipped (or is unreadable)."""
    path = layout.report_file(kind, stamp, "json")
    try:
        return results.REPORT_TYPES[kind].read(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def append(layout: Layout, entry: results.HistoryEntry) -> None:
    """Add `entry` as the last line of history.jsonl; readers see the file before or after, never a torn line.

    An existing entry with the same stamp is replaced, so a retried reporting run is recorded once.
    """
    if not isinstance(entry.stamp, str) or not STAMP_PATTERN.fullmatch(entry.stamp):
        raise StepError(f"a history entry needs a YYYYMMDD_HHMMSS stamp, got {entry.stamp!r}")
    path = layout.history
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    except OSError as error:
        raise StepError(f"cannot read {path}: {error.strerror or error}") from error
    kept = [line for line in lines if line.strip() and _stamp_of(line) != entry.stamp]
    kept.append(json.dumps(entry.as_dict(), sort_keys=True, default=str))
    atomic.write_text(path, "\n".join(kept) + "\n")


def _stamp_of(line: str) -> Any:
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return None  # a corrupt line is kept as it is: read_history reports it
    return parsed.get("stamp") if isinstance(parsed, dict) else None


def read(layout: Layout) -> list[dict[str, Any]]:
    """Every entry of history.jsonl in file order; a line that is not a JSON object is skipped with a warning."""
    path = layout.history
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            say(f"WARNING: {path} line {number} is not a JSON object, skipped")
    return entries
