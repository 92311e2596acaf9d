"""The data contract: columns, types and ranges of reference and production data, and the
validation that turns a CSV file into a typed DataFrame or one clear error line.

Reference data (the Kaggle "student_lifestyle_100k" schema):
    Student_ID, Age, Gender, Department, CGPA, Sleep_Duration, Study_Hours,
    Social_Media_Hours, Physical_Activity, Stress_Level, Depression
Production data (appended by the serving API):
    timestamp, <the nine feature columns>, prediction, actual   (actual empty until known)

Errors name the file, the line (the header is line 1) and the column, and nothing is repaired
silently: a step that gets bad input stops before it changes anything.

Standard CSV quoting (RFC 4180, as Python's `csv.QUOTE_ALL` or `QUOTE_MINIMAL` write it) is read like
unquoted values. A quoted field may not hold a line break (no column needs one): every row is one line,
so line numbers stay physical lines and the append protocol's line counts stay right; a line whose
quotes do not close on it is a bad line.

Quarantine (production data only, `parse_production_rows`): a few bad rows among many good ones
(a value out of range, an unseen category, an empty or non-numeric cell, a line with the wrong
number of fields, a repeated header line) are set aside with their line number, text and reason,
and the other rows are used, as long as the bad rows are at most `max_quarantine_share` of the
rows. More than that means something systematic (a client sending another schema or unit), and the
whole file fails with the error of its first bad line. Problems of the file as a whole (empty,
header only, missing/extra/renamed/duplicated columns, another delimiter, a byte-order mark, bytes
that are not UTF-8, a truncated last line, not a regular file) always fail. Reference data is never
quarantined: it is what every model is trained on, so any bad row fails it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from mindpulse.protocol import StepError
from mindpulse.signature import Column, Signature


@dataclass(frozen=True)
class NumericColumn:
    low: float
    high: float
    integer: bool = False


NUMERIC_FEATURES: dict[str, NumericColumn] = {
    "Age": NumericColumn(16, 60, integer=True),
    "CGPA": NumericColumn(0.0, 4.0),
    "Sleep_Duration": NumericColumn(0.0, 24.0),
    "Study_Hours": NumericColumn(0.0, 24.0),
    "Social_Media_Hours": NumericColumn(0.0, 24.0),
    "Physical_Activity": NumericColumn(0.0, 1440.0),  # minutes a day
    "Stress_Level": NumericColumn(1, 10, integer=True),
}
CATEGORICAL_FEATURES: dict[str, tuple[str, ...]] = {
    "Gender": ("Female", "Male", "Other"),
    "Department": ("Arts", "Business", "Engineering", "Medical", "Science"),
}
FEATURES: tuple[str, ...] = (
    "Age", "Gender", "Department", "CGPA", "Sleep_Duration", "Study_Hours",
    "Social_Media_Hours", "Physical_Activity", "Stress_Level",
)  # fmt: skip
NUMERIC_FEATURE_NAMES = tuple(name for name in FEATURES if name in NUMERIC_FEATURES)
CATEGORICAL_FEATURE_NAMES = tuple(name for name in FEATURES if name in CATEGORICAL_FEATURES)

ID = "Student_ID"
TARGET = "Depression"
TIMESTAMP = "timestamp"
PREDICTION = "prediction"
ACTUAL = "actual"

REFERENCE_COLUMNS: tuple[str, ...] = (ID, *FEATURES, TARGET)
PRODUCTION_COLUMNS: tuple[str, ...] = (TIMESTAMP, *FEATURES, PREDICTION, ACTUAL)

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
_ID_SPEC = NumericColumn(0, float("inf"), integer=True)


class QuarantinedRow(NamedTuple):
    """A production line set aside: its number in the file (the header is line 1), its text without
    the newline, and what is wrong with it (naming the column and the value)."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class ProductionRows:
    """The valid production rows, typed, and the lines set aside (in file order)."""

    rows: pd.DataFrame
    quarantined: tuple[QuarantinedRow, ...] = ()


def load_reference(path: Path) -> pd.DataFrame:
    return parse_reference(read_csv_bytes(path), str(path))


def load_production(path: Path) -> pd.DataFrame:
    return parse_production(read_csv_bytes(path), str(path))


def read_csv_bytes(path: Path) -> bytes:
    if not path.exists():
        raise StepError(f"{path}: file not found")
    if not path.is_file():
        raise StepError(f"{path}: is not a regular file")
    return path.read_bytes()


