"""Retention: what the pipelines delete, so the volumes stay bounded. Today: reports.

Keep the reports volume bounded: the newest reports of each kind stay, older ones go.

A report is `<kind>_report_<YYYYMMDD_HHMMSS>.html` plus its `.json` twin; both go together.
Only names matching that pattern exactly are ever touched: index.html, history.jsonl, the
run summaries, temporary files being written and anything else stay where they are.

Standard library only: the cleanup step's image carries no pandas.
"""

from __future__ import annotations

from mindpulse.paths import Layout, find_reports
from mindpulse.protocol import StepError, say
from mindpulse.results import Cleanup


def cleanup_old_reports(layout: Layout, max_reports: int) -> Cleanup:
    """Delete all but the `max_reports` newest reports of each kind, newest by the stamp in the name.

    The stamp, not the modification time, decides: copying or restoring a volume changes
    mtimes but not what a report describes.
    """
    if max_reports < 1:
        raise StepError(f"max_reports must be at least 1, got {max_reports}")
    kept: dict[str, int] = {}
    deleted: dict[str, int] = {}
    for kind, reports in find_reports(layout.reports_dir).items():
        stamps = sorted(reports, reverse=True)  # YYYYMMDD_HHMMSS sorts as text in time order
        for stamp in stamps[max_reports:]:
            for path in reports[stamp].values():
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    raise StepError(f"cannot delete {path}: {error.strerror or error}") from error
                say(f"deleted {path.name}")
        kept[kind] = min(len(stamps), max_reports)
        deleted[kind] = len(stamps) - kept[kind]
    return Cleanup(max_reports=max_reports, kept=kept, deleted=deleted)
