"""The append protocol and archiving: no production row is lost or archived twice."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from mindpulse import production, results, schema
from mindpulse.paths import Layout
from mindpulse.protocol import StepError

HEADER = schema.header_line(schema.PRODUCTION_COLUMNS)


def row(number: int, actual: str = "1") -> bytes:
    return f"2026-11-26T10:00:00+00:00,{18 + number % 10},Male,Arts,3.1,7.5,4.0,2.5,{number},5,0,{actual}\n".encode()


def consume(layout: Layout, stamp: str = "20261126_120000") -> production.Consumption:
    """What merge_production_data records: the snapshot it trained on."""
    snapshot = production.read_snapshot(layout)
    consumption = production.Consumption(
        stamp, len(snapshot), production.digest(snapshot), snapshot.count(b"\n") - 1, snapshot.count(b"\n") - 1
    )
    consumption.save(layout)
    return consumption


def test_first_append_writes_the_header_once(layout: Layout) -> None:
    production.append_lines(layout, HEADER, row(1))
    production.append_lines(layout, HEADER, row(2) + row(3))
    assert layout.production_data.read_bytes() == HEADER + row(1) + row(2) + row(3)


def test_partial_lines_are_refused(layout: Layout) -> None:
    with pytest.raises(ValueError, match="whole lines"):
        production.append_lines(layout, HEADER, row(1)[:-1])
    assert not layout.production_data.exists()


def test_archive_moves_consumed_rows_and_keeps_later_ones(layout: Layout) -> None:
    production.append_lines(layout, HEADER, row(1) + row(2))
    consume(layout)
    production.append_lines(layout, HEADER, row(3))  # arrives while the run trains

    result = production.archive_production_data(layout)

    assert result == results.Archive(
        archived_rows=2,
        archived_labelled_rows=2,
        archive_file=str(layout.archive_file("20261126_120000")),
        rows_left_in_production=1,
    )
    assert layout.archive_file("20261126_120000").read_bytes() == HEADER + row(1) + row(2)
    assert layout.production_data.read_bytes() == HEADER + row(3)
    assert not layout.consumption_manifest.exists()


def test_archiving_twice_changes_nothing_the_second_time(layout: Layout) -> None:
    production.append_lines(layout, HEADER, row(1))
    consume(layout)
    production.archive_production_data(layout)
    after_first = layout.production_data.read_bytes()

    again = production.archive_production_data(layout)
    assert again.archived_rows == 0 and "no consumption manifest" in again.reason
    assert layout.production_data.read_bytes() == after_first


def test_a_crash_after_the_rewrite_is_finished_by_the_retry(layout: Layout) -> None:
    production.append_lines(layout, HEADER, row(1) + row(2))
    consumption = consume(layout)
    production.archive_production_data(layout)
    consumption.save(layout)  # as if the crash came before the manifest was removed

    retried = production.archive_production_data(layout)
    assert retried.archived_rows == 0 and retried.reason.startswith("already archived")
    assert layout.production_data.read_bytes() == HEADER
    assert not layout.consumption_manifest.exists()


def test_archive_refuses_when_consumed_rows_were_changed(layout: Layout) -> None:
    production.append_lines(layout, HEADER, row(1) + row(2))
    consume(layout)
    layout.production_data.write_bytes(HEADER + row(9) + row(2))

    with pytest.raises(StepError, match="changed since"):
        production.archive_production_data(layout)
    assert layout.production_data.read_bytes() == HEADER + row(9) + row(2)
    assert json.loads(layout.consumption_manifest.read_text())["rows"] == 2


def _append_many(layout: Layout, start: int, count: int) -> None:
    for number in range(start, start + count):
        production.append_lines(layout, HEADER, row(number))


def test_rows_appended_by_other_processes_during_archiving_are_kept_exactly_once(layout: Layout) -> None:
    _append_many(layout, 0, 200)
    consume(layout)
    writers = [multiprocessing.Process(target=_append_many, args=(layout, 1000 * n, 300)) for n in (1, 2)]
    for writer in writers:
        writer.start()
    production.archive_production_data(layout)
    for writer in writers:
        writer.join()

    archived = layout.archive_file("20261126_120000").read_bytes().splitlines()[1:]
    remaining = layout.production_data.read_bytes().splitlines()[1:]
    expected = {row(n).rstrip(b"\n") for n in [*range(200), *range(1000, 1300), *range(2000, 2300)]}
    assert len(archived) + len(remaining) == len(expected)
    assert set(archived) | set(remaining) == expected
    assert set(archived) == {row(n).rstrip(b"\n") for n in range(200)}
