"""Bad input at the DAG level: malformed production and reference files, each run through the real
ml_retrain_pipeline (`airflow dags test`, every task a container of the built step images).

Every case must end with a failed or skipped task whose log names the problem, the live model unchanged and no
production row lost: the three volumes byte-identical afterwards. The exception is the quarantine case, a few
bad rows among many good ones: the run goes on without them, the archive holds the consumed bytes exactly, the
quarantine file lists the bad rows with their reasons, and the run summary says so.

Cost: an `airflow dags test` process spends about 20 s importing Airflow and starting its in-process API
before its first task, then a bad file fails within seconds. So the cases run in WORKERS Airflow processes side
by side (run_dag_cases.py), each with its own AIRFLOW_HOME, each running `airflow dags test` for the next case
no other worker has taken; every case has its own volumes. The seed is small (REFERENCE_ROWS), so that the one
case that retrains is quick. All cases run once, in the module fixture; each test then checks one case.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.integration.airflow_harness import REPO, TOOL_IMAGE, Harness, Volumes, airflow_executable

pytestmark = [pytest.mark.airflow, pytest.mark.docker]

DAG_ID = "ml_retrain_pipeline"
RUN_CASES = Path(__file__).with_name("run_dag_cases.py")
# Measured on the two-core machine, 37 cases: 2 workers 193 s, 3 workers 147-160 s, 4 workers 165 s. A case spends
# ~4 of its ~8 s in `dags test` polling once a second while the failure reaches the last task, so a third fits.
WORKERS = 3
REFERENCE_ROWS = 3000
PRODUCTION_ROWS = 1500  # all labelled: enough for check_production_data to ask for a retrain
AFTER_CHECKS = (
    "backup_current_model",
    "merge_production_data",
    "train_new_model",
    "archive_production_data",
    "notify_retrain_success",
)

Replacement = bytes | Literal["directory", "absent"]


# --- making bad files from good ones ------------------------------------------------------------------------------


def _lines(raw: bytes) -> list[bytes]:
    return raw.removesuffix(b"\n").split(b"\n")


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def _edit_cells(raw: bytes, column: str, value: bytes, lines: Callable[[int], bool]) -> bytes:
    """Set `column` to `value` on every data line whose number (the header is line 1) `lines` selects."""
    rows = _lines(raw)
    index = rows[0].split(b",").index(column.encode())
    for number in range(2, len(rows) + 1):
        if lines(number):
            cells = rows[number - 1].split(b",")
            cells[index] = value
            rows[number - 1] = b",".join(cells)
    return _join(rows)


def cell(column: str, value: str, line: int) -> Callable[[bytes], bytes]:
    return lambda raw: _edit_cells(raw, column, value.encode(), lambda number: number == line)


def every(column: str, value: str, step: int) -> Callable[[bytes], bytes]:
    """`value` in `column` on lines step + 1, 2 * step + 1, ...: 1/step of the rows."""
    return lambda raw: _edit_cells(raw, column, value.encode(), lambda number: (number - 1) % step == 0)


def latin1_at(line: int, column: str) -> Callable[[bytes], bytes]:
    """A value written as Latin-1, not UTF-8, on one line: "Mâle"."""
    return lambda raw: _edit_cells(raw, column, "Mâle".encode("latin-1"), lambda number: number == line)


def short_rows(lines: Callable[[int], bool]) -> Callable[[bytes], bytes]:
    """The last field cut off on the data lines `lines` selects."""
    return lambda raw: _join(
        [row.rsplit(b",", 1)[0] if number > 1 and lines(number) else row
         for number, row in enumerate(_lines(raw), start=1)]
    )  # fmt: skip


def header_at(line: int) -> Callable[[bytes], bytes]:
    """The header again in place of the row on `line`, as when two files are concatenated."""

    def repeat(raw: bytes) -> bytes:
        rows = _lines(raw)
        rows[line - 1] = rows[0]
        return _join(rows)

    return repeat


def drop_column(column: str) -> Callable[[bytes], bytes]:
    def drop(raw: bytes) -> bytes:
        rows = [row.split(b",") for row in _lines(raw)]
        index = rows[0].index(column.encode())
        return _join([b",".join(cells[:index] + cells[index + 1 :]) for cells in rows])

    return drop


def add_column(column: str, value: str) -> Callable[[bytes], bytes]:
    def add(raw: bytes) -> bytes:
        rows = _lines(raw)
        return _join([rows[0] + b"," + column.encode()] + [row + b"," + value.encode() for row in rows[1:]])

    return add


def rename_column(old: str, new: str) -> Callable[[bytes], bytes]:
    return lambda raw: raw.replace(old.encode(), new.encode(), 1)


def duplicate_column(column: str) -> Callable[[bytes], bytes]:
    def duplicate(raw: bytes) -> bytes:
        rows = [row.split(b",") for row in _lines(raw)]
        index = rows[0].index(column.encode())
        return _join([b",".join([*cells, cells[index]]) for cells in rows])

    return duplicate


def header_only(raw: bytes) -> bytes:
    return _lines(raw)[0] + b"\n"


def without_header(raw: bytes) -> bytes:
    return _join(_lines(raw)[1:])


def truncated(raw: bytes) -> bytes:
    return raw[:-7]  # the last line cut mid-value, as by a writer killed mid-write


def semicolons(raw: bytes) -> bytes:
    return raw.replace(b",", b";")


def with_bom(raw: bytes) -> bytes:
    return b"\xef\xbb\xbf" + raw


def whitespace(_: bytes) -> bytes:
    return b"\n \n"


def zero_bytes(_: bytes) -> bytes:
    return b""


# --- the table ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    file: Literal["prod_data.csv", "reference_data.csv"]
    make: Callable[[bytes], Replacement]
    outcome: Literal["failed", "skipped", "quarantined"]
    problem: str  # what the log must say: on the line "ERROR: /data/<file>: ..." of a failure


PROD, REF = "prod_data.csv", "reference_data.csv"
NOT_QUARANTINED = "that may be quarantined)"

CASES = [
    Case("prod-missing-column", PROD, drop_column("CGPA"), "failed", "line 1: missing column CGPA"),
    Case("prod-extra-column", PROD, add_column("Mood", "ok"), "failed", "line 1: unexpected column Mood"),
    Case(
        "prod-renamed-column",
        PROD,
        rename_column("Sleep_Duration", "Sleep"),
        "failed",
        "line 1: missing column Sleep_Duration; unexpected column Sleep",
    ),
    Case("prod-duplicated-column", PROD, duplicate_column("Age"), "failed", "line 1: duplicated column Age"),
    Case("prod-no-header", PROD, without_header, "failed", "line 1: no header"),
    Case(
        "prod-wrong-type-in-many-rows",
        PROD,
        every("Stress_Level", "high", 10),
        "failed",
        "line 11: column Stress_Level value 'high' is not a number (150 of 1500 rows are bad, 10.0%",
    ),
    Case(
        "prod-nan-in-many-rows",
        PROD,
        every("Study_Hours", "NaN", 20),
        "failed",
        "line 21: column Study_Hours value 'NaN' is not a number (75 of 1500 rows are bad, 5.0%",
    ),
    Case(
        "prod-out-of-range-in-many-rows",
        PROD,
        every("CGPA", "7.5", 40),
        "failed",
        "line 41: column CGPA value '7.5' is outside [0.0, 4.0] (37 of 1500 rows are bad, 2.5%",
    ),
    Case(
        "prod-unseen-category-in-many-rows",
        PROD,
        every("Department", "Law", 50),
        "failed",
        "line 51: column Department value 'Law' is not one of Arts, Business, Engineering, Medical, Science "
        "(30 of 1500 rows are bad, 2.0%",
    ),
    Case(
        "prod-short-rows",
        PROD,
        short_rows(lambda number: (number - 1) % 25 == 0),
        "failed",
        "line 26: 11 fields, fewer than the 12 columns (60 of 1500 rows are bad, 4.0%",
    ),
    Case("prod-truncated-last-line", PROD, truncated, "failed", "line 1501: truncated last line"),
    Case("prod-semicolons", PROD, semicolons, "failed", "line 1: header is not comma-separated"),
    Case("prod-byte-order-mark", PROD, with_bom, "failed", "starts with a UTF-8 byte-order mark"),
    Case("prod-latin1", PROD, latin1_at(700, "Gender"), "failed", "line 700: bytes that are not UTF-8"),
    Case("prod-directory", PROD, lambda _: "directory", "failed", "is a directory, expected a CSV file"),
    # No production rows is the normal state between a run and the next append: the checks skip.
    Case("prod-header-only", PROD, header_only, "skipped", "/data/prod_data.csv: 0 rows, 0 labelled"),
    Case("prod-zero-bytes", PROD, zero_bytes, "skipped", "/data/prod_data.csv: 0 rows, 0 labelled"),
    Case("prod-whitespace-only", PROD, whitespace, "skipped", "/data/prod_data.csv: 0 rows, 0 labelled"),
    # Reference data is never quarantined: one bad row fails it.
    Case("ref-missing-column", REF, drop_column("Stress_Level"), "failed", "line 1: missing column Stress_Level"),
    Case("ref-extra-column", REF, add_column("Mood", "ok"), "failed", "line 1: unexpected column Mood"),
    Case(
        "ref-renamed-column",
        REF,
        rename_column("Department", "Faculty"),
        "failed",
        "line 1: missing column Department; unexpected column Faculty",
    ),
    Case("ref-duplicated-column", REF, duplicate_column("CGPA"), "failed", "line 1: duplicated column CGPA"),
    Case("ref-wrong-type", REF, cell("Age", "twenty", 500), "failed", "line 500: column Age value 'twenty' is not"),
    Case("ref-nan", REF, cell("Sleep_Duration", "NaN", 600), "failed", "line 600: column Sleep_Duration value 'NaN'"),
    Case("ref-out-of-range", REF, cell("Age", "70", 700), "failed", "line 700: column Age value '70' is outside"),
    Case("ref-unseen-category", REF, cell("Gender", "Robot", 800), "failed", "line 800: column Gender value 'Robot'"),
    Case("ref-duplicate-id", REF, cell("Student_ID", "1", 900), "failed", "line 900: duplicate Student_ID 1"),
    Case("ref-zero-bytes", REF, zero_bytes, "failed", "file is empty"),
    Case("ref-whitespace-only", REF, whitespace, "failed", "file is empty"),
    Case("ref-header-only", REF, header_only, "failed", "has a header but no rows"),
    Case("ref-truncated-last-line", REF, truncated, "failed", "truncated last line"),
    Case("ref-semicolons", REF, semicolons, "failed", "line 1: header is not comma-separated"),
    Case("ref-byte-order-mark", REF, with_bom, "failed", "starts with a UTF-8 byte-order mark"),
    Case("ref-latin1", REF, latin1_at(300, "Gender"), "failed", "line 300: bytes that are not UTF-8"),
    Case("ref-directory", REF, lambda _: "directory", "failed", "is not a regular file"),
    Case("ref-absent", REF, lambda _: "absent", "failed", "reference data is missing"),
]

# The quarantine case: a few bad rows (0.5%) among 1500, each of another kind. line -> (edit, reason)
QUARANTINED = {
    2: (header_at(2), "repeats the header"),
    150: (cell("Age", "99", 150), "column Age value '99' is outside [16, 60]"),
    300: (cell("Department", "Law", 300), "column Department value 'Law' is not one of"),
    450: (cell("Study_Hours", "NaN", 450), "column Study_Hours value 'NaN' is not a number"),
    600: (cell("Stress_Level", "high", 600), "column Stress_Level value 'high' is not a number"),
    750: (short_rows(lambda number: number == 750), "11 fields, fewer than the 12 columns"),
    900: (cell("Sleep_Duration", "", 900), "column Sleep_Duration is empty"),
    1050: (cell("CGPA", "4.7", 1050), "column CGPA value '4.7' is outside [0.0, 4.0]"),
}  # fmt: skip


def with_a_few_bad_rows(raw: bytes) -> bytes:
    for edit, _ in QUARANTINED.values():
        raw = edit(raw)
    return raw


CASES.append(Case("prod-a-few-bad-rows-quarantined", PROD, with_a_few_bad_rows, "quarantined", "repeats the header"))


# --- running the table ----------------------------------------------------------------------------------------------

# Lists the files of every case's volumes as {case index: {"/data/...": sha256 or "-> target" or "<dir>"}}.
SNAPSHOT_ALL = """
import hashlib, json, os
cases = {}
for case in sorted(os.listdir("/cases")):
    files = {}
    for kind in ("data", "models", "reports"):
        root = os.path.join("/cases", case, kind)
        for folder, dirs, names in os.walk(root):
            for name in dirs + names:
                path = os.path.join(folder, name)
                key = "/" + kind + path[len(root):]
                if os.path.islink(path):
                    files[key] = "-> " + os.readlink(path)
                elif os.path.isdir(path):
                    files[key] = "<dir>"
                else:
                    with open(path, "rb") as handle:
                        files[key] = hashlib.sha256(handle.read()).hexdigest()
    cases[case] = files
