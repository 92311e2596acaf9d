"""The page a person opens instead of logs: reports/index.html, fed by history.jsonl (`mindpulse.reporting.history`,
one `results.HistoryEntry` per reporting run). Its skeleton and style are package data, in assets/.

index.html shows the last `dashboard_days` days up to the newest run, so a year of runs every 6 hours stays
readable; history.html, one click away, the same page over every run since the install.

Both pages are self-contained (inline CSS and SVG, no script, nothing fetched), so it opens from
the volume, a file share or a copy sent by mail. Every text taken from a file is escaped.

Standard library only: the steps that refresh the page carry no pandas.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from html import escape
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from mindpulse import atomic, results
from mindpulse.messages import retrain_summary_text
from mindpulse.parameters import DASHBOARD_DAYS, DRIFT_THRESHOLD
from mindpulse.paths import REPORT_FILE, REPORT_KINDS, RETRAIN_SUMMARY, STAMP_FORMAT, SUMMARY_FILE, Layout, find_reports
from mindpulse.protocol import say
from mindpulse.reporting import charts, volumes
from mindpulse.reporting.history import read as read_history

ASSETS = files("mindpulse") / "assets"
KIND_TITLES = {"data_quality": "Data quality", "data_drift": "Data drift", "model_performance": "Model performance"}
PALETTE = ("#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#65a30d", "#9333ea", "#dc2626")
UNKNOWN_COLOR = "#9ca3af"
DANGER_COLOR = "#dc2626"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the page ----------------------------------------------------------------------------------


def write_index(
    layout: Layout, drift_threshold: float = DRIFT_THRESHOLD.default, dashboard_days: int = DASHBOARD_DAYS.default
) -> Path:
    """Write reports/index.html (the last `dashboard_days` days) and reports/history.html (every run) from
    history.jsonl and the report files present; return the index's path."""
    history = []
    for entry in read_history(layout):
        if _moment(entry.get("stamp")):
            history.append(entry)
        else:
            say(f"WARNING: {layout.history}: entry without a valid stamp skipped: {str(entry)[:80]}")
    history.sort(key=lambda entry: entry["stamp"])
    reports = find_reports(layout.reports_dir)
    colors = _version_colors(history)
    window_start = (_moment(history[-1]["stamp"]) or EPOCH) - timedelta(days=dashboard_days) if history else EPOCH
    recent = [entry for entry in history if (_moment(entry["stamp"]) or EPOCH) >= window_start]
    window = f"last {dashboard_days} days"
    pages = {
        layout.history_page: (history, f"all {len(history)} runs", (layout.index_page, window)),
        layout.index_page: (recent, window, (layout.history_page, f"full history ({len(history)} runs)")),
    }
    for path, (shown, title, (other, other_title)) in pages.items():
        nav = (
            f'<nav class="muted">Showing the {escape(title)} · <a href="{quote(other.name)}">{escape(other_title)}</a>'
            "</nav>"
        )
        page = Template((ASSETS / "dashboard.html").read_text(encoding="utf-8")).substitute(
            css=(ASSETS / "dashboard.css").read_text(encoding="utf-8"),
            body=nav + "\n" + _body(layout, shown, reports, colors, drift_threshold),
            generated=_when(datetime.now(UTC)),
        )
        atomic.write_text(path, page)
    return layout.index_page


def _body(
    layout: Layout,
    history: list[dict[str, Any]],
    reports: dict[str, dict[str, dict[str, Path]]],
    colors: dict[str, str],
    drift_threshold: float,
) -> str:
    # Only the versions this page's runs had, each in the colour it has on every page.
    shown = {str(entry["model_version"]) for entry in history if entry.get("model_version")}
    shown_colors = {version: color for version, color in colors.items() if version in shown}
    return "\n".join(
        [
            _header(history, reports, drift_threshold),
            _panel(
                "Data drift",
                f"Share of drifted feature columns per reporting run; red points are above the dashed drift "
                f"threshold ({drift_threshold:.0%}).",
                _chart(history, "drift_share", "data_drift", reports, None, drift_threshold),
            ),
            _panel(
                "Production accuracy",
                "Accuracy on labelled production rows, coloured by the model version live at the time.",
                _chart(history, "accuracy", "model_performance", reports, shown_colors, None) + _legend(shown_colors),
            ),
            '<div class="columns">',
            _panel("Model versions", "When each version went live, newest first.", _versions_table(history, colors)),
            _panel("Latest retrain", "", _retrain(layout)),
            "</div>",
            _panel("Reports", "Newest first; older ones are removed by the cleanup step.", _report_lists(reports)),
            _panel(
                "Volumes",
                "Each volume's size and how full its disk is, at the newest reporting run; red: above the alert share.",
                volumes.panel(history[-1].get("volumes") if history else None),
            ),
        ]
    )


