"""The data contract: columns, types and ranges of reference and production data, and the
validation that turns a CSV file into a typed DataFrame or one clear error line.

Reference data (the Kaggle "student_lifestyle_100k" schema):
    Student_ID, Age, Gender, Department, CGPA, Sleep_Duration, Study_Hours,
    Social_Media_Hours, Physical_Activity, Stress_Level, Depression
Production data (appended by the serving API):
    timestamp, <the nine feature columns>, prediction, actual   (actual empty until known)

Errors name the file, the line (the header is line 1) and the column, and nothing is repaired
silently: a step that gets bad input stops before it changes anything.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mindpulse.step import StepError


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
    frame = _parse_table(raw, source, REFERENCE_COLUMNS)
    table = _Table(frame, source)
    typed = pd.DataFrame({ID: table.integers(ID)})
    typed = typed.join(table.features())
    typed[TARGET] = table.binary(TARGET, required=True)
    duplicated = typed[ID].duplicated()
    if duplicated.any():
        row = _first(duplicated)
        raise StepError(f"{source}: line {row + 2}: duplicate {ID} {typed[ID].iloc[row]}")
    return typed


def parse_production(raw: bytes, source: str) -> pd.DataFrame:
    """Production rows; `actual` is a nullable integer, missing while the outcome is unknown."""
    frame = _parse_table(raw, source, PRODUCTION_COLUMNS)
    table = _Table(frame, source)
    typed = pd.DataFrame({TIMESTAMP: table.timestamps(TIMESTAMP)})
    typed = typed.join(table.features())
    typed[PREDICTION] = table.binary(PREDICTION, required=True)
    typed[ACTUAL] = table.binary(ACTUAL, required=False)
    return typed


def header_line(columns: tuple[str, ...]) -> bytes:
    return (",".join(columns) + "\n").encode()


def labelled(production: pd.DataFrame) -> pd.DataFrame:
    return production[production[ACTUAL].notna()]


def _parse_table(raw: bytes, source: str, columns: tuple[str, ...]) -> pd.DataFrame:
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
    header = text.split("\n", 1)[0].rstrip("\r").split(",")
    _check_header(header, columns, source)
    if text.count("\n") == 1:
        raise StepError(f"{source}: has a header but no rows")
    _check_field_counts(raw, len(columns), source)
    # Numeric columns are left to pandas' C parser (fast); anything it cannot read as a number
    # stays text and is pinpointed by `_Table.numbers`.
    text_columns = {name: str for name in columns if name not in NUMERIC_FEATURES and name != ID}
    frame = pd.read_csv(io.BytesIO(raw), dtype=text_columns, keep_default_na=False)
    repeated_header = frame[columns[0]] == columns[0]
    if repeated_header.any():
        raise StepError(f"{source}: line {_first(repeated_header) + 2}: repeats the header")
    return frame.reset_index(drop=True)


def _check_header(header: list[str], columns: tuple[str, ...], source: str) -> None:
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        raise StepError(f"{source}: line 1: header is not comma-separated")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise StepError(f"{source}: line 1: duplicated column {', '.join(duplicated)}")
    missing = [name for name in columns if name not in header]
    extra = [name for name in header if name not in columns]
    if missing or extra:
        parts = [f"missing column {', '.join(missing)}"] if missing else []
        parts += [f"unexpected column {', '.join(extra)}"] if extra else []
        raise StepError(f"{source}: line 1: {'; '.join(parts)}")


def _check_field_counts(raw: bytes, expected: int, source: str) -> None:
    """Every line must have exactly the header's fields (no column holds a comma, so counting
    separators is exact); pandas would silently pad short rows or shift long ones into an index."""
    data = np.frombuffer(raw, dtype=np.uint8)
    line_ends = np.flatnonzero(data == ord("\n"))
    commas_before = np.searchsorted(np.flatnonzero(data == ord(",")), line_ends)
    per_line = np.diff(commas_before, prepend=0)
    wrong = np.flatnonzero(per_line != expected - 1)
    if wrong.size:
        found = int(per_line[wrong[0]]) + 1
        relation = "fewer" if found < expected else "more"
        raise StepError(f"{source}: line {wrong[0] + 1}: {found} fields, {relation} than the {expected} columns")


def _first(mask: pd.Series) -> int:
    return int(mask.to_numpy().argmax())


class _Table:
    """Column converters over the raw string frame, each failing on its first bad row."""

    def __init__(self, frame: pd.DataFrame, source: str):
        self.frame = frame
        self.source = source

    def fail(self, mask: pd.Series, column: str, problem: str) -> None:
        if mask.any():
            row = _first(mask)
            value = self.frame[column].iloc[row]
            text = format(value, "g") if isinstance(value, float) else str(value)
            shown = "is empty" if text.strip() == "" else f"value {text!r} {problem}"
            raise StepError(f"{self.source}: line {row + 2}: column {column} {shown}")

    def numbers(self, column: str, spec: NumericColumn) -> pd.Series:
        values = self.frame[column]
        if values.dtype.kind not in "iuf":
            values = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
            self.fail(values.isna(), column, "is not a number")
        if spec.integer:
            self.fail(values != values.round(), column, "is not a whole number")
        self.fail(~values.between(spec.low, spec.high), column, f"is outside [{spec.low}, {spec.high}]")
        return values.astype("int64" if spec.integer else "float64")

    def integers(self, column: str) -> pd.Series:
        return self.numbers(column, NumericColumn(0, float("inf"), integer=True))

    def categories(self, column: str, allowed: tuple[str, ...]) -> pd.Series:
        values = self.frame[column].str.strip()
        self.fail(~values.isin(allowed), column, f"is not one of {', '.join(allowed)}")
        return values

    def binary(self, column: str, required: bool) -> pd.Series:
        lowered = self.frame[column].str.strip().str.lower()
        result = pd.Series(pd.NA, index=lowered.index, dtype="Int8")
        result[lowered.isin(_TRUE)] = 1
        result[lowered.isin(_FALSE)] = 0
        unknown = result.isna() & ((lowered != "") | required)
        self.fail(unknown, column, "is not true/false or 1/0")
        return result.astype("int8") if required else result

    def timestamps(self, column: str) -> pd.Series:
        parsed = pd.to_datetime(self.frame[column].str.strip(), errors="coerce", utc=True, format="ISO8601")
        self.fail(parsed.isna(), column, "is not an ISO 8601 timestamp")
        return self.frame[column].str.strip()

    def features(self) -> pd.DataFrame:
        columns = {}
        for name in FEATURES:
            if name in NUMERIC_FEATURES:
                columns[name] = self.numbers(name, NUMERIC_FEATURES[name])
            else:
                columns[name] = self.categories(name, CATEGORICAL_FEATURES[name])
        return pd.DataFrame(columns)