print(json.dumps(cases))
"""


@dataclass(frozen=True)
class Outcome:
    state: str | None
    tasks: dict[str, str]
    results: dict[str, dict[str, Any]]
    error: str | None
    log: str
    before: dict[str, str]
    after: dict[str, str]
    volumes: Volumes


def _all_volumes(volumes: list[Volumes], mode: str) -> dict[str, dict[str, str]]:
    binds = {}
    for index, case in enumerate(volumes):
        for kind, name in case.names.items():
            binds[name] = {"bind": f"/cases/{index:02d}/{kind}", "mode": mode}
    return binds


def _prepare(harness: Harness, base: Volumes, volumes: list[Volumes], good: dict[str, bytes]) -> dict[str, Any]:
    """Copy the base into every case's volumes, put each case's bad file in place, snapshot them all:
    one container for all cases, the bad files handed over as a tar archive."""
    archive = io.BytesIO()
    script = ["set -e"]
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for index, case in enumerate(CASES):
            target = f"/cases/{index:02d}/data/{case.file}"
            script.append(f"for kind in {' '.join(base.names)}; do cp -a /base/$kind/. /cases/{index:02d}/$kind/; done")
            replacement = case.make(good[case.file])
            if replacement == "directory":
                script.append(f"rm -f {target} && mkdir {target} && chown 10001:10001 {target}")
            elif replacement == "absent":
                script.append(f"rm -f {target}")
            else:
                member = tarfile.TarInfo(f"inputs/{index:02d}")
                member.size = len(replacement)
                tar.addfile(member, io.BytesIO(replacement))
                script.append(f"cat /inputs/{index:02d} > {target}")  # keeps the file's owner and mode
        for name, content in (("inputs/prepare.sh", "\n".join(script) + "\n"), ("inputs/snapshot.py", SNAPSHOT_ALL)):
            member = tarfile.TarInfo(name)
            member.size = len(content.encode())
            tar.addfile(member, io.BytesIO(content.encode()))
    binds = _all_volumes(volumes, "rw") | {
        name: {"bind": f"/base/{kind}", "mode": "ro"} for kind, name in base.names.items()
    }
    container = harness.client.containers.create(
        TOOL_IMAGE, ["sh", "-c", "sh /inputs/prepare.sh && python /inputs/snapshot.py"],
        volumes=binds, user="root", network_mode="none",
    )  # fmt: skip
    try:
        container.put_archive("/", archive.getvalue())
        container.start()
        assert container.wait()["StatusCode"] == 0, container.logs().decode()[-3000:]
        return json.loads(container.logs(stderr=False))
    finally:
        container.remove()


def _snapshot_all(harness: Harness, volumes: list[Volumes]) -> dict[str, Any]:
    output = harness.client.containers.run(
        TOOL_IMAGE, ["python", "-c", SNAPSHOT_ALL], volumes=_all_volumes(volumes, "ro"),
        network_mode="none", remove=True,
    )  # fmt: skip
    return json.loads(output)


def _run_workers(harness: Harness, volumes: list[Volumes], scratch: Path) -> None:
    """The cases in WORKERS Airflow processes, each with a copy of the harness's migrated metadata DB."""
    names = [f"{index:02d}" for index in range(len(CASES))]
    # The slowest case (the quarantine case retrains) first; the workers share the list.
    order = sorted(range(len(CASES)), key=lambda index: CASES[index].outcome != "quarantined")
    cases = [{"name": names[index], "dag_id": DAG_ID, "environment": volumes[index].environment()} for index in order]
    (scratch / "cases.json").write_text(json.dumps(cases))
    workers = []
    for worker in range(WORKERS):
        home = scratch / f"worker-{worker}"
        home.mkdir()
        shutil.copy(harness.airflow_home / "airflow.db", home / "airflow.db")
        environment = harness.airflow_environment({"AIRFLOW_HOME": str(home)})
        log = open(home / "worker.log", "wb")  # noqa: SIM115 (closed below, once the worker is done)
        python = airflow_executable().with_name("python")
        command = [str(python), str(RUN_CASES), str(scratch / "cases.json"), str(scratch)]
        workers.append((subprocess.Popen(command, env=environment, stdout=log, stderr=log, cwd=REPO), log, home))
    for process, log, home in workers:
        code = process.wait(timeout=1800)
        log.close()
        assert code == 0, f"worker in {home} failed:\n{(home / 'worker.log').read_text()[-6000:]}"


