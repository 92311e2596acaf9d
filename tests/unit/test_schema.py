"""Validation: every kind of bad input is refused with one line naming file, line and column."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from mindpulse import schema
from mindpulse.protocol import StepError

REFERENCE_HEADER = ",".join(schema.REFERENCE_COLUMNS)
REFERENCE_ROW = "1,21,Female,Science,3.1,7.5,4.0,2.5,60,5,False"
PRODUCTION_HEADER = ",".join(schema.PRODUCTION_COLUMNS)
PRODUCTION_ROW = "2026-11-26T10:00:00+00:00,21,Male,Arts,3.1,7.5,4.0,2.5,60,5,0,1"


def reference(*rows: str, header: str = REFERENCE_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def production(*rows: str, header: str = PRODUCTION_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_a_valid_reference_file_is_typed() -> None:
    frame = schema.parse_reference(reference(REFERENCE_ROW, "2,30,Male,Arts,2.5,6,3,1,0,10,true"), "ref.csv")
    assert list(frame.columns) == list(schema.REFERENCE_COLUMNS)
    assert frame["Age"].tolist() == [21, 30]
    assert frame[schema.TARGET].tolist() == [0, 1]
    assert frame["CGPA"].dtype.kind == "f"


def test_production_rows_may_wait_for_their_outcome() -> None:
    unlabelled = PRODUCTION_ROW.rsplit(",", 1)[0] + ","
    frame = schema.parse_production(production(PRODUCTION_ROW, unlabelled), "prod.csv")
    assert frame[schema.ACTUAL].isna().tolist() == [False, True]
    assert len(schema.labelled(frame)) == 1


def _replace(row: str, column: str, value: str, columns: tuple[str, ...] = schema.REFERENCE_COLUMNS) -> str:
    cells = row.split(",")
    cells[columns.index(column)] = value
    return ",".join(cells)


BAD_REFERENCE = {
    "empty file": (b"", "file is empty"),
    "whitespace only": (b"\n\n", "file is empty"),
    "header only": (reference(), "has a header but no rows"),
    "missing column": (
        reference("1,21,Female,Science,3.1,7.5,4.0,2.5,60,False", header=REFERENCE_HEADER.replace(",Stress_Level", "")),
        "line 1: missing column Stress_Level",
    ),
    "extra column": (
        reference(REFERENCE_ROW + ",x", header=REFERENCE_HEADER + ",Mood"),
        "line 1: unexpected column Mood",
    ),
    "renamed column": (
        reference(REFERENCE_ROW, header=REFERENCE_HEADER.replace("CGPA", "GPA")),
        "missing column CGPA; unexpected column GPA",
    ),
    "duplicated column": (
        reference(REFERENCE_ROW + ",4", header=REFERENCE_HEADER + ",Age"),
        "line 1: duplicated column Age",
    ),
    "semicolons": (reference(header=REFERENCE_HEADER.replace(",", ";")), "header is not comma-separated"),
    "no header": (reference(header=REFERENCE_ROW), "line 1: no header (the file must start with Student_ID,Age,"),
    "byte-order mark": (b"\xef\xbb\xbf" + reference(REFERENCE_ROW), "byte-order mark"),
    "truncated last line": (reference(REFERENCE_ROW, "2,22,Male,Arts")[:-1], "line 3: truncated last line"),
    "short row": (reference(REFERENCE_ROW, "2,22,Male,Arts"), "line 3: 4 fields, fewer than the 11 columns"),
    "too many fields": (reference(REFERENCE_ROW + ",9"), "line 2: 12 fields, more than the 11 columns"),
    "age below range": (reference(_replace(REFERENCE_ROW, "Age", "-3")), "line 2: column Age value '-3' is outside"),
    "cgpa above range": (reference(_replace(REFERENCE_ROW, "CGPA", "12")), "column CGPA value '12' is outside"),
    "text in a number": (reference(_replace(REFERENCE_ROW, "Sleep_Duration", "lots")), "is not a number"),
    "empty value": (reference(_replace(REFERENCE_ROW, "Study_Hours", "")), "line 2: column Study_Hours is empty"),
    "NaN value": (reference(_replace(REFERENCE_ROW, "Study_Hours", "NaN")), "column Study_Hours value 'NaN'"),
    "fractional stress level": (reference(_replace(REFERENCE_ROW, "Stress_Level", "5.5")), "not a whole number"),
    "unseen category": (reference(_replace(REFERENCE_ROW, "Department", "Law")), "column Department value 'Law'"),
    "bad target": (reference(_replace(REFERENCE_ROW, "Depression", "maybe")), "column Depression value 'maybe'"),
    "missing target": (reference(_replace(REFERENCE_ROW, "Depression", "")), "column Depression is empty"),
    "duplicate id": (reference(REFERENCE_ROW, REFERENCE_ROW), "line 3: duplicate Student_ID 1"),
    "repeated header": (reference(REFERENCE_ROW, REFERENCE_HEADER), "line 3: repeats the header"),
}


@pytest.mark.parametrize(("raw", "expected"), BAD_REFERENCE.values(), ids=BAD_REFERENCE.keys())
def test_bad_reference_data_is_refused_with_a_precise_message(raw: bytes, expected: str) -> None:
    with pytest.raises(StepError) as refused:
        schema.parse_reference(raw, "ref.csv")
    message = str(refused.value)
    assert message.startswith("ref.csv: ")
    assert expected in message
    assert "\n" not in message


def test_non_utf8_bytes_name_their_line() -> None:
    raw = reference(REFERENCE_ROW) + "2,22,F\xe9male,Arts,3,7,4,2,60,5,False\n".encode("latin-1")
    with pytest.raises(StepError, match=r"ref.csv: line 3: bytes that are not UTF-8"):
        schema.parse_reference(raw, "ref.csv")


def _production_row(column: str, value: str) -> str:
    return _replace(PRODUCTION_ROW, column, value, schema.PRODUCTION_COLUMNS)


BAD_PRODUCTION = {
    "bad timestamp": (_production_row("timestamp", "yesterday"), "timestamp"),
    "missing prediction": (_production_row("prediction", ""), "prediction is empty"),
    "actual not binary": (_production_row("actual", "2"), "column actual value '2'"),
    "unseen gender": (_production_row("Gender", "X"), "column Gender value 'X'"),
}


@pytest.mark.parametrize(("row", "expected"), BAD_PRODUCTION.values(), ids=BAD_PRODUCTION.keys())
def test_bad_production_rows_are_refused(row: str, expected: str) -> None:
    with pytest.raises(StepError, match=rf"^prod.csv: line 3: .*{expected}"):
        schema.parse_production(production(PRODUCTION_ROW, row), "prod.csv")


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(StepError, match=r"absent\.csv: file not found"):
        schema.load_reference(tmp_path / "absent.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(StepError, match=r"folder\.csv: is not a regular file"):
        schema.load_reference(tmp_path / "folder.csv")


# --- quarantine: a few bad production rows are set aside, the rest is used --------------------------------------

GOOD_ROWS = [_production_row("Age", str(18 + index % 10)) for index in range(400)]
# line number (the header is line 1) -> (bad line, words its reason must contain)
BAD_LINES = {
    5: (_production_row("Age", "99"), "column Age value '99' is outside [16, 60]"),
    40: (_production_row("Department", "Law"), "column Department value 'Law' is not one of"),
    41: (_production_row("Sleep_Duration", ""), "column Sleep_Duration is empty"),
    120: (_production_row("CGPA", "NaN"), "column CGPA value 'NaN' is not a number"),
    200: (_production_row("Study_Hours", "lots"), "column Study_Hours value 'lots' is not a number"),
    250: (PRODUCTION_ROW.rsplit(",", 3)[0], "9 fields, fewer than the 12 columns"),
    300: (PRODUCTION_HEADER, "repeats the header"),
    404: (_production_row("actual", "2"), "column actual value '2' is not true/false or 1/0"),
}


def with_bad_lines(bad: dict[int, tuple[str, str]], good: list[str] = GOOD_ROWS) -> bytes:
    rows = list(good)
    for line in sorted(bad):
        rows.insert(line - 2, bad[line][0])
    return production(*rows)


def test_a_few_bad_production_rows_are_quarantined_with_line_text_and_reason() -> None:
    raw = with_bad_lines(BAD_LINES)  # 8 bad rows of 408: 2%
    parsed = schema.parse_production_rows(raw, "prod.csv", max_quarantine_share=0.02)

    assert [row.line for row in parsed.quarantined] == sorted(BAD_LINES)
    for row in parsed.quarantined:
        text, reason = BAD_LINES[row.line]
        assert row.text == text == raw.decode().split("\n")[row.line - 1]
        assert reason in row.reason
    # The typed rows are exactly the good ones, as the strict parse types them.
    expected = schema.parse_production(production(*GOOD_ROWS), "prod.csv")
    pd.testing.assert_frame_equal(parsed.rows, expected)


def test_more_bad_rows_than_the_share_fail_the_file_at_its_first_bad_line() -> None:
    raw = with_bad_lines(BAD_LINES)
    with pytest.raises(StepError) as refused:
        schema.parse_production_rows(raw, "prod.csv", max_quarantine_share=0.01)
    assert str(refused.value) == (
        "prod.csv: line 5: column Age value '99' is outside [16, 60] "
        "(8 of 408 rows are bad, 2.0%: more than the 1.0% that may be quarantined)"
    )


def test_the_share_is_a_limit_on_bad_rows_of_all_rows() -> None:
    four_bad = {line: BAD_LINES[line] for line in (5, 40, 41, 120)}  # 4 of 404 rows: 0.99%
    assert len(schema.parse_production_rows(with_bad_lines(four_bad), "p.csv", 0.01).quarantined) == 4
    five_bad = {line: BAD_LINES[line] for line in (5, 40, 41, 120, 200)}  # 5 of 405 rows: 1.23%
    with pytest.raises(StepError, match=r"^p.csv: line 5: "):
        schema.parse_production_rows(with_bad_lines(five_bad), "p.csv", 0.01)


def test_the_first_bad_line_is_named_whichever_column_is_checked_first() -> None:
    # Age is checked before Department, but the Department problem is on an earlier line.
    bad = {3: (_production_row("Department", "Law"), ""), 7: (_production_row("Age", "99"), "")}
    with pytest.raises(StepError, match=r"^prod.csv: line 3: column Department value 'Law' .*\(2 bad rows in all\)$"):
        schema.parse_production(with_bad_lines(bad), "prod.csv")


def test_without_a_share_no_row_is_quarantined() -> None:
    with pytest.raises(StepError, match=r"line 5: column Age value '99'"):
        schema.parse_production_rows(with_bad_lines({5: BAD_LINES[5]}), "prod.csv", max_quarantine_share=0.0)


def test_a_clean_file_quarantines_nothing() -> None:
    parsed = schema.parse_production_rows(production(*GOOD_ROWS), "prod.csv", max_quarantine_share=0.01)
    assert parsed.quarantined == ()
    assert len(parsed.rows) == len(GOOD_ROWS)


FILE_PROBLEMS = {
    "byte-order mark": (b"\xef\xbb\xbf" + production(*GOOD_ROWS), "byte-order mark"),
    "missing column": (
        production(*GOOD_ROWS, header=PRODUCTION_HEADER.replace("CGPA", "GPA")),
        "line 1: missing column CGPA; unexpected column GPA",
    ),
    "header only": (production(), "has a header but no rows"),
    "truncated last line": (production(*GOOD_ROWS)[:-20], "line 401: truncated last line"),
    "not UTF-8": (production(*GOOD_ROWS) + _production_row("Gender", "F\xe9male").encode("latin-1") + b"\n", "UTF-8"),
}


@pytest.mark.parametrize(("raw", "expected"), FILE_PROBLEMS.values(), ids=FILE_PROBLEMS.keys())
def test_problems_of_the_whole_file_are_never_quarantined(raw: bytes, expected: str) -> None:
    with pytest.raises(StepError, match=rf"^prod.csv: .*{expected}"):
        schema.parse_production_rows(raw, "prod.csv", max_quarantine_share=0.5)


def test_reference_data_is_never_quarantined() -> None:
    rows = [_replace(REFERENCE_ROW, "Student_ID", str(index)) for index in range(1, 501)]
    rows[250] = _replace(rows[250], "Age", "99")
    with pytest.raises(StepError, match=r"^ref.csv: line 252: column Age value '99' is outside"):
        schema.parse_reference(reference(*rows), "ref.csv")


# --- RFC 4180 quoting: quoted values read as unquoted ones, with the same line numbers and quarantine --------


def written(rows: list[str], quoting: int, header: str = PRODUCTION_HEADER) -> bytes:
    """The rows (comma-joined values) as Python's csv module writes them with `quoting`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator="\n")
    writer.writerows(line.split(",") for line in [header, *rows])
    return buffer.getvalue().encode()