def _header(history: list[dict[str, Any]], reports: dict[str, dict[str, dict[str, Path]]], threshold: float) -> str:
    drift = _latest(history, "drift_share")
    accuracy = _latest(history, "accuracy")
    version = _latest(history, "model_version")
    alert = drift is not None and _is_number(drift[1]) and drift[1] > threshold
    cards = [
        ("Live model", escape(str(version[1])) if version else "—", _since(version), ""),
        ("Drift share", _pct(drift[1]) if drift else "—", _since(drift), "alert" if alert else ""),
        ("Production accuracy", _pct(accuracy[1]) if accuracy else "—", _since(accuracy), ""),
        ("Reporting runs", str(len(history)), f"{sum(map(len, reports.values()))} reports kept", ""),
    ]
    html = "".join(
        f'<div class="card {extra}"><div class="label">{label}</div><div class="value">{value}</div>'
        f'<div class="muted">{note}</div></div>'
        for label, value, note, extra in cards
    )
    return (
        '<header><h1>MindPulse monitoring</h1><p class="muted">Depression-risk model</p></header>\n'
        f'<section class="cards">{html}</section>'
    )


def _panel(title: str, note: str, content: str) -> str:
    note_html = f'<p class="muted">{escape(note)}</p>' if note else ""
    return f'<section class="panel"><h2>{escape(title)}</h2>{note_html}{content}</section>'


# --- charts ------------------------------------------------------------------------------------


def _chart(
    history: list[dict[str, Any]],
    field: str,
    kind: str,
    reports: dict[str, dict[str, dict[str, Path]]],
    colors: dict[str, str] | None,
    threshold: float | None,
) -> str:
    """A line chart of history[field] (mindpulse.reporting.charts): one point per entry with a number, linked
    to that run's report of `kind` while it is kept, coloured by model version when `colors` is given."""
    moments = [_moment(entry["stamp"]) or EPOCH for entry in history]
    points = [
        charts.Point(
            moment,
            float(entry[field]),
            f"{_when(moment)}: {_pct(entry[field])} (model {entry.get('model_version') or 'unknown'})",
            _point_color(entry, float(entry[field]), colors, threshold),
            _report_href(entry, kind, reports),
        )
        for entry, moment in zip(history, moments, strict=True)
        if _is_number(entry.get(field))
    ]
    if not points:
        return '<p class="empty">No data yet: the chart fills in as reporting runs complete.</p>'
    changes = [
        (moment, str(entry.get("model_version") or "unknown"))
        for previous, entry, moment in zip(history, history[1:], moments[1:], strict=False)
        if entry.get("model_version") != previous.get("model_version")
    ]
    label = f"{field} over time, {len(points)} points"
    return charts.line_chart(points, moments, label, threshold, changes if colors is not None else None)


def _point_color(entry: dict[str, Any], value: float, colors: dict[str, str] | None, threshold: float | None) -> str:
    if colors is not None:
        return colors.get(str(entry.get("model_version")), UNKNOWN_COLOR)
    return DANGER_COLOR if threshold is not None and value > threshold else PALETTE[0]


def _legend(colors: dict[str, str]) -> str:
    items = "".join(
        f'<span><i style="background:{color}"></i>{escape(version)}</span>' for version, color in colors.items()
    )
    return f'<div class="legend">{items}</div>' if items else ""


def _version_colors(history: list[dict[str, Any]]) -> dict[str, str]:
    versions = dict.fromkeys(str(entry["model_version"]) for entry in history if entry.get("model_version"))
    return {version: PALETTE[index % len(PALETTE)] for index, version in enumerate(versions)}


def _report_href(entry: dict[str, Any], kind: str, reports: dict[str, dict[str, dict[str, Path]]]) -> str | None:
    """A link to the run's report when it is still kept; never a link built from an unchecked string."""
    name = (entry.get("reports") or {}).get(kind) if isinstance(entry.get("reports"), dict) else None
    match = REPORT_FILE.fullmatch(name) if isinstance(name, str) else None
    if match and match["kind"] == kind and "html" in reports[kind].get(match["stamp"], {}):
        return quote(match.string)
    return None


# --- tables ------------------------------------------------------------------------------------


