"""Validation: every kind of bad input is refused with one line naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse import schema
from mindpulse.step import StepError

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
