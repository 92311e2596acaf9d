"""Retention: what the pipelines delete, so the volumes stay bounded.

`cleanup_old_reports` keeps the reports volume bounded: the newest reports of each kind stay, older ones go.
`apply_retention` does the same for model versions, backups, archives and quarantine files, and sweeps the
temporary leftovers of killed writers; see its section below.

A report is `<kind>_report_<YYYYMMDD_HHMMSS>.html` plus its `.json` twin; both go together.
Only names matching that pattern exactly are ever touched: index.html, history.html, history.jsonl, the
run summaries, temporary files being written and anything else stay where they are.

Standard library only: the cleanup step's image carries no pandas.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mindpulse import atomic, audit, chunk_store, production, registry
from mindpulse.paths import (
    ARCHIVE_FILE,
    BACKUP_DIR,
    METADATA_FILE,
    QUARANTINE_FILE,
    STAMP_FORMAT,
    TEMP_NAME,
    TRASH_PREFIX,
    Layout,
    find_reports,
    trash_name,
)
from mindpulse.protocol import StepError, say
from mindpulse.reporting.volumes import tree_size
from mindpulse.results import Cleanup, Retention


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


# --- models, backups, archives, quarantine files and temporary leftovers ---------------------------
# Policy (restic's --keep-last N --keep-within D): an item stays when it is among the newest `keep` of its
# kind, OR younger than `keep_days`, OR protected; only what no rule keeps goes. The newest of each kind
# always stays (keep >= 1), so a run of another DAG writing the newest item at the same time is safe.

VERSION, BACKUP, ARCHIVE, QUARANTINE = "version", "backup", "archive", "quarantine"
KINDS = (VERSION, BACKUP, ARCHIVE, QUARANTINE)


@dataclass(frozen=True)
class Item:
    kind: str
    path: Path
    created: datetime
    # A version's own name; for a backup, the version it is a copy of (None when unreadable).
    version: str | None = None


@dataclass(frozen=True)
class Plan:
    """What retention keeps and deletes; `delete` maps each doomed item to why it goes."""

    delete: dict[Item, str]
    kept: dict[str, int]
    protected: dict[str, str]  # item name -> why it must stay


def plan(layout: Layout, keep_versions: int, keep_files: int, keep_days: int, now: datetime) -> Plan:
    """Decide, without touching anything, which versions, backups, archives and quarantine files go."""
    window_start = now - timedelta(days=keep_days)
    items = _inventory(layout)
    protected = _protected_versions(layout, window_start)
    delete: dict[Item, str] = {}
    kept_versions = _select(items[VERSION], keep_versions, window_start, protected, delete)
    kept_names = {item.path.name for item in kept_versions}

    # One backup of each kept version is enough to restore it; 300 backups of a live version that no
    # retrain replaced are not, so only the newest backup of each kept version is protected.
    backup_guard: dict[str, str] = {}
    for item in sorted(items[BACKUP], key=lambda item: item.created):
        if item.version in kept_names:
            backup_guard[item.version] = item.path.name
    protected |= {name: f"newest backup of kept {version}" for version, name in backup_guard.items()}
    kept_backups = _select(items[BACKUP], keep_versions, window_start, protected, delete)

    # The production rows a kept version was trained on, and those of a retrain still under way.
    data_guard = {
        stamp: f"training data of {item.path.name}"
        for item in kept_versions
        if (stamp := (_metadata(item.path) or {}).get(registry.PRODUCTION_STAMP))
    }
    pending = _pending_stamp(layout)
    if pending:
        data_guard[pending] = "consumed by a retrain run not archived yet"
    for kind in (ARCHIVE, QUARANTINE):
        protected |= {
            item.path.name: data_guard[stamp]
            for item in items[kind]
            if (stamp := item.created.strftime(STAMP_FORMAT)) in data_guard
        }
    kept = {VERSION: len(kept_versions), BACKUP: len(kept_backups)}
    for kind in (ARCHIVE, QUARANTINE):
        kept[kind] = len(_select(items[kind], keep_files, window_start, protected, delete))
    present = {item.path.name for found in items.values() for item in found}
    return Plan(delete=delete, kept=kept, protected={name: why for name, why in protected.items() if name in present})


def _select(
    items: list[Item], keep: int, window_start: datetime, protected: dict[str, str], delete: dict[Item, str]
) -> list[Item]:
    """The items of one kind that stay; the others are added to `delete` with their reason."""
    newest_first = sorted(items, key=lambda item: (item.created, item.path.name), reverse=True)
    kept = []
    for rank, item in enumerate(newest_first):
        if rank < keep or item.created >= window_start or item.path.name in protected:
            kept.append(item)
        else:
            delete[item] = f"not among the newest {keep} {item.kind}s, older than {window_start:%Y-%m-%d %H:%M} UTC"
    return kept


def _protected_versions(layout: Layout, window_start: datetime) -> dict[str, str]:
    live = registry.current_version(layout)
    protected = {}
    for entry in audit.entries(layout):
        moment = _parse_time(entry.get("at"))
        if moment and moment >= window_start and isinstance(entry.get("live"), str):
            protected[entry["live"]] = f"live on {entry['at']}"
    rollback_target = audit.previously_live(layout, live)
    if rollback_target:
        protected[rollback_target] = "where a rollback would go back to"
    if live:
        protected[live] = "live"
    return protected


def _inventory(layout: Layout) -> dict[str, list[Item]]:
    found: dict[str, list[Item]] = {kind: [] for kind in KINDS}
    for name in registry.versions(layout):
        path = layout.versions_dir / name
        metadata = _metadata(path) or {}
        created = _parse_time(metadata.get("created_at")) or _mtime(path)
        found[VERSION].append(Item(VERSION, path, created, name))
    for kind, folder, pattern in (
        (BACKUP, layout.backups_dir, BACKUP_DIR),
        (ARCHIVE, layout.archive_dir, ARCHIVE_FILE),
        (QUARANTINE, layout.quarantine_dir, QUARANTINE_FILE),
    ):
        for path in folder.iterdir() if folder.is_dir() else ():
            if match := pattern.fullmatch(path.name):
                created = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)
                version = (_metadata(path) or {}).get("version") if kind == BACKUP else None
                found[kind].append(Item(kind, path, created, version))
    return found


def _metadata(folder: Path) -> dict[str, Any] | None:
    """A version's or backup's metadata, or None when unreadable (it is then protected by nothing)."""
    try:
        document = json.loads((folder / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _pending_stamp(layout: Layout) -> str | None:
    try:
        pending = production.Consumption.load(layout)
    except StepError:
        return None  # unreadable: the merge rewrites it; its files are protected by the count meanwhile
    return pending.stamp if pending else None


def _parse_time(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def stale_leftovers(layout: Layout, max_age: timedelta, now: datetime) -> list[Path]:
    """Temporary files and folders a killed writer left behind (paths.TEMP_NAME), untouched for longer
    than `max_age`; retention's own trash whatever its age. A writer still at work touches its file, and no
    step runs longer than its time limit, so a fresh leftover is never swept."""
    folders = (
        layout.data_dir,
        layout.archive_dir,
        layout.quarantine_dir,
        layout.models_dir,
        layout.versions_dir,
        layout.backups_dir,
        layout.reports_dir,
    )
    found = []
    for folder in folders:
        for path in folder.iterdir() if folder.is_dir() else ():
            if not TEMP_NAME.fullmatch(path.name):
                continue
            try:
                if path.name.startswith(TRASH_PREFIX) or now - _newest_change(path) > max_age:
                    found.append(path)
            except FileNotFoundError:
                continue  # its writer finished (renamed or removed it) while we looked
    return sorted(found)


def _newest_change(path: Path) -> datetime:
    """The latest mtime in a file or a folder's tree (a copy still running keeps adding files)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return datetime.fromtimestamp(newest, UTC)


