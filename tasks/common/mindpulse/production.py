"""Production data: the append protocol the serving API follows, and how a retrain run consumes
rows without losing or double-counting any that arrive while it runs.

The append protocol (`append_lines`): take an exclusive `flock` on prod_data.csv.lock, open
prod_data.csv for appending, write whole lines in one write, close, release. The header is
written by whoever creates the file.

Consumption: merge_production_data reads a snapshot (under a shared lock) and records in
consumption.json how many bytes of prod_data.csv it used, with their SHA-256. After training,
archive_production_data takes the exclusive lock, checks that the file still starts with those
bytes, writes them to the archive and rewrites prod_data.csv as the header plus whatever was
appended since. Both writes are atomic renames, so a crash leaves either the old state or the
new one; a repeated archive finds no manifest and does nothing.

Quarantine: bad production rows that merge_production_data set aside (`schema.parse_production_rows`)
stay in the consumed bytes, so the archive still holds every consumed line exactly as it was;
`write_quarantine` lists them, with their line numbers and reasons, in quarantine/ under the same stamp.

Standard library only: the archive step's image carries no pandas.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mindpulse import atomic
from mindpulse.paths import Layout
from mindpulse.protocol import StepError, say
from mindpulse.results import Archive


@contextmanager
def production_lock(layout: Layout, exclusive: bool) -> Iterator[None]:
    """Hold the append lock. A read-only mount without a lock file reads unlocked: appends
    are single writes of whole lines, and the validator rejects a partial last line."""
    if not exclusive and not layout.production_lock.exists():
        yield
        return
    with open(layout.production_lock, "a+b" if exclusive else "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_lines(layout: Layout, header: bytes, lines: bytes) -> None:
    """Append complete CSV lines (each ending in a newline) to prod_data.csv: the append protocol that
    the serving API, and anything else that adds production rows, must follow.

    1. Take an exclusive `flock` on prod_data.csv.lock (created if missing).
    2. Only then open prod_data.csv with O_APPEND (created if missing): the archive step replaces the
       file under the same lock, so a handle opened before the lock may point at the replaced file.
    3. Write the lines in one write, preceded by `header` when the file is empty; fsync.
    4. Close the file, then release the lock. Never keep the file open between appends.

    An append either lands whole or not at all: a short write (a full disk) or a failed fsync is undone
    and raised as OSError, so the caller can retry the same lines without leaving a torn line behind.
    """
    if lines and not lines.endswith(b"\n"):
        raise ValueError("append whole lines: the last line must end with a newline")
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    with production_lock(layout, exclusive=True):
        fd = os.open(layout.production_data, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o664)
        try:
            payload = lines if os.fstat(fd).st_size else header + lines
            atomic.append_whole(fd, payload, layout.production_data)
        finally:
            os.close(fd)


def read_snapshot(layout: Layout) -> bytes:
    """prod_data.csv as it is now, or b"" when it does not exist."""
    with production_lock(layout, exclusive=False):
        try:
            return layout.production_data.read_bytes()
        except FileNotFoundError:
            return b""
        except IsADirectoryError:
            raise StepError(f"{layout.production_data}: is a directory, expected a CSV file") from None


def has_rows(snapshot: bytes) -> bool:
    """True when the snapshot holds at least one line after the header."""
    first_newline = snapshot.find(b"\n")
    return first_newline != -1 and snapshot[first_newline + 1 :].strip() != b""


@dataclass(frozen=True)
class Consumption:
    """Which prefix of prod_data.csv a retrain run trained on."""

    stamp: str
    consumed_bytes: int
    sha256: str
    rows: int
    labelled_rows: int
    # merge_production_data's result, so a repeat of the same run can return it unchanged.
    merged: dict[str, Any] | None = None

    def save(self, layout: Layout) -> None:
        atomic.write_json(layout.consumption_manifest, asdict(self))

    @classmethod
    def load(cls, layout: Layout) -> Consumption | None:
        try:
            document = json.loads(layout.consumption_manifest.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            raise StepError(f"{layout.consumption_manifest}: unreadable manifest ({error})") from None
        return cls(**document)


QUARANTINE_COLUMNS = ("line_number", "reason", "original_line")


def write_quarantine(layout: Layout, stamp: str, lines: Sequence[tuple[int, str, str]]) -> Path | None:
    """Write the (line number, line text, reason) of the production lines set aside to
    quarantine/prod_data_quarantined_<stamp>.csv; None when there are none.

    A quarantine file of an earlier merge whose rows were never archived (its run failed later) goes:
    those lines are still in prod_data.csv, so this merge lists them again.
    """
    try:
        earlier = Consumption.load(layout)
    except StepError:
        earlier = None  # the merge rewrites an unreadable manifest; nothing to learn from it
    if earlier is not None and earlier.stamp != stamp:
        layout.quarantine_file(earlier.stamp).unlink(missing_ok=True)
    path = layout.quarantine_file(stamp)
    if not lines:
        path.unlink(missing_ok=True)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(QUARANTINE_COLUMNS)
    writer.writerows((number, reason, text) for number, text, reason in lines)
    atomic.write_text(path, buffer.getvalue())
    return path


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def archive_production_data(layout: Layout) -> Archive:
    """Move the consumed rows to the archive; rows appended since stay in prod_data.csv."""
    consumption = Consumption.load(layout)
    if consumption is None:
        return Archive(archived_rows=0, reason="no consumption manifest: nothing consumed, or already archived")
    with production_lock(layout, exclusive=True):
        current = layout.production_data.read_bytes() if layout.production_data.exists() else b""
        consumed = current[: consumption.consumed_bytes]
        archive = layout.archive_file(consumption.stamp)
        if digest(consumed) != consumption.sha256 and _already_archived(archive, consumption):
            # An earlier attempt crashed between rewriting prod_data.csv and removing the manifest.
            layout.consumption_manifest.unlink()
            return Archive(archived_rows=0, reason=f"already archived in {archive}")
        if digest(consumed) != consumption.sha256:
            raise StepError(
                f"{layout.production_data}: its first {consumption.consumed_bytes} bytes changed since "
                f"{layout.consumption_manifest} was written; refusing to archive"
            )
        header = consumed.split(b"\n", 1)[0] + b"\n"
        # Phase marker: the fault tests kill the step on this line, inside the move.
        say(f"archiving {consumption.rows} rows to {archive}")
        atomic.write_bytes(archive, consumed)
        remaining = current[consumption.consumed_bytes :]
        atomic.write_bytes(layout.production_data, header + remaining)
        layout.consumption_manifest.unlink()
    remaining_rows = remaining.count(b"\n")
    return Archive(
        archived_rows=consumption.rows,
        archived_labelled_rows=consumption.labelled_rows,
        archive_file=str(archive),
        rows_left_in_production=remaining_rows,
    )


def _already_archived(archive: Path, consumption: Consumption) -> bool:
    return archive.is_file() and digest(archive.read_bytes()) == consumption.sha256