def parse_reference(raw: bytes, source: str) -> pd.DataFrame:
    table = _Table(raw, source, REFERENCE_COLUMNS)
    typed = pd.DataFrame({ID: table.numbers(ID, _ID_SPEC)})
    typed = typed.join(table.features())
    typed[TARGET] = table.binary(TARGET, required=True)
    typed, _ = table.settle(typed, max_bad_share=0.0)
    duplicated = typed[ID].duplicated()
    if duplicated.any():
        row = _first(duplicated)
        raise StepError(f"{source}: line {row + 2}: duplicate {ID} {typed[ID].iloc[row]}")
    return typed


def parse_production(raw: bytes, source: str) -> pd.DataFrame:
    """Production rows, every one valid; `actual` is a nullable integer, missing while the outcome is unknown."""
    return parse_production_rows(raw, source, max_quarantine_share=0.0).rows


def parse_production_rows(raw: bytes, source: str, max_quarantine_share: float) -> ProductionRows:
    """The valid production rows, and the bad ones set aside when they are at most
    `max_quarantine_share` of all rows; otherwise StepError naming the first bad line."""
    table = _Table(raw, source, PRODUCTION_COLUMNS)
    typed = pd.DataFrame({TIMESTAMP: table.timestamps(TIMESTAMP)})
    typed = typed.join(table.features())
    typed[PREDICTION] = table.binary(PREDICTION, required=True)
    typed[ACTUAL] = table.binary(ACTUAL, required=False)
    typed, quarantined = table.settle(typed, max_quarantine_share)
    return ProductionRows(typed, quarantined)


def header_line(columns: tuple[str, ...]) -> bytes:
    return (",".join(columns) + "\n").encode()


def labelled(production: pd.DataFrame) -> pd.DataFrame:
    return production[production[ACTUAL].notna()]


def model_signature(example: pd.DataFrame) -> Signature:
    """What every model takes and returns, from the data contract, with `example`'s feature columns as
    the input example: integers are MLflow longs, other numbers doubles, categories strings."""
    inputs = tuple(
        Column(name, "long" if spec.integer else "double", spec.low, spec.high)
        if (spec := NUMERIC_FEATURES.get(name))
        else Column(name, "string", categories=CATEGORICAL_FEATURES[name])
        for name in FEATURES
    )
    output = Column(PREDICTION, "long", categories=(0, 1))  # 1: at risk of depression
    rows = json.loads(example[list(FEATURES)].to_json(orient="split", index=False))
    return Signature(inputs, (output,), {"columns": rows["columns"], "data": rows["data"]})


def _check_file(raw: bytes, source: str, columns: tuple[str, ...]) -> None:
    """Problems of the file as a whole: these are never quarantined."""
    if not raw.strip():
        raise StepError(f"{source}: file is empty")
    if raw.startswith(codecs.BOM_UTF8):
        raise StepError(f"{source}: starts with a UTF-8 byte-order mark; save it as plain UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise StepError(f"{source}: line {line}: bytes that are not UTF-8") from None
    if not text.endswith("\n"):
        line = text.count("\n") + 1
        raise StepError(f"{source}: line {line}: truncated last line (no newline at the end of the file)")
    header = next(csv.reader([text.split("\n", 1)[0].rstrip("\r")]))
    _check_header(header, columns, source)
    if text.count("\n") == 1:
        raise StepError(f"{source}: has a header but no rows")


def _check_header(header: list[str], columns: tuple[str, ...], source: str) -> None:
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise StepError(f"{source}: line 1: header is not comma-separated")
    if not set(header) & set(columns):
        raise StepError(f"{source}: line 1: no header (the file must start with {','.join(columns)})")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise StepError(f"{source}: line 1: duplicated column {', '.join(duplicated)}")
    missing = [name for name in columns if name not in header]
    extra = [name for name in header if name not in columns]
    if missing or extra:
        parts = [f"missing column {', '.join(missing)}"] if missing else []
        parts += [f"unexpected column {', '.join(extra)}"] if extra else []
        raise StepError(f"{source}: line 1: {'; '.join(parts)}")


@dataclass(frozen=True)
class _Lines:
    """Where each line of the file starts and ends (byte offsets, the newline excluded)."""

    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, data: np.ndarray) -> _Lines:
        ends = np.flatnonzero(data == ord("\n"))
        return cls(np.concatenate(([0], ends[:-1] + 1)), ends)

    def text(self, raw: bytes, index: int) -> str:
        return raw[self.starts[index] : self.ends[index]].decode("utf-8").rstrip("\r")


