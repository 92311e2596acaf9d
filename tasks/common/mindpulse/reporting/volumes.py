"""How full the volumes are: each volume's own size, how full its disk is, and an alert past a share.

send_report_summary, which mounts the data, models and reports volumes, measures them into the history entry and the run
summary; the dashboard shows the newest measurement and the summary message carries the alerts. A disk
that fills up stops every step that writes, so the alert comes while there is still room to act.

Standard library only: the summary step's image carries no pandas.
"""

from __future__ import annotations

import os
import shutil
from html import escape
from pathlib import Path
from typing import Any

from mindpulse.paths import KEY_VOLUMES, Layout


def measure(layout: Layout, disk_alert_share: float) -> dict[str, dict[str, Any]]:
    """{volume: bytes in it, its disk's total and used bytes, the used share, alert} for each mounted volume."""
    found = {}
    for volume, folder in layout.volume_dirs.items():
        if volume in KEY_VOLUMES or not folder.is_dir():
            continue
        usage = shutil.disk_usage(folder)
        share = usage.used / usage.total if usage.total else 0.0
        found[volume] = {
            "bytes": tree_size(folder),
            "disk_total_bytes": usage.total,
            "disk_used_bytes": usage.used,
            "disk_share": round(share, 4),
            "alert": share > disk_alert_share,
        }
    return found


def alerts(volumes: dict[str, dict[str, Any]], disk_alert_share: float) -> list[str]:
    """One line per volume whose disk is fuller than the threshold."""
    return [
        f"DISK ALERT: the disk of the {name} volume is {figures['disk_share']:.0%} full (alert above "
        f"{disk_alert_share:.0%}); the volume holds {human_bytes(figures['bytes'])}"
        for name, figures in volumes.items()
        if figures.get("alert")
    ]


def tree_size(path: Path) -> int:
    """Bytes in a file or a folder tree (symlinks counted, not followed; files that vanish mid-walk skipped)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


def human_bytes(count: Any) -> str:
    if not isinstance(count, int | float):
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def panel(volumes: Any) -> str:
    """The dashboard's table of the newest measurement; a disk past the threshold is marked."""
    if not isinstance(volumes, dict) or not volumes:
        return '<p class="empty">Not measured yet.</p>'
    rows = []
    for name, figures in volumes.items():
        if not isinstance(figures, dict):
            continue
        share = figures.get("disk_share")
        share_text = f"{share:.0%}" if isinstance(share, int | float) else "?"
        marked = ' class="num alert"' if figures.get("alert") else " class=num"
        rows.append(
            f"<tr><td>{escape(str(name))}</td><td class=num>{human_bytes(figures.get('bytes'))}</td>"
            f"<td class=num>{human_bytes(figures.get('disk_used_bytes'))} of "
            f"{human_bytes(figures.get('disk_total_bytes'))}</td><td{marked}>{share_text}</td></tr>"
        )
    header = "<tr><th>Volume</th><th class=num>Size</th><th class=num>Disk used</th><th class=num>Disk full</th></tr>"
    return f'<table class="volumes">{header}{"".join(rows)}</table>'