def apply_retention(
    layout: Layout, keep_versions: int, keep_files: int, keep_days: int, temp_max_age_hours: int, dry_run: bool
) -> Retention:
    """Sweep stale temporary leftovers, then delete the model versions, backups, archives and quarantine
    files the policy lets go, each with a line in models/audit.jsonl. A dry run only lists them."""
    now = datetime.now(UTC)
    leftovers = stale_leftovers(layout, timedelta(hours=temp_max_age_hours), now)
    decided = plan(layout, keep_versions, keep_files, keep_days, now)
    verb = "would delete" if dry_run else "deleting"
    freed = 0
    for path in leftovers:
        say(f"{verb} stale temporary {_on_volume(layout, path)}")
        if not dry_run:
            freed += _remove(path)
    gone: list[Item] = []
    for item, reason in sorted(decided.delete.items(), key=lambda pair: str(pair[0].path)):
        if dry_run:
            say(f"{verb} {item.kind} {_on_volume(layout, item.path)}: {reason}")
        else:
            size = _delete_audited(layout, item, reason)
            if size is None:
                continue
            freed += size
        gone.append(item)
    for name, why in sorted(decided.protected.items()):
        say(f"kept {name}: {why}")
    unlisted = unlisted_chunks(layout, {item.path for item in gone}, timedelta(hours=temp_max_age_hours), now)
    if unlisted:
        say(f"{verb} {len(unlisted)} chunks of kept rows that no kept version or backup lists")
        if not dry_run:
            freed += sum(_remove(path) for path in unlisted)
    deleted = {kind: sorted(item.path.name for item in gone if item.kind == kind) for kind in KINDS}
    return Retention(
        dry_run=dry_run,
        deleted=deleted,
        kept=decided.kept,
        protected=decided.protected,
        swept=[_on_volume(layout, path) for path in leftovers],
        chunks_deleted=len(unlisted),
        freed_bytes=freed,
    )


