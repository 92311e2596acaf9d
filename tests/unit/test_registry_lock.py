"""The registry lock (`Layout.registry_lock`): a promotion and a rollback racing on the live pointer, and audit
appends from many processes at once, leave `current`, the audit log and the versions agreeing."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mindpulse import atomic, audit, chunk_store, registry, schema, signature, signing
from mindpulse.paths import INPUTS_FILE, Layout
from mindpulse.reporting.retention import apply_retention
from mindpulse.retrain import model_file

FORK = multiprocessing.get_context("fork")


@contextmanager
def _no_lock(lock_file: Path) -> Iterator[None]:
    yield


def _promote_slowly(layout: Layout, signing_started: Any, unlocked: bool) -> None:
    """Register v0003 as judged better than v0002, stalling inside the registration (while signing its metadata)
    long enough for a rollback to try to land in the middle."""
    if unlocked:
        atomic.exclusive = _no_lock  # type: ignore[assignment]  # the fault: the code as it was before the lock
    sign = signing.sign

    def slow_sign(layout: Layout, path: Path) -> None:
        signing_started.set()
        time.sleep(1.5)
        sign(layout, path)

    signing.sign = slow_sign  # type: ignore[assignment]
    gate = {"champion_version": "v0002"}
    registry.register(layout, {"algorithm": "test", "gate": gate}, lambda path: path.write_bytes(b"v3"), True, "better")


def _roll_back(layout: Layout, unlocked: bool) -> None:
    if unlocked:
        atomic.exclusive = _no_lock  # type: ignore[assignment]
    registry.rollback_model(layout, "v0001", "a person saw v0002 misbehave", "tester")


def _replay(layout: Layout) -> str | None:
    """The live version the audit log says, each switch checked to start from the version live before it; None
    when the chain breaks (a line claims to replace a version that was not live)."""
    live = None
    for entry in audit.entries(layout):
        if entry.get("event") in audit.WENT_LIVE:
            if entry["previous"] != live:
                return None
            live = entry["version"]
        elif entry.get("event") == audit.REJECTED and entry["previous"] != live:
            return None
    return live


def _race(layout: Layout, unlocked: bool) -> float:
    """Promote v0002, then promote v0003 (judged against v0002) while a rollback to v0001 runs: the seconds the
    rollback took, which is how long it waited."""
    registry.register(
        layout, {"algorithm": "test", "gate": {"champion_version": "v0001"}}, lambda p: p.write_bytes(b"v2"), True, "ok"
    )
    assert registry.current_version(layout) == "v0002"
    signing_started = FORK.Event()
    promoting = FORK.Process(target=_promote_slowly, args=(layout, signing_started, unlocked))
    promoting.start()
    assert signing_started.wait(30), "the promotion never reached its stall"
    started = time.monotonic()
    rolling_back = FORK.Process(target=_roll_back, args=(layout, unlocked))
    rolling_back.start()
    rolling_back.join(30)
    waited = time.monotonic() - started
    promoting.join(30)
    assert (promoting.exitcode, rolling_back.exitcode) == (0, 0)
    return waited


def test_a_rollback_during_a_promotion_waits_and_pointer_log_and_versions_agree(seeded: Layout) -> None:
    waited = _race(seeded, unlocked=False)

    assert waited > 0.5, "the rollback ran while the promotion held the lock: it must have waited"
    assert registry.versions(seeded) == ["v0001", "v0002", "v0003"]
    assert registry.version_metadata(seeded, "v0003")["status"] == registry.PROMOTED
    # The promotion finished first, then the rollback replaced it: the log's chain ends where `current` points.
    assert registry.current_version(seeded) == "v0001" == _replay(seeded)
    events = [(entry["event"], entry["version"], entry["previous"]) for entry in audit.entries(seeded)][-2:]
    assert events == [("promoted", "v0003", "v0002"), ("rolled_back", "v0001", "v0003")]


def test_without_the_lock_the_same_race_leaves_the_log_contradicting_the_pointer(seeded: Layout) -> None:
    """The fault test of the one above: the race lands, and only the lock keeps the three in agreement."""
    waited = _race(seeded, unlocked=True)

    assert waited < 1.0, "unlocked, the rollback ran inside the promotion's stall"
    assert registry.current_version(seeded) == "v0001"
    assert _replay(seeded) != registry.current_version(seeded)


def test_a_promotion_judged_against_a_model_rolled_back_since_is_registered_but_not_promoted(seeded: Layout) -> None:
    registry.register(
        seeded, {"algorithm": "test", "gate": {"champion_version": "v0001"}}, lambda p: p.write_bytes(b"v2"), True, "ok"
    )
    registry.rollback_model(seeded, "v0001", "back", "tester")

    version = registry.register(
        seeded, {"algorithm": "t", "gate": {"champion_version": "v0002"}}, lambda p: p.write_bytes(b"v3"), True, "ok"
    )

    metadata = registry.version_metadata(seeded, version)
    assert metadata["status"] == registry.REJECTED
    assert "v0001 went live while it was judged against v0002" in metadata["reason"]
    assert registry.current_version(seeded) == "v0001" == _replay(seeded)


def _append_many(layout: Layout, writer: int, lines: int) -> None:
    for number in range(lines):
        audit.append(layout, {"event": "note", "writer": writer, "number": number, "padding": "x" * 3000})


def test_appends_from_many_processes_are_each_one_whole_line(seeded: Layout) -> None:
    before = len(audit.entries(seeded))
    writers = [FORK.Process(target=_append_many, args=(seeded, writer, 200)) for writer in range(6)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)

    lines = seeded.audit_log.read_text().splitlines()
    assert len(lines) == before + 6 * 200
    notes = [entry for entry in audit.entries(seeded) if entry["event"] == "note"]
    assert len(notes) == 6 * 200, "every line parses: none interleaved with another"
    for writer in range(6):
        assert [entry["number"] for entry in notes if entry["writer"] == writer] == list(range(200))


def _hold(lock_file: str, held: Any, seconds: float) -> None:
    with atomic.exclusive(Path(lock_file)):
        held.set()
        time.sleep(seconds)


def test_an_append_waits_for_another_process_holding_the_registry_lock(seeded: Layout) -> None:
    held = FORK.Event()
    holder = FORK.Process(target=_hold, args=(str(seeded.registry_lock), held, 1.5))
    holder.start()
    assert held.wait(30)
    started = time.monotonic()
    audit.append(seeded, {"event": "note"})
    waited = time.monotonic() - started
    holder.join(30)
    assert waited > 1.0


def test_the_lock_is_reentrant_within_a_process(seeded: Layout) -> None:
    with atomic.exclusive(seeded.registry_lock), atomic.exclusive(seeded.registry_lock):
        audit.append(seeded, {"event": "note"})
    # Released fully: another process takes it at once.
    held = FORK.Event()
    holder = FORK.Process(target=_hold, args=(str(seeded.registry_lock), held, 0))
    holder.start()
    assert held.wait(10)
    holder.join(10)


def test_another_thread_of_the_same_process_waits_for_the_lock(seeded: Layout) -> None:
    """Reentrant per thread, not per process: a second thread gets no free pass from the first one's hold."""
    entered: list[float] = []

    def take() -> None:
        with atomic.exclusive(seeded.registry_lock):
            entered.append(time.monotonic())

    with atomic.exclusive(seeded.registry_lock):
        other = threading.Thread(target=take)
        other.start()
        time.sleep(1.0)
        released = time.monotonic()
        assert entered == [], "the other thread entered while this one held the lock"
    other.join(10)
    assert len(entered) == 1 and entered[0] >= released


