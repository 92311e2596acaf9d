"""Atomic writes: a reader sees the old file or the new one, never half of either.

Every file is written to a hidden temporary file in the same directory (so the rename never
crosses a file system), flushed to disk, then renamed over its final name.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mindpulse.paths import TEMP_SUFFIX, temp_prefix

# The exclusive locks held here: {(thread, lock file): (its open file, how many `exclusive` blocks hold it)}. Per
# thread: a flock belongs to an open file, so another thread opens its own and waits as another process would.
_HELD: dict[tuple[int, Path], tuple[Any, int]] = {}


@contextmanager
def atomic_path(final: Path, staging: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `final` (or in `staging`, a folder on the same file system); on
    success it is renamed to `final`.

    For writers that insist on a path (Evidently's save_html, joblib.dump, DataFrame.to_csv).
    On error the temporary file is removed and `final` is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(final), suffix=TEMP_SUFFIX, dir=staging or final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; keep the mode of the file being replaced so other users
    # (the serving API appending to prod_data.csv, a person reading reports) keep access.
    os.chmod(tmp, final.stat().st_mode & 0o777 if final.exists() else 0o644)
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, final)
    except OSError as error:
        if error.filename is not None or error.errno is None:
            raise
        # A write that fails (a full disk) names no file; which file could not be written is the useful part.
        raise OSError(error.errno, error.strerror, str(final)) from error
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(final: Path, content: bytes, staging: Path | None = None) -> None:
    with atomic_path(final, staging) as tmp:
        tmp.write_bytes(content)


def write_text(final: Path, content: str, staging: Path | None = None) -> None:
    write_bytes(final, content.encode("utf-8"), staging)


def write_json(final: Path, document: Any) -> None:
    write_text(final, json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def write_with(final: Path, writer: Callable[[Path], object]) -> None:
    """Let `writer(tmp_path)` produce the file, then publish it under `final`."""
    with atomic_path(final) as tmp:
        writer(tmp)


def copy_tree(source: Path, destination: Path) -> None:
    """Copy a directory so that `destination` appears complete or not at all."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=temp_prefix(destination), dir=destination.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        os.replace(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def append_whole(fd: int, payload: bytes, name: Path) -> None:
    """Append `payload` through `fd` (opened with O_APPEND) and fsync it, or leave the file as it was
    and raise OSError: a torn last line would make every later read of an append-only log fail."""
    size = os.fstat(fd).st_size
    try:
        written = os.write(fd, payload)
        if written != len(payload):
            raise OSError(f"{name}: only {written} of {len(payload)} bytes written")
        os.fsync(fd)
    except OSError:
        os.ftruncate(fd, size)
        raise


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `lock_file` (created if missing) for the block: one holder at a time across
    processes, and across hosts on shared storage that honours locks (docs/scaling.md). Reentrant within a
    thread, so a function that takes the lock may call another that takes it too."""
    key = (threading.get_ident(), lock_file)
    held = _HELD.get(key)
    if held is not None:
        _HELD[key] = (held[0], held[1] + 1)
        try:
            yield
        finally:
            handle, depth = _HELD[key]
            _HELD[key] = (handle, depth - 1)
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _HELD[key] = (handle, 1)
        try:
            yield
        finally:
            del _HELD[key]
            fcntl.flock(handle, fcntl.LOCK_UN)