@pytest.fixture(scope="module")
def outcomes(harness: Harness, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    started = time.monotonic()
    base = harness.new_volumes("bad-base")
    harness.run_step("bootstrap", base, REFERENCE_ROWS=str(REFERENCE_ROWS), SEED="42")
    harness.run_step("simulate_traffic", base, ROWS=str(PRODUCTION_ROWS), SEED="5")
    good = {name: harness.read(base, f"/data/{name}").encode() for name in (PROD, REF)}
    volumes = [harness.new_volumes(f"bad-{index:02d}") for index in range(len(CASES))]
    before = _prepare(harness, base, volumes, good)
    prepared = time.monotonic()

    scratch = tmp_path_factory.mktemp("bad-inputs")
    _run_workers(harness, volumes, scratch)
    ran = time.monotonic()

    after = _snapshot_all(harness, volumes)
    print(
        f"{len(CASES)} bad-input cases: prepared in {prepared - started:.0f} s, ran in {ran - prepared:.0f} s "
        f"with {WORKERS} Airflow processes, {time.monotonic() - started:.0f} s in all"
    )
    found = {}
    for index, case in enumerate(CASES):
        name = f"{index:02d}"
        run = json.loads((scratch / f"{name}.json").read_text())
        log = (scratch / f"{name}.log").read_text(errors="replace")
        found[case.name] = Outcome(**run, log=log, before=before[name], after=after[name], volumes=volumes[index])
    return found


# --- the checks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [case for case in CASES if case.outcome != "quarantined"], ids=lambda case: case.name)
def test_a_bad_file_stops_the_run_names_the_problem_and_changes_nothing(
    case: Case, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[case.name]
    assert outcome.error is None, outcome.error
    if case.outcome == "skipped":
        assert outcome.state == "success"
        assert set(outcome.tasks.values()) == {"skipped"}, outcome.tasks
        assert case.problem in outcome.log
    else:
        # Bad production data fails both checks (both read it); bad reference data fails detect_drift, the
        # one check that reads it, and backup_current_model waits for both checks.
        failing = {"check_production_data", "detect_drift"} if case.file == PROD else {"detect_drift"}
        assert outcome.state == "failed"
        assert outcome.tasks == {
            "check_production_data": "failed" if case.file == PROD else "success",
            "detect_drift": "failed",
            **dict.fromkeys(AFTER_CHECKS, "upstream_failed"),
        }
        named = re.findall(rf"ERROR: /data/{case.file}: [^\n]*{re.escape(case.problem)}", outcome.log)
        assert len(named) == len(failing), outcome.log[-3000:]
    # Live model, production data, reports: every file as it was, byte for byte.
    assert outcome.after == outcome.before
    assert outcome.before["/models/current"] == "-> versions/v0001"


def test_a_few_bad_production_rows_are_quarantined_and_the_run_goes_on(
    harness: Harness, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes["prod-a-few-bad-rows-quarantined"]
    assert outcome.error is None, outcome.error
    assert outcome.state == "success"
    assert outcome.tasks == {
        "check_production_data": "success",
        "detect_drift": "skipped",
        **dict.fromkeys(AFTER_CHECKS, "success"),
    }
    bad = len(QUARANTINED)
    good_rows = PRODUCTION_ROWS - bad
    check, merge = outcome.results["check_production_data"], outcome.results["merge_production_data"]
    assert (check["production_rows"], check["quarantined_rows"]) == (good_rows, bad)
    assert (merge["production_rows"], merge["quarantined_rows"]) == (good_rows, bad)
    assert outcome.results["archive_production_data"]["archived_rows"] == PRODUCTION_ROWS

    # Every consumed byte is in the archive, bad lines included; prod_data.csv keeps its header only.
    archives = {path: digest for path, digest in outcome.after.items() if path.startswith("/data/archive/")}
    assert list(archives.values()) == [outcome.before["/data/prod_data.csv"]]
    stamp = Path(next(iter(archives))).stem.removeprefix("prod_data_archived_")
    production = harness.read(outcome.volumes, "/data/prod_data.csv")
    assert production == harness.read(outcome.volumes, next(iter(archives))).split("\n", 1)[0] + "\n"

    # The quarantine file of the same run lists each bad line: number, reason, the line as it was.
    assert merge["quarantine_file"] == f"/data/quarantine/prod_data_quarantined_{stamp}.csv"
    listed = list(csv.reader(io.StringIO(harness.read(outcome.volumes, merge["quarantine_file"]))))
    archived_lines = harness.read(outcome.volumes, next(iter(archives))).split("\n")
    assert listed[0] == ["line_number", "reason", "original_line"]
    assert [int(row[0]) for row in listed[1:]] == sorted(QUARANTINED)
    for number, reason, text in listed[1:]:
        assert text == archived_lines[int(number) - 1]
        assert QUARANTINED[int(number)][1] in reason

    # The summary says how many rows were set aside and where; the log of every reading step names them.
    summaries = [path for path in outcome.after if Path(path).name.startswith("retrain_summary_")]
    summary = json.loads(harness.read(outcome.volumes, summaries[0]))
    assert (summary["quarantined_rows"], summary["quarantine_file"]) == (bad, merge["quarantine_file"])
    assert f"Quarantined: {bad} bad production rows set aside, not trained on; lines and reasons in " in outcome.log
    assert outcome.log.count(f"/data/prod_data.csv: {bad} bad rows set aside (quarantined), not used:") == 3
    assert outcome.log.count("line 150: column Age value '99' is outside [16, 60]") == 3
