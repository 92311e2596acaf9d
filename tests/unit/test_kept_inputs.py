"""Every version keeps what went into it (mindpulse.chunk_store: its rows, stored once each across versions), and
verify_model rebuilds it from that after later retrains have replaced the data files, or names what differs."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
from datetime import UTC, datetime, timedelta

import pytest

from mindpulse import chunk_store, production, registry, schema
from mindpulse.chunk_store import Kept
from mindpulse.demo import synthetic
from mindpulse.paths import INPUTS_FILE, METADATA_FILE, MODEL_FILE, Layout
from mindpulse.protocol import StepError
from mindpulse.reporting import retention
from mindpulse.retrain import fit, model_file, verification
from tests.unit.test_model_file import other_scikit_learn
from tests.unit.test_retrain_steps import merge_data, simulate, train


def csv_rows(rows: int, seed: int) -> bytes:
    return synthetic.generate_reference(rows, seed).to_csv(index=False).encode()


def test_a_file_is_kept_as_chunks_and_restored_byte_for_byte(layout: Layout) -> None:
    raw = csv_rows(9000, 1)

    kept = chunk_store.keep(layout, raw)

    assert kept.rows == 9000 and kept.header == raw.split(b"\n", 1)[0].decode() + "\n"
    assert 2 <= len(kept.chunks) <= 20, "content-defined boundaries: about 9000 / ROWS_PER_CHUNK chunks"
    assert chunk_store.restore(layout, Kept.from_document(kept.document()), "the file") == raw
    assert {digest for digest, _ in chunk_store.stored(layout)} == set(kept.chunks)


def test_windows_that_share_rows_share_chunks_even_when_one_starts_later(layout: Layout) -> None:
    """What a year of retrains looks like: each window is the last one's rows, a few dropped at the start (the
    recent window) and new ones appended (the merge)."""
    first = csv_rows(20000, 2)
    header, _, body = first.partition(b"\n")
    lines = body.splitlines(keepends=True)
    later = header + b"\n" + b"".join(lines[3000:]) + b"".join(csv_rows(4000, 3).splitlines(keepends=True)[1:])

    one = chunk_store.keep(layout, first)
    two = chunk_store.keep(layout, later)

    # Every chunk of the first window is shared but two: the one cut at the start and the last, which the new
    # rows extend (boundaries depend on the rows, so they stay where they were).
    assert len(set(one.chunks) & set(two.chunks)) >= len(one.chunks) - 2 >= 6
    on_disk = sum(path.stat().st_size for _, path in chunk_store.stored(layout))
    assert on_disk < 0.5 * (len(first) + len(later)), "stored once and compressed, not two copies"


@pytest.mark.parametrize("fault", ["altered", "missing"])
def test_a_chunk_altered_or_missing_is_named_with_the_rows_it_held(layout: Layout, fault: str) -> None:
    raw = csv_rows(9000, 4)
    kept = chunk_store.keep(layout, raw)
    victim = chunk_store.chunk_path(layout, kept.chunks[1])
    first_row = 2 + gzip.decompress(chunk_store.chunk_path(layout, kept.chunks[0]).read_bytes()).count(b"\n") - 1
    if fault == "missing":
        victim.unlink()
    else:
        victim.write_bytes(gzip.compress(gzip.decompress(victim.read_bytes()).replace(b",", b";", 1), mtime=0))

    with pytest.raises(StepError) as refused:
        chunk_store.restore(layout, kept, "v0001 training rows")

    expected = "is missing" if fault == "missing" else "does not match its name"
    assert str(refused.value).startswith(f"{victim}: chunk of v0001 training rows (")
    assert f"row{'s' if fault == 'altered' else ''} {first_row}" in str(refused.value) and expected in str(
        refused.value
    )


def retrain(layout: Layout, seed: int, stamp: str) -> str:
    """One daily cycle, as the DAG runs it: traffic, merge, train, archive. Returns the version it registered."""
    simulate(layout, 1500, seed=seed, concept=1.0 if seed % 2 else 0.0)
    merge_data(layout, run_stamp=stamp)
    version = train(layout).version
    production.archive_production_data(layout)
    return version


@pytest.mark.slow
def test_an_old_version_is_rebuilt_byte_identical_after_more_retrains(seeded: Layout) -> None:
    first = retrain(seeded, 11, "20261201_000000")
    later = [retrain(seeded, seed, f"2026120{seed - 10}_000000") for seed in (12, 13)]
    assert len({first, *later}) == 3, "each retrain registered a version"
    assert registry.version_metadata(seeded, first)["training_data_sha256"] != production.digest(
        seeded.training_data.read_bytes()
    ), "the data files now hold other rows"

    verified = verification.verify_model(seeded, first)

    metadata = registry.version_metadata(seeded, first)
    assert verified.identical == "bytes" and verified.rebuilt_sha256 == metadata["model_sha256"]
    assert (verified.algorithm, verified.window) == (metadata["algorithm"], metadata["window"])
    assert verified.libraries_differ == {}


def test_a_tampered_kept_input_is_detected_and_named(seeded: Layout) -> None:
    version = "v0001"
    manifest = registry.kept_inputs(seeded, version)
    assert manifest is not None
    victim = chunk_store.chunk_path(seeded, manifest["training"]["chunks"][-1])
    # A row of the training data changed on the volume (its first id, 1 -> 01): its chunk no longer matches its name.
    rows = gzip.decompress(victim.read_bytes())
    victim.write_bytes(gzip.compress(b"0" + rows, mtime=0))
    assert gzip.decompress(victim.read_bytes()) != rows

    with pytest.raises(
        StepError, match=rf"^{re.escape(str(victim))}: chunk of {version} training rows \(rows \d+-\d+\) does not match"
    ):
        verification.verify_model(seeded, version)


def test_the_inputs_list_is_covered_by_the_signed_metadata(seeded: Layout) -> None:
    path = seeded.current_model_dir.resolve() / INPUTS_FILE
    manifest = json.loads(path.read_text())
    manifest["training"]["chunks"].reverse()
    path.write_text(json.dumps(manifest))

    with pytest.raises(StepError, match=rf"^{re.escape(str(path))}: missing or not matching its {METADATA_FILE}"):
        verification.verify_model(seeded, "v0001")


@pytest.mark.slow
def test_a_rebuild_in_other_bytes_that_predicts_the_same_is_prediction_identical(
    seeded: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A library that is not bitwise deterministic: the rebuilt file gets other bytes, the model is the same.
    write = model_file.write
    monkeypatch.setattr(model_file, "write", lambda model, path: (write(model, path), path.open("ab").write(b"\0")))

    verified = verification.verify_model(seeded, "v0001")

    assert verified.identical == "predictions"
    assert verified.rebuilt_sha256 != registry.version_metadata(seeded, "v0001")["model_sha256"]


@pytest.mark.slow
def test_a_rebuild_that_predicts_differently_is_refused_naming_the_libraries_that_differ(
    seeded: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other libraries' numerics, stood in for by a fit of the same candidate on 90% of its rows: another model.
    refit = verification.refit_on_whole_window

    def other_fit(chosen, training, recent, settings):  # type: ignore[no-untyped-def]
        rebuilt = refit(chosen, training, recent, settings)
        rows = training.iloc[len(training) // 10 :]
        model = fit.build_pipeline(rebuilt.algorithm, settings.seed, len(rows))
        model.fit(rows[list(schema.FEATURES)], rows[schema.TARGET].astype(int))
        return dataclasses.replace(rebuilt, model=model)

    monkeypatch.setattr(verification, "refit_on_whole_window", other_fit)
    claimed = other_scikit_learn(monkeypatch)
    trained_with = registry.version_metadata(seeded, "v0001")["libraries"]["scikit-learn"]

    with pytest.raises(StepError) as refused:
        verification.verify_model(seeded, "v0001")

    message = str(refused.value)
    assert message.startswith(f"{seeded.current_model_dir.resolve() / MODEL_FILE}: the rebuilt model predicts differ")
    assert message.endswith(f"the libraries differ: scikit-learn {trained_with} (here {claimed})")


def test_retention_deletes_the_chunks_no_kept_version_lists_and_keeps_fresh_ones(seeded: Layout) -> None:
    # A second version listing other rows (retention reads the lists, never the models).
    other = seeded.versions_dir / "v0002"
    other.mkdir()
    kept = chunk_store.keep(seeded, csv_rows(5000, 9))
    (other / INPUTS_FILE).write_text(json.dumps({"training": kept.document()}))
    first = set(json.loads((seeded.versions_dir / "v0001" / INPUTS_FILE).read_text())["training"]["chunks"])
    orphan = chunk_store.chunk_path(seeded, "ab" + "0" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(gzip.compress(b"1,2,3\n", mtime=0))
    now = datetime.now(UTC)
    later = now + timedelta(hours=2)

    assert retention.unlisted_chunks(seeded, set(), timedelta(hours=1), now) == [], "a fresh chunk may be in use"
    assert retention.unlisted_chunks(seeded, set(), timedelta(hours=1), later) == [orphan]
    doomed = retention.unlisted_chunks(seeded, {other}, timedelta(hours=1), later)
    assert {path.name.removesuffix(chunk_store.SUFFIX) for path in doomed} == {orphan.name[:64]} | (
        set(kept.chunks) - first
    )


def test_a_chunk_used_again_by_a_training_run_is_not_deleted_as_unlisted(layout: Layout) -> None:
    """A chunk stored months ago, no longer listed by any version, and written again by a run whose version is not
    registered yet: its use counts from now, so retention's grace period protects it."""
    raw = csv_rows(3000, 12)
    kept = chunk_store.keep(layout, raw)
    now = datetime.now(UTC)
    months_ago = (now - timedelta(days=90)).timestamp()
    for _, path in chunk_store.stored(layout):
        os.utime(path, (months_ago, months_ago))
    assert len(retention.unlisted_chunks(layout, set(), timedelta(hours=6), now)) == len(kept.chunks), "old, unlisted"

    assert chunk_store.keep(layout, raw) == kept

    assert retention.unlisted_chunks(layout, set(), timedelta(hours=6), now) == []
    assert chunk_store.restore(layout, kept, "the file") == raw
