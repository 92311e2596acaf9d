"""apply_retention: which versions, backups, archives and quarantine files go, and how they go.

The plan is pure selection on folders laid out like the volumes (written by hand here, with dates in
the past); the step is then run for real on them: dry run, deletion, audit lines, temporary leftovers.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mindpulse import audit as audit_log
from mindpulse import catalog, production, registry, signing
from mindpulse.paths import METADATA_FILE, MODEL_FILE, TEMP_SUFFIX, Layout, temp_prefix, trash_name, utc_stamp
from mindpulse.protocol import StepError
from mindpulse.reporting import retention
from mindpulse.reporting.retention import apply_retention, plan

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def make_version(layout: Layout, number: int, created: datetime, production_stamp: str | None = None) -> str:
    version = f"v{number:04d}"
    folder = layout.versions_dir / version
    folder.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(b"model " + version.encode())
    metadata = {"version": version, "created_at": created.isoformat(), registry.PRODUCTION_STAMP: production_stamp}
    (folder / METADATA_FILE).write_text(
        json.dumps(metadata | {"model_sha256": registry.file_sha256(folder / MODEL_FILE)})
    )
    signing.sign(layout, folder / METADATA_FILE)
    return version


def make_live(layout: Layout, version: str) -> None:
    (layout.current_model_dir).symlink_to(Path("versions") / version)


def audit(layout: Layout, when: datetime, event: str, version: str, previous: str | None) -> None:
    entry = {"at": when.isoformat(), "event": event, "version": version, "previous": previous, "live": version}
    with layout.audit_log.open("a") as log:
        log.write(json.dumps(entry) + "\n")


def make_backup(layout: Layout, when: datetime, version: str) -> str:
    folder = layout.backup_dir(utc_stamp(when))
    folder.mkdir(parents=True)
    (folder / METADATA_FILE).write_text(json.dumps({"version": version}))
    return folder.name


def make_data_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("student_id,x\n1,2\n")
    return path.name


def doomed(layout: Layout, **policy: int) -> set[str]:
    return {item.path.name for item in plan(layout, now=NOW, **policy).delete}


def test_an_item_stays_when_it_is_among_the_newest_or_younger_than_keep_days(layout: Layout) -> None:
    for number, days in enumerate((300, 200, 100, 5, 4, 3), start=1):
        make_version(layout, number, ago(days))
    make_live(layout, "v0006")

    assert doomed(layout, keep_versions=2, keep_files=1, keep_days=10) == {"v0001", "v0002", "v0003"}
    assert doomed(layout, keep_versions=4, keep_files=1, keep_days=0) == {"v0001", "v0002"}
    assert doomed(layout, keep_versions=1, keep_files=1, keep_days=400) == set()


def test_the_live_version_and_the_rollback_target_stay_however_old(layout: Layout) -> None:
    for number, days in enumerate((300, 200, 100, 40, 30, 20), start=1):
        make_version(layout, number, ago(days))
    audit(layout, ago(300), "promoted", "v0001", None)
    audit(layout, ago(200), "promoted", "v0002", "v0001")
    audit(layout, ago(100), "promoted", "v0003", "v0002")
    audit(layout, ago(50), "rolled_back", "v0001", "v0003")  # v0001 live again; a rollback goes to v0003
    make_live(layout, "v0001")

    decided = plan(layout, keep_versions=1, keep_files=1, keep_days=0, now=NOW)

    assert {item.path.name for item in decided.delete} == {"v0002", "v0004", "v0005"}
    assert decided.protected["v0001"] == "live"
    assert decided.protected["v0003"] == "where a rollback would go back to"
    assert decided.kept["version"] == 3


def test_a_version_live_within_keep_days_stays(layout: Layout) -> None:
    for number in range(1, 5):
        make_version(layout, number, ago(100))
    audit(layout, ago(100), "promoted", "v0001", None)
    audit(layout, ago(6), "promoted", "v0002", "v0001")
    audit(layout, ago(5), "promoted", "v0003", "v0002")
    audit(layout, ago(4), "promoted", "v0004", "v0003")
    make_live(layout, "v0004")

    assert doomed(layout, keep_versions=1, keep_files=1, keep_days=10) == {"v0001"}
    # v0002 was live 6 days ago: outside a 5-day window it may go; v0003 is the rollback target.
    assert doomed(layout, keep_versions=1, keep_files=1, keep_days=5) == {"v0001", "v0002"}


def test_only_the_newest_backup_of_a_kept_version_is_protected(layout: Layout) -> None:
    make_version(layout, 1, ago(300))
    make_version(layout, 2, ago(200))
    make_version(layout, 3, ago(100))
    make_live(layout, "v0001")
    oldest_of_live = make_backup(layout, ago(90), "v0001")
    of_deleted = make_backup(layout, ago(80), "v0002")
    newest_of_live = make_backup(layout, ago(70), "v0001")
    newest = make_backup(layout, ago(60), "v0002")

    decided = plan(layout, keep_versions=1, keep_files=1, keep_days=0, now=NOW)

    assert {item.path.name for item in decided.delete} == {"v0002", oldest_of_live, of_deleted}
    assert decided.protected[newest_of_live] == "newest backup of kept v0001"
    assert newest not in decided.protected  # kept as the newest backup, by the count


def test_the_production_files_of_kept_versions_and_of_a_pending_retrain_stay(layout: Layout) -> None:
    stamps = [utc_stamp(ago(days)) for days in (100, 90, 80, 70, 60, 50)]
    s0, s1, s2, s3, s4, pending = stamps
    make_version(layout, 1, ago(90), production_stamp=s1)
    make_version(layout, 2, ago(80), production_stamp=s2)
    make_version(layout, 3, ago(70), production_stamp=s3)
    make_live(layout, "v0002")
    archives = [make_data_file(layout.archive_file(stamp)) for stamp in (s0, s1, s2, s3, s4)]
    quarantined = [make_data_file(layout.quarantine_file(stamp)) for stamp in (s1, s2, pending, s3)]
    production.Consumption(stamp=pending, consumed_bytes=0, sha256="0", rows=0, labelled_rows=0).save(layout)

    decided = plan(layout, keep_versions=1, keep_files=1, keep_days=0, now=NOW)

    # v0001 goes, and so do the files only it was trained on; v0002 (live) and v0003 (newest) keep theirs.
    assert {item.path.name for item in decided.delete} == {"v0001", archives[0], archives[1], quarantined[0]}
    assert decided.protected[archives[2]] == "training data of v0002"
    assert decided.protected[quarantined[2]] == "consumed by a retrain run not archived yet"


def seeded_volumes(layout: Layout) -> None:
    """Five versions of which v0001..v0003 may go, two backups, three archives; v0005 live."""
    for number in range(1, 6):
        make_version(layout, number, ago(100 - number), production_stamp=utc_stamp(ago(100 - number)))
        make_data_file(layout.archive_file(utc_stamp(ago(100 - number))))
    audit(layout, ago(95), "promoted", "v0005", "v0004")
    make_live(layout, "v0005")
    make_backup(layout, ago(10), "v0004")
    make_backup(layout, ago(3), "v0005")


def tree(layout: Layout) -> dict[str, bytes]:
    return {
        str(path.relative_to(layout.data_dir.parent)): path.read_bytes() if path.is_file() else b"<dir>"
        for folder in (layout.data_dir, layout.models_dir, layout.reports_dir)
        for path in sorted(folder.rglob("*"))
    }


def test_a_dry_run_lists_what_the_real_run_then_deletes_and_changes_nothing(layout: Layout) -> None:
    seeded_volumes(layout)
    before = tree(layout)

    rehearsal = apply_retention(layout, keep_versions=1, keep_files=1, keep_days=0, temp_max_age_hours=6, dry_run=True)

    assert tree(layout) == before
    assert rehearsal.dry_run and rehearsal.freed_bytes == 0
    assert rehearsal.deleted["version"] == ["v0001", "v0002", "v0003"]

    done = apply_retention(layout, keep_versions=1, keep_files=1, keep_days=0, temp_max_age_hours=6, dry_run=False)

    assert done.deleted == rehearsal.deleted
    assert sorted(path.name for path in layout.versions_dir.iterdir()) == ["v0004", "v0005"]
    assert len(list(layout.archive_dir.iterdir())) == 2  # the training data of v0004 and v0005
    assert registry.verified_model_path(layout).is_file()  # the live model still loads
    deletions = [entry for entry in audit_log.entries(layout) if entry["event"] == "deleted"]
    assert sorted(entry["deleted"] for entry in deletions) == sorted(
        [f"models/versions/{name}" for name in done.deleted["version"]]
        + [f"models/backups/{name}" for name in done.deleted["backup"]]
        + [f"data/archive/{name}" for name in done.deleted["archive"]]
    )
    assert all(entry["live"] == "v0005" and entry["by"] == "retention" for entry in deletions)
    assert done.freed_bytes > 0


def test_a_deletion_that_cannot_be_logged_does_not_happen(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    seeded_volumes(layout)
    attempts: list[str] = []

    def full_disk(layout: Layout, deleted: str, live: str | None, reason: str) -> None:
        attempts.append(deleted)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(layout.audit_log))

    monkeypatch.setattr(audit_log, "record_deletion", full_disk)

    with pytest.raises(StepError, match="cannot log the deletion"):
        apply_retention(layout, keep_versions=1, keep_files=1, keep_days=0, temp_max_age_hours=6, dry_run=False)

    assert attempts == ["data/archive/" + layout.archive_file(utc_stamp(ago(99))).name]  # the fault landed
    assert sorted(path.name for path in layout.archive_dir.iterdir()) == sorted(
        layout.archive_file(utc_stamp(ago(100 - number))).name for number in range(1, 6)
    )
    assert sorted(path.name for path in layout.versions_dir.iterdir()) == [f"v{n:04d}" for n in range(1, 6)]


def stale(path: Path, hours: float) -> Path:
    moment = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
    os.utime(path, (moment, moment), follow_symlinks=False)
    return path


def test_stale_temporary_leftovers_are_swept_and_fresh_ones_kept(layout: Layout) -> None:
    make_version(layout, 1, ago(1))
    make_live(layout, "v0001")
    # Named exactly as the writers name them: mindpulse.atomic, registry.register, atomic.copy_tree.
    _, stale_file = tempfile.mkstemp(prefix=temp_prefix(layout.index_page), suffix=TEMP_SUFFIX, dir=layout.reports_dir)
    _, fresh_file = tempfile.mkstemp(prefix=temp_prefix(layout.history), suffix=TEMP_SUFFIX, dir=layout.reports_dir)
    staging = Path(tempfile.mkdtemp(prefix=temp_prefix(layout.versions_dir / "v0002"), dir=layout.versions_dir))
    (staging / MODEL_FILE).write_bytes(b"half a model")
    stale(staging / MODEL_FILE, 7)
    stale(staging, 7)
    layout.current_link_temp("v0002").symlink_to("versions/v0002")
    stale(layout.current_link_temp("v0002"), 7)
    layout.backups_dir.mkdir()
    growing = Path(tempfile.mkdtemp(prefix=temp_prefix(layout.backup_dir("20260101_000000")), dir=layout.backups_dir))
    (growing / MODEL_FILE).write_bytes(b"a copy still being written")
    stale(growing, 7)  # the folder is old, but a file in it has just changed
    trash = trash_name(layout.archive_file("20200101_000000"))
    make_data_file(trash)  # a deletion interrupted after its audit line: swept whatever its age
    bystander = layout.data_dir / ".keep"  # hidden, old, but no writer's temporary name
    bystander.touch()
    stale(bystander, 100)
    stale(Path(stale_file), 7)

    result = apply_retention(layout, keep_versions=1, keep_files=1, keep_days=0, temp_max_age_hours=6, dry_run=False)

    assert not Path(stale_file).exists() and not staging.exists() and not trash.exists()
    assert not layout.current_link_temp("v0002").is_symlink()
    assert Path(fresh_file).exists() and growing.exists() and bystander.exists()
    assert len(result.swept) == 4
    assert registry.current_version(layout) == "v0001"


def test_a_running_writer_is_never_swept() -> None:
    """The shortest sweep age is longer than the longest step may run."""
    [age] = [p for p in catalog.step("apply_retention").parameters if p.name == "temp_max_age_hours"]
    assert age.minimum * 60 > max(step.timeout_minutes for step in catalog.STEPS)


def test_a_version_rolled_back_to_after_the_plan_is_not_deleted(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded_volumes(layout)
    real_plan = retention.plan

    def plan_then_rollback(*args: object, **kwargs: object) -> retention.Plan:
        decided = real_plan(*args, **kwargs)
        assert "v0002" in {item.path.name for item in decided.delete}
        registry.rollback_model(layout, "v0002", "a person rolls back while retention runs", "ana")
        return decided

    monkeypatch.setattr(retention, "plan", plan_then_rollback)

    done = apply_retention(layout, keep_versions=1, keep_files=1, keep_days=0, temp_max_age_hours=6, dry_run=False)

    assert done.deleted["version"] == ["v0001", "v0003"]
    assert registry.verified_model_path(layout).parent.name == "v0002"