def unlisted_chunks(layout: Layout, going: set[Path], grace: timedelta, now: datetime) -> list[Path]:
    """The stored chunks (mindpulse.chunk_store) that no version or backup staying lists. A chunk younger than
    `grace` stays too: a training run writes a version's chunks before the version itself appears."""
    folders = [layout.versions_dir / name for name in registry.versions(layout)]
    folders += (
        [path for path in layout.backups_dir.iterdir() if BACKUP_DIR.fullmatch(path.name)]
        if (layout.backups_dir.is_dir())
        else []
    )
    manifests = []
    for folder in folders:
        if folder in going:
            continue
        try:
            manifest = chunk_store.inputs_of(folder)
        except StepError as error:
            raise StepError(f"{error}, so no chunk is deleted") from None
        if manifest is not None:  # None: registered before versions kept their inputs
            manifests.append(manifest)
    listed = chunk_store.listed(manifests)
    return [path for digest, path in chunk_store.stored(layout) if digest not in listed and now - _mtime(path) > grace]


def _delete_audited(layout: Layout, item: Item, reason: str) -> int | None:
    """Rename to a trash name, write the audit line, then delete: a crash in between leaves a trash name (swept by
    the next run), never a half-deleted version under its own name. Under the registry lock, so a rollback cannot
    make a version live between the check and the rename; None when one did before it (the version is kept)."""
    path = item.path
    with atomic.exclusive(layout.registry_lock):
        live = registry.current_version(layout)
        if item.kind == VERSION and live == path.name:
            say(f"kept version {path.name}: live since retention started")
            return None
        say(f"deleting {item.kind} {_on_volume(layout, path)}: {reason}")
        trash = trash_name(path)
        try:
            os.rename(path, trash)
        except OSError as error:
            raise StepError(f"cannot delete {path}: {error.strerror or error}") from error
        try:
            audit.record_deletion(layout, _on_volume(layout, path), live, reason)
        except (StepError, OSError) as error:
            os.rename(trash, path)  # not logged, so not deleted
            raise StepError(f"{layout.audit_log}: cannot log the deletion of {path}, kept it: {error}") from error
    return _remove(trash)


def _remove(path: Path) -> int:
    """Delete a file or a folder tree; its size in bytes (0 when it is gone already)."""
    try:
        size = tree_size(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return 0  # its writer finished with it after all
    except OSError as error:
        raise StepError(f"cannot delete {path}: {error.strerror or error}") from error
    return size


def _on_volume(layout: Layout, path: Path) -> str:
    """`path` as the audit log names it: <volume>/<path on the volume>, the same in every container."""
    for volume, folder in layout.volume_dirs.items():
        if path.is_relative_to(folder):
            return f"{volume}/{path.relative_to(folder)}"
    return str(path)