# The field count of a line whose quoting cannot be read on its own (an unclosed quote: a quoted line
# break, which no column needs, or a stray quote).
BAD_QUOTING = -1


def _field_counts(raw: bytes, data: np.ndarray, lines: _Lines) -> np.ndarray:
    """Fields per line. No valid value holds a comma, so counting separators is exact for a line
    without quotes (and fast); a line with a quote (RFC 4180 quoting, as `csv.QUOTE_ALL` writes)
    is counted by the csv module, each physical line on its own. pandas would silently pad short
    rows, shift long ones into an index, or join lines at an unclosed quote."""
    commas_before = np.searchsorted(np.flatnonzero(data == ord(",")), lines.ends)
    counts = np.diff(commas_before, prepend=0) + 1
    for index in np.unique(np.searchsorted(lines.ends, np.flatnonzero(data == ord('"')))).tolist():
        try:
            counts[index] = len(next(csv.reader([lines.text(raw, index)], strict=True)))
        except csv.Error:
            counts[index] = BAD_QUOTING
    return counts


def _first(mask: pd.Series) -> int:
    return int(mask.to_numpy().argmax())


@dataclass(frozen=True)
class _Finding:
    """Rows (positions in the frame) that one check found bad, and the words for it."""

    rows: np.ndarray
    column: str | None
    problem: str