@pytest.fixture(autouse=True)
def _lock_released() -> Iterator[None]:
    yield
    assert not atomic._HELD, "a test left the registry lock held"


def _register_in_flight(layout: Layout, written: Any, release: Any) -> None:
    """A training run between writing its files (model, chunks of its rows) and registering them: the window in
    which its work exists on the volume but no version lists it yet."""

    def describe(folder: Path) -> None:
        raw = layout.reference_data.read_bytes()
        example = schema.load_reference(layout.reference_data).head(2)
        signature.write(folder, schema.model_signature(example), model_file.environment())
        kept = {"training": chunk_store.keep(layout, raw).document()}
        atomic.write_json(folder / INPUTS_FILE, kept)
        written.set()
        assert release.wait(30)

    metadata = {"algorithm": "t", "gate": {"champion_version": "v0003"}}
    registry.register(layout, metadata, lambda path: path.write_bytes(b"v4"), True, "ok", describe)


def test_retention_during_a_training_run_deletes_old_versions_but_nothing_the_run_wrote(seeded: Layout) -> None:
    for number in (2, 3):
        champion = f"v{number - 1:04d}"
        registry.register(seeded, {"gate": {"champion_version": champion}}, lambda p: p.write_bytes(b"x"), True, "ok")
    written, release = FORK.Event(), FORK.Event()
    training = FORK.Process(target=_register_in_flight, args=(seeded, written, release))
    training.start()
    assert written.wait(30)
    in_flight = sorted(path.name for path in seeded.versions_dir.iterdir() if path.name.startswith("."))
    chunks = sorted(path for _, path in chunk_store.stored(seeded))
    assert in_flight and chunks, "the run's staging folder and its chunks are on the volume"

    done = apply_retention(seeded, keep_versions=1, keep_files=1, keep_days=0, temp_max_age_hours=3, dry_run=False)
    release.set()
    training.join(30)

    assert training.exitcode == 0
    assert done.deleted["version"] == ["v0001"], "retention really ran: the version no rule keeps went"
    assert registry.versions(seeded) == ["v0002", "v0003", "v0004"] and registry.current_version(seeded) == "v0004"
    registry.verified_model_path(seeded, "v0004")
    kept = registry.kept_inputs(seeded, "v0004")
    assert kept is not None
    restored = chunk_store.restore(seeded, chunk_store.Kept.from_document(kept["training"]), "training")
    assert restored == seeded.reference_data.read_bytes(), "every chunk the run wrote before registering is there"
    assert all(path.exists() for path in chunks)