def _versions_table(history: list[dict[str, Any]], colors: dict[str, str]) -> str:
    periods: list[list[Any]] = []  # [version, first entry, last entry, runs]
    for entry in history:
        version = entry.get("model_version")
        if periods and periods[-1][0] == version:
            periods[-1][2:] = [entry, periods[-1][3] + 1]
        else:
            periods.append([version, entry, entry, 1])
    if not periods:
        return '<p class="empty">No reporting run yet.</p>'
    rows = "".join(
        f'<tr><td><i class="dot" style="background:{colors.get(str(version), UNKNOWN_COLOR)}"></i>'
        f"{escape(str(version or 'unknown'))}</td><td>{_when(_moment(first['stamp']))}</td>"
        f"<td>{_when(_moment(last['stamp']))}</td><td class=num>{runs}</td></tr>"
        for version, first, last, runs in reversed(periods)
    )
    return f"<table><tr><th>Version</th><th>First seen</th><th>Last seen</th><th class=num>Runs</th></tr>{rows}</table>"


def _retrain(layout: Layout) -> str:
    found = layout.summaries(RETRAIN_SUMMARY)
    if not found:
        return '<p class="empty">No retrain yet.</p>'
    newest = found[-1]
    name = newest.name
    try:
        summary = results.RetrainSummary.read(json.loads(newest.read_text(encoding="utf-8")))
        if summary is None:
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        return f'<p class="empty">{escape(name)} is unreadable: {escape(str(error))}</p>'
    headline, *lines = retrain_summary_text(summary).splitlines()
    matched = SUMMARY_FILE.fullmatch(name)
    assert matched is not None, name  # layout.summaries lists only the names the pattern matches
    stamp = matched["stamp"]
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (
        f'<p class="strong">{escape(headline)}</p><ul class="plain">{items}</ul>'
        f'<p class="muted">{_when(_moment(stamp))} · <a href="{quote(name)}">{escape(name)}</a></p>'
    )


def _report_lists(reports: dict[str, dict[str, dict[str, Path]]]) -> str:
    sections = []
    for kind in REPORT_KINDS:
        rows = []
        for stamp in sorted(reports[kind], reverse=True):
            files = reports[kind][stamp]
            if "html" not in files:
                continue
            figures = _figures(files["json"], kind) if "json" in files else "no JSON twin"
            twin = f'<a class="muted" href="{quote(files["json"].name)}">json</a>' if "json" in files else ""
            rows.append(
                f'<tr><td><a href="{quote(files["html"].name)}">{_when(_moment(stamp))}</a></td>'
                f"<td>{escape(figures)}</td><td class=num>{twin}</td></tr>"
            )
        table = f'<table class="reports">{"".join(rows)}</table>' if rows else '<p class="empty">None kept.</p>'
        sections.append(f"<h3>{KIND_TITLES[kind]} <span class=muted>({len(rows)})</span></h3>{table}")
    return "".join(sections)


def _figures(path: Path, kind: str) -> str:
    """The key figures of a report's JSON twin, as one line."""
    try:
        twin = results.REPORT_TYPES[kind].read(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        twin = None
    if twin is None:
        return "JSON twin unreadable"
    found = []
    if isinstance(twin, results.DataDriftReport) and _is_number(twin.drift_share):
        found.append(f"drift share {twin.drift_share:.1%}")
    if isinstance(twin, results.ModelPerformanceReport) and _is_number(twin.accuracy):
        found.append(f"accuracy {twin.accuracy:.1%}")
    production_rows = getattr(twin, "production_rows", None)
    if _is_number(production_rows):
        found.append(f"{production_rows:,.0f} production rows")
    labelled_rows = getattr(twin, "labelled_rows", None)
    if _is_number(labelled_rows):
        found.append(f"{labelled_rows:,.0f} labelled")
    if isinstance(twin, results.DataDriftReport) and twin.drift_detected:
        found.append("DRIFT")
    return " · ".join(found) or "—"


# --- formatting --------------------------------------------------------------------------------


def _moment(stamp: Any) -> datetime | None:
    try:
        return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "?"


def _is_number(value: Any) -> bool:
    """A plottable number: not a bool, and not the NaN or Infinity that Python's json accepts."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _pct(value: Any) -> str:
    return f"{value:.1%}" if _is_number(value) else "?"


def _latest(history: list[dict[str, Any]], field: str) -> tuple[str, Any] | None:
    """(stamp, value) of the newest entry where `field` is set."""
    for entry in reversed(history):
        if entry.get(field) is not None:
            return entry["stamp"], entry[field]
    return None


def _since(latest: tuple[str, Any] | None) -> str:
    return f"as of {_when(_moment(latest[0]))}" if latest else "no data yet"
