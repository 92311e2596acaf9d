"""The rows every kept model version was trained and judged on, stored once each (standard library only).

A version's training and evaluation files are kept as their header line plus a list of chunks of whole rows
(`Kept`, in the version's inputs.json), each chunk stored once under /models/inputs/chunks/<ab>/<sha256>.csv.gz and
named by the SHA-256 of its rows. Where a chunk ends is decided by its content, not its position: a row ends a
chunk when a hash of the row is 0 modulo ROWS_PER_CHUNK (content-defined chunking, as backup tools deduplicate).
Two windows that share a run of rows therefore share its chunks even when one starts later or has rows added,
so a year of daily retrains stores each row about once, not once per version.

A chunk is written atomically and never changed; restoring a file checks every chunk against its name and the
whole file against the SHA-256 the version recorded, and names what differs. Retention deletes the chunks no
kept version lists (mindpulse.reporting.retention).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mindpulse import atomic
from mindpulse.paths import INPUTS_FILE, Layout
from mindpulse.protocol import StepError

# The average rows per chunk: about 200 kB of this schema's rows, 50 kB compressed. Smaller chunks share more
# between windows and cost more files.
ROWS_PER_CHUNK = 2048
SUFFIX = ".csv.gz"
# Level 3, not gzip's default 9: measured on these rows, a third of the time for a fifth more bytes, and keeping a
# window is in the training step's path.
COMPRESS_LEVEL = 3


@dataclass(frozen=True)
class Kept:
    """A data file as kept: its SHA-256 (of all its bytes), rows, header line and the chunks of its rows, in order."""

    sha256: str
    rows: int
    header: str
    chunks: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "chunks": list(self.chunks)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Kept:
        return cls(document["sha256"], int(document["rows"]), document["header"], tuple(document["chunks"]))


def chunk_path(layout: Layout, digest: str) -> Path:
    return layout.chunks_dir / digest[:2] / f"{digest}{SUFFIX}"


def split(raw: bytes) -> tuple[bytes, list[bytes]]:
    """The header line and the chunks of a CSV file's rows (each chunk whole lines, newline included)."""
    header, _, body = raw.partition(b"\n")
    chunks: list[bytes] = []
    start = 0
    position = 0
    while position < len(body):
        end = body.find(b"\n", position)
        end = len(body) if end < 0 else end + 1
        if zlib.crc32(body[position:end]) % ROWS_PER_CHUNK == 0:
            chunks.append(body[start:end])
            start = end
        position = end
    if start < len(body):
        chunks.append(body[start:])
    return header + b"\n", chunks


def keep(layout: Layout, raw: bytes) -> Kept:
    """Store the chunks of `raw` that are not stored yet; what describes the file."""
    header, chunks = split(raw)
    digests = []
    for chunk in chunks:
        digest = hashlib.sha256(chunk).hexdigest()
        path = chunk_path(layout, digest)
        try:
            # A chunk stored long ago and used again: its time says so. Retention deletes only a chunk that no
            # version lists and that nobody used for the grace period, and this run's version is not listed yet.
            os.utime(path)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            # mtime=0: the same rows always compress to the same bytes.
            atomic.write_bytes(path, gzip.compress(chunk, compresslevel=COMPRESS_LEVEL, mtime=0))
        digests.append(digest)
    rows = raw.count(b"\n") - 1
    return Kept(hashlib.sha256(raw).hexdigest(), rows, header.decode("utf-8"), tuple(digests))


def restore(layout: Layout, kept: Kept, name: str) -> bytes:
    """The file's bytes again, checked: StepError naming the chunk (and the rows it held) or the file that differs."""
    parts = [kept.header.encode("utf-8")]
    row = 1
    for digest in kept.chunks:
        path = chunk_path(layout, digest)
        try:
            chunk = gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            raise StepError(f"{path}: chunk of {name} (from row {row}) is missing") from None
        except (OSError, EOFError, zlib.error) as error:
            raise StepError(f"{path}: chunk of {name} (from row {row}) is unreadable: {error}") from None
        if hashlib.sha256(chunk).hexdigest() != digest:
            lines = chunk.count(b"\n")
            raise StepError(f"{path}: chunk of {name} (rows {row}-{row + lines - 1}) does not match its name")
        row += chunk.count(b"\n")
        parts.append(chunk)
    raw = b"".join(parts)
    if hashlib.sha256(raw).hexdigest() != kept.sha256:
        raise StepError(f"{name}: the kept chunks do not add up to the file that was recorded")
    return raw


def stored(layout: Layout) -> Iterator[tuple[str, Path]]:
    """Every stored chunk, as (digest, path)."""
    if not layout.chunks_dir.is_dir():
        return
    for folder in sorted(layout.chunks_dir.iterdir()):
        for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else ():
            yield path.name.removesuffix(SUFFIX), path


def inputs_of(folder: Path) -> dict[str, Any] | None:
    """The INPUTS_FILE of a version or backup folder ({role: Kept document}); None for one made before versions
    kept their inputs. StepError naming the file when it cannot be read."""
    path = folder / INPUTS_FILE
    try:
        document: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise StepError(f"{path}: unreadable ({error})") from None
    return document


def listed(manifests: Iterable[dict[str, Any]]) -> set[str]:
    """The chunks the given inputs.json documents name."""
    return {digest for manifest in manifests for kept in manifest.values() for digest in kept["chunks"]}