def test_quoted_and_unquoted_files_parse_to_identical_rows() -> None:
    rows = [_production_row("actual", "") if index % 3 else row for index, row in enumerate(GOOD_ROWS)]
    quoted = written(rows, csv.QUOTE_ALL)
    assert quoted.startswith(b'"timestamp","Age"') and b'"2026-11-26T10:00:00+00:00","' in quoted

    minimal = schema.parse_production(written(rows, csv.QUOTE_MINIMAL), "prod.csv")
    pd.testing.assert_frame_equal(schema.parse_production(quoted, "prod.csv"), minimal)
    reference_rows = [_replace(REFERENCE_ROW, "Student_ID", str(index)) for index in range(1, 50)]
    pd.testing.assert_frame_equal(
        schema.parse_reference(written(reference_rows, csv.QUOTE_ALL, REFERENCE_HEADER), "ref.csv"),
        schema.parse_reference(reference(*reference_rows), "ref.csv"),
    )


def test_bad_values_in_quoted_fields_give_the_same_errors_and_quarantine() -> None:
    rows = list(GOOD_ROWS)
    for line in sorted(BAD_LINES):
        rows.insert(line - 2, BAD_LINES[line][0])
    quoted = written(rows, csv.QUOTE_ALL)

    parsed = schema.parse_production_rows(quoted, "prod.csv", max_quarantine_share=0.02)

    unquoted = schema.parse_production_rows(with_bad_lines(BAD_LINES), "prod.csv", max_quarantine_share=0.02)
    assert [(row.line, row.reason) for row in parsed.quarantined] == [
        (row.line, row.reason) for row in unquoted.quarantined
    ]
    for row in parsed.quarantined:  # the line as it is in the file, quotes and all
        assert row.text == quoted.decode().split("\n")[row.line - 1]
        assert row.text.startswith('"')
    pd.testing.assert_frame_equal(parsed.rows, unquoted.rows)
    with pytest.raises(StepError) as refused:
        schema.parse_production_rows(quoted, "prod.csv", max_quarantine_share=0.01)
    assert str(refused.value).startswith("prod.csv: line 5: column Age value '99' is outside [16, 60] (8 of 408")


