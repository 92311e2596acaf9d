"""The registry's two crash-safety claims, provoked for real: an audit line cut short by the file system, and
readers of models/current while it switches."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from mindpulse import audit, registry
from mindpulse.paths import Layout

# Appends one audit line in a child whose file-size limit (RLIMIT_FSIZE) ends the file a few bytes past its
# current end: the kernel writes those few bytes and returns a short count, as a nearly full disk does.
SHORT_WRITE = textwrap.dedent(
    """
    import os, resource, signal, sys
    from pathlib import Path
    from mindpulse import audit
    from mindpulse.paths import Layout
    from mindpulse.protocol import StepError

    root = Path(sys.argv[1])
    layout = Layout.under(root)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    room = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (layout.audit_log.stat().st_size + room, resource.RLIM_INFINITY))
    try:
        audit.record(layout, "promoted", "v0009", "v0001", "a reason long enough to be cut short")
    except StepError as error:
        print(f"ERROR: {error}")
    """
)


def append_with_room(layout: Layout, room: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SHORT_WRITE, str(layout.data_dir.parent), str(room)],
        capture_output=True,
        text=True,
        check=True,
    )


def test_an_audit_line_cut_short_is_undone_and_the_next_line_stays_whole(seeded: Layout) -> None:
    before = seeded.audit_log.read_bytes()

    for room in (0, 7, 60):
        outcome = append_with_room(seeded, room)
        assert outcome.stdout.startswith(f"ERROR: {seeded.audit_log}: cannot append the audit line"), outcome
        assert seeded.audit_log.read_bytes() == before, f"{room} bytes of room: a torn line was left"

    audit.record(seeded, "rolled_back", "v0001", "v0001", "after the disk was freed")
    lines = seeded.audit_log.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["promoted", "rolled_back"]


def watch_current(current: str, events: tuple, seen: multiprocessing.Queue) -> None:
    """Follow `current` as a reader would, in a tight loop: count reads and anything but a whole version."""
    ready, stop = events
    reads, broken = 0, []
    while not stop.is_set():
        reads += 1
        ready.set()
        try:
            metadata = json.loads(Path(current, "metadata.json").read_text())
            if metadata.get("version") not in ("v0002", "v0003"):
                broken.append(f"unexpected version {metadata.get('version')}")
        except (OSError, ValueError) as error:
            broken.append(f"{type(error).__name__}: {error}")
    seen.put((reads, broken[:5], len(broken)))


def switch_while_watched(
    layout: Layout, switch: Callable[[Layout, str], None], times: int
) -> tuple[int, list[str], int]:
    """Switch `current` between v0002 and v0003 `times` times while a separate process reads through it."""
    context = multiprocessing.get_context("spawn")
    ready, stop, seen = context.Event(), context.Event(), context.Queue()
    watcher = context.Process(target=watch_current, args=(str(layout.current_model_dir), (ready, stop), seen))
    watcher.start()
    try:
        assert ready.wait(timeout=120), "the watcher never started reading"
        for turn in range(times):
            switch(layout, ("v0002", "v0003")[turn % 2])
    finally:
        stop.set()
        result = seen.get(timeout=60)
        watcher.join(timeout=60)
    return result


def two_versions(layout: Layout) -> None:
    for _ in range(2):
        registry.register(layout, {"algorithm": "test"}, lambda path: path.write_bytes(b"model"), True, "test")
    assert registry.versions(layout)[-2:] == ["v0002", "v0003"]


def test_a_reader_never_finds_current_missing_or_half_written_while_it_switches(seeded: Layout) -> None:
    two_versions(seeded)

    reads, broken, count = switch_while_watched(seeded, registry._point_current_at, 3000)

    assert reads > 300, "the watcher must have read while the link switched"
    assert count == 0, broken
    assert os.readlink(seeded.current_model_dir) in ("versions/v0002", "versions/v0003")


def unlink_then_link(layout: Layout, version: str) -> None:
    """What the registry must not do: remove the link, then create the new one."""
    layout.current_model_dir.unlink()
    layout.current_model_dir.symlink_to(Path("versions") / version)


def test_the_watcher_catches_a_switch_that_is_not_atomic(seeded: Layout) -> None:
    two_versions(seeded)
    _, broken, count = switch_while_watched(seeded, unlink_then_link, 20_000)
    assert count > 0 and "FileNotFoundError" in broken[0]