class _Table:
    """The rows of a CSV file as a raw string frame, and column converters over it.

    Each converter marks the rows it cannot convert; the first problem found in a row is the one
    reported. Lines with the wrong number of fields never reach the frame. `settle` then keeps the
    valid rows, typed, or fails.
    """

    def __init__(self, raw: bytes, source: str, columns: tuple[str, ...]):
        _check_file(raw, source, columns)
        self.raw = raw
        self.source = source
        data = np.frombuffer(raw, dtype=np.uint8)
        self.lines = _Lines.of(data)
        counts = _field_counts(raw, data, self.lines)
        self.expected = len(columns)
        self.wrong_fields = np.flatnonzero(counts != self.expected)  # line indexes, the header is 0
        self.wrong_counts = counts[self.wrong_fields]
        if self.wrong_fields.size:
            # Only the lines with the right fields go to pandas: the stretches between bad lines, joined.
            keep_from = np.concatenate(([0], self.lines.ends[self.wrong_fields] + 1)).tolist()
            keep_to = np.concatenate((self.lines.starts[self.wrong_fields], [len(raw)])).tolist()
            view = memoryview(raw)
            raw = b"".join(view[start:end] for start, end in zip(keep_from, keep_to, strict=True))
        # Numeric columns are left to pandas' C parser (fast), quoted or not; anything it cannot read as
        # a number stays text and is pinpointed by `numbers`. Every line left has its quotes closed on
        # that line, so no quote can join lines: rows and lines match.
        text_columns = {name: str for name in columns if name not in NUMERIC_FEATURES and name != ID}
        self.frame = pd.read_csv(io.BytesIO(raw), dtype=text_columns, keep_default_na=False)
        self.line_indexes = np.delete(np.arange(1, len(self.lines.ends)), self.wrong_fields - 1)
        if len(self.frame) != len(self.line_indexes):
            # pandas also ends a row at a lone carriage return: rows and line numbers would not match.
            stray = re.search(rb"\r(?!\n)", self.raw)
            line = self.raw[: stray.start() if stray else 0].count(b"\n") + 1
            raise StepError(f"{source}: line {line}: a carriage return inside the line")
        self.bad = np.zeros(len(self.frame), dtype=bool)
        self.findings: list[_Finding] = []
        self.dtypes: dict[str, str] = {}
        self.flag(self.frame[columns[0]] == columns[0], None, "repeats the header")

    def flag(self, mask: pd.Series, column: str | None, problem: str) -> None:
        new = mask.to_numpy(dtype=bool, na_value=True) & ~self.bad
        if new.any():
            self.bad |= new
            self.findings.append(_Finding(np.flatnonzero(new), column, problem))

    def numbers(self, column: str, spec: NumericColumn) -> pd.Series:
        values = self.frame[column]
        if values.dtype.kind not in "iuf":
            values = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
            self.flag(values.isna(), column, "is not a number")
        if spec.integer:
            self.flag(values != values.round(), column, "is not a whole number")
            self.dtypes[column] = "int64"
        self.flag(~values.between(spec.low, spec.high), column, f"is outside [{spec.low}, {spec.high}]")
        return values.astype("float64")

    def categories(self, column: str, allowed: tuple[str, ...]) -> pd.Series:
        values = self.frame[column].str.strip()
        self.flag(~values.isin(allowed), column, f"is not one of {', '.join(allowed)}")
        return values

    def binary(self, column: str, required: bool) -> pd.Series:
        lowered = self.frame[column].str.strip().str.lower()
        result = pd.Series(pd.NA, index=lowered.index, dtype="Int8")
        result[lowered.isin(_TRUE)] = 1
        result[lowered.isin(_FALSE)] = 0
        unknown = result.isna() & ((lowered != "") | required)
        self.flag(unknown, column, "is not true/false or 1/0")
        if required:
            self.dtypes[column] = "int8"
        return result

    def timestamps(self, column: str) -> pd.Series:
        parsed = pd.to_datetime(self.frame[column].str.strip(), errors="coerce", utc=True, format="ISO8601")
        self.flag(parsed.isna(), column, "is not an ISO 8601 timestamp")
        return self.frame[column].str.strip()

    def features(self) -> pd.DataFrame:
        columns = {}
        for name in FEATURES:
            if name in NUMERIC_FEATURES:
                columns[name] = self.numbers(name, NUMERIC_FEATURES[name])
            else:
                columns[name] = self.categories(name, CATEGORICAL_FEATURES[name])
        return pd.DataFrame(columns)

    def settle(self, typed: pd.DataFrame, max_bad_share: float) -> tuple[pd.DataFrame, tuple[QuarantinedRow, ...]]:
        """The valid rows of `typed`, cast to their final types, and the bad lines set aside; StepError
        naming the first bad line when the bad rows are more than `max_bad_share` of all rows."""
        bad_rows = int(self.bad.sum()) + self.wrong_fields.size
        if bad_rows == 0:
            return typed.astype(self.dtypes), ()
        rows = len(self.frame) + self.wrong_fields.size
        if bad_rows > max_bad_share * rows:
            line, reason = min(self._problems(first_only=True))
            raise StepError(f"{self.source}: line {line}: {reason}{self._tally(bad_rows, rows, max_bad_share)}")
        quarantined = tuple(
            QuarantinedRow(line, self.lines.text(self.raw, line - 1), reason)
            for line, reason in sorted(self._problems(first_only=False))
        )
        valid = typed[~self.bad].reset_index(drop=True).astype(self.dtypes)
        return valid, quarantined

    def _problems(self, first_only: bool) -> list[tuple[int, str]]:
        """(line number, reason) of the bad rows; with `first_only`, of the first row of each kind."""
        take = slice(0, 1) if first_only else slice(None)
        problems = []
        for index, found in zip(self.wrong_fields[take], self.wrong_counts[take], strict=True):
            relation = "fewer" if found < self.expected else "more"
            reason = f"{found} fields, {relation} than the {self.expected} columns"
            if found == BAD_QUOTING:
                reason = "quoting is not valid CSV on this line (an unclosed quote, or text after a closing quote)"
            problems.append((int(index) + 1, reason))
        for finding in self.findings:
            for row in finding.rows[take]:
                problems.append((int(self.line_indexes[row]) + 1, self._reason(finding, int(row))))
        return problems

    def _reason(self, finding: _Finding, row: int) -> str:
        if finding.column is None:
            return finding.problem
        value = self.frame[finding.column].iloc[row]
        text = format(value, "g") if isinstance(value, float) else str(value)
        shown = "is empty" if text.strip() == "" else f"value {text!r} {finding.problem}"
        return f"column {finding.column} {shown}"

    @staticmethod
    def _tally(bad_rows: int, rows: int, max_bad_share: float) -> str:
        if max_bad_share > 0:
            return (
                f" ({bad_rows} of {rows} rows are bad, {bad_rows / rows:.1%}: more than the "
                f"{max_bad_share:.1%} that may be quarantined)"
            )
        return f" ({bad_rows} bad rows in all)" if bad_rows > 1 else ""