def test_a_quoted_comma_is_part_of_its_value() -> None:
    fields = PRODUCTION_ROW.split(",")
    fields[schema.PRODUCTION_COLUMNS.index("Department")] = "Engineering, Civil"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    row = buffer.getvalue()
    assert '"Engineering, Civil"' in row
    raw = production(*GOOD_ROWS[:200], row, *GOOD_ROWS[200:])

    parsed = schema.parse_production_rows(raw, "prod.csv", max_quarantine_share=0.01)

    [bad] = parsed.quarantined
    assert (bad.line, bad.text) == (202, row)
    assert bad.reason.startswith("column Department value 'Engineering, Civil' is not one of")
    assert len(parsed.rows) == len(GOOD_ROWS)


QUOTING = "quoting is not valid CSV on this line (an unclosed quote, or text after a closing quote)"
QUOTING_PROBLEMS = {
    # csv writes a value holding a line break as one quoted field over two lines: both lines are bad.
    "quoted line break": (
        written([_production_row("Gender", "Fe\nmale")], csv.QUOTE_ALL).decode().split("\n")[1:3],
        [(3, QUOTING), (4, "10 fields, fewer than the 12 columns")],
    ),
    "unclosed quote": ([_production_row("Gender", '"Female')], [(3, QUOTING)]),
    "text after a closing quote": ([_production_row("Gender", '"Fe"male')], [(3, QUOTING)]),
}


@pytest.mark.parametrize(("bad", "problems"), QUOTING_PROBLEMS.values(), ids=QUOTING_PROBLEMS.keys())
def test_quoting_that_does_not_close_on_its_line_is_a_bad_line(bad: list[str], problems: list[tuple[int, str]]) -> None:
    raw = production(PRODUCTION_ROW, *bad, *GOOD_ROWS)

    with pytest.raises(StepError, match=rf"^prod.csv: line 3: {re.escape(QUOTING)}"):
        schema.parse_production(raw, "prod.csv")
    parsed = schema.parse_production_rows(raw, "prod.csv", max_quarantine_share=0.01)
    assert [(row.line, row.reason) for row in parsed.quarantined] == problems
    assert len(parsed.rows) == 1 + len(GOOD_ROWS)


def test_a_carriage_return_inside_a_line_is_refused_rather_than_misnumbered() -> None:
    raw = production(PRODUCTION_ROW, _production_row("Gender", "Ma\rle"), *GOOD_ROWS)
    with pytest.raises(StepError, match=r"^prod.csv: line 3: a carriage return inside the line$"):
        schema.parse_production_rows(raw, "prod.csv", max_quarantine_share=0.01)
