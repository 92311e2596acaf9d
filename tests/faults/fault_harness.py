"""What the fault tests share: retrain steps run (and killed) as the orchestrator runs them, a look at
every file of the three volumes, and the invariants a fault must not break.

A step runs locked down as LockedDownDockerOperator runs it (read-only root, tmpfs /tmp, no capability,
no network, the volume access of ml_retrain_pipeline). Every run of the retrain sequence here uses one
RUN_STAMP, as every try of one DAG run does, so the names it writes (backup, archive, summary) are the
same in an uninterrupted run and in a run that was killed and resumed.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docker.errors import APIError
from docker.models.containers import Container

from mindpulse import catalog, sandbox
from mindpulse.paths import VOLUME_DIRS
from tests.integration.airflow_harness import TAG, TOOL_IMAGE, Harness, Volumes

RUN_STAMP = "20261127_120000"
# How ml_retrain_pipeline mounts the volumes of each step: what a step cannot write, a kill cannot break.
ACCESS: dict[str, dict[str, str]] = {
    step.name: {volume: "rw" if volume in step.writes else "ro" for volume in step.volumes}
    for step in catalog.steps_of(catalog.RETRAIN)
}
MEMORY = {step.name: step.memory for step in catalog.steps_of(catalog.RETRAIN)}
# CPU share the fault tests give a step whose own work takes milliseconds: throttled, its write phase
# lasts long enough for a kill to land inside it. Training and drift take seconds anyway.
THROTTLE = {
    "check_production_data": 0.5,
    "backup_current_model": 0.05,
    "merge_production_data": 0.5,
    "archive_production_data": 0.05,
    "notify_retrain_success": 0.05,
}
# CPU share of a step from the moment a Trigger's `throttle_on` line appears.
CRAWL = 0.05
# The least CPU share the engine grants: a CFS quota of 1 ms per 100 ms period.
LEAST_CPUS = 0.01
KILLED_EXIT_CODE = 128 + 9
CPU_PERIOD = 100_000

# Inspects volume sets mounted at /s0, /s1, ... (read-only) and prints {root: findings} as JSON: every
# path (sha256, "dir" or "-> link target") with file sizes; what is wrong with files under final names
# (unparseable JSON/JSON lines, CSV without a final newline, incomplete version or backup folders,
# checksum mismatches); the registry (versions' status and checksum, audit lines without their time,
# the live version); whether the live model loads (model_file.load, checksum verified first)
# when asked; and the production rows in prod_data.csv and in each archive file.
INSPECT_SCRIPT = r"""
import hashlib, json, os, sys
from pathlib import Path
from mindpulse import registry
from mindpulse.paths import Layout

def sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()

def is_temporary(key):
    return any(part.startswith(".") for part in key.split("/"))

def rows(path):
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]

def inspect(root, load):
    base = Path(root)
    layout = Layout.under(base)
    files, sizes, problems = {}, {}, []
    for volume in ("data", "models", "reports"):
        for folder, dirs, names in os.walk(base / volume):
            for name in dirs + names:
                path = os.path.join(folder, name)
                key = "/" + os.path.relpath(path, root)
                if os.path.islink(path):
                    files[key] = "-> " + os.readlink(path)
                elif os.path.isdir(path):
                    files[key] = "dir"
                else:
                    files[key], sizes[key] = sha(path), os.path.getsize(path)
    final = sorted(key for key in files if not is_temporary(key))
    for key in final:
        path = base / key.lstrip("/")
        if files[key] == "dir" or files[key].startswith("-> "):
            continue
        content = path.read_bytes()
        try:
            if key.endswith(".json"):
                json.loads(content)
            elif key.endswith(".jsonl"):
                for line in content.decode().splitlines():
                    json.loads(line)
        except ValueError as error:
            problems.append(f"{key}: not valid JSON ({error})")
        if key.endswith(".csv") and content and not content.endswith(b"\n"):
            problems.append(f"{key}: ends in a partial line")
    for key in final:
        parts = key.split("/")
        if files[key] == "dir" and len(parts) == 4 and parts[1:3] in (["models", "versions"], ["models", "backups"]):
            folder = base / key.lstrip("/")
            if not (folder / "model.joblib").is_file() or not (folder / "metadata.json").is_file():
                problems.append(f"{key}: incomplete model folder {sorted(os.listdir(folder))}")
                continue
            metadata = json.loads((folder / "metadata.json").read_text())
            if sha(folder / "model.joblib") != metadata.get("model_sha256"):
                problems.append(f"{key}: model.joblib does not match the checksum in its metadata.json")
    versions = {}
    for key in final:
        parts = key.split("/")
        if files[key] == "dir" and len(parts) == 4 and parts[1:3] == ["models", "versions"]:
            metadata = json.loads((base / key.lstrip("/") / "metadata.json").read_text())
            versions[parts[3]] = {"status": metadata.get("status"), "model_sha256": metadata.get("model_sha256")}
    audit = []
    if layout.audit_log.is_file():
        for line in layout.audit_log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # reported as a problem above
            audit.append({name: value for name, value in entry.items() if name != "at"})
    live = os.readlink(layout.current_model_dir) if layout.current_model_dir.is_symlink() else None
    try:
        if load:
            from mindpulse.retrain.model_file import load
            model = f"loaded {type(load(layout)).__name__}"
        else:
            model = f"verified {registry.verified_model_path(layout).name}"
    except Exception as error:
        model = f"ERROR {type(error).__name__}: {error}"
    production = rows(layout.production_data) if "/data/prod_data.csv" in final else None
    archives = {
        key: rows(base / key.lstrip("/"))
        for key in final
        if key.startswith("/data/archive/") and files[key] != "dir"
    }
    return {
        "files": files, "sizes": sizes, "problems": problems, "versions": versions, "audit": audit,
        "live": live, "model": model, "production_rows": production, "archived_rows": archives,
    }

load = sys.argv[1] == "load"
print(json.dumps({root: inspect(root, load) for root in sys.argv[2:]}))
"""

# Names that an interrupted and resumed run writes with other contents than an uninterrupted one, for
# reasons that are no fault: a version's metadata records when it was trained, an audit line when the
# decision was made, and a retrain summary the results of the tries that produced it. Their validity is
# checked instead (JSON, checksums), and the registry's decisions are compared without the times.
VARYING = (
    re.compile(r"/models/versions/v\d+/metadata\.json"),
    # ... and so its signature does (mindpulse.signing).
    re.compile(r"/models/versions/v\d+/metadata\.json\.sig"),
    # The MLflow signature records when it was written (utc_time_created), like metadata.json's created_at.
    re.compile(r"/models/versions/v\d+/MLmodel"),
    re.compile(r"/models/audit\.jsonl"),
    re.compile(r"/reports/retrain_summary_\d{8}_\d{6}\.json"),
)


@dataclass
class StepRun:
    step: str
    exit_code: int
    oom_killed: bool
    stdout: str
    stderr: str
    seconds: float
    killed_after: float | None = None

    @property
    def result(self) -> dict[str, Any] | None:
        """The step protocol's last stdout line, when the step got to print it."""
        lines = self.stdout.strip().splitlines()
        if not lines:
            return None
        try:
            last = json.loads(lines[-1])
        except ValueError:
            return None
        return last if isinstance(last, dict) and last.get("step") == self.step else None

    @property
    def xcom(self) -> dict[str, Any] | None:
        """What the DAG hands on to later steps: the result of a successful run (a skipped task pushes none)."""
        return self.result if self.exit_code == 0 else None

    def describe(self) -> str:
        return (
            f"{self.step}: exit {self.exit_code} after {self.seconds:.2f} s (OOM killed: {self.oom_killed})\n"
            f"stdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}"
        )


@dataclass
class State:
    """What `inspect` found on one set of volumes."""

    files: dict[str, str]
    sizes: dict[str, int]
    problems: list[str]
    versions: dict[str, dict[str, Any]]
    audit: list[dict[str, Any]]
    live: str | None
    model: str
    production_rows: list[str] | None
    archived_rows: dict[str, list[str]]

    def final(self) -> dict[str, str]:
        """Everything under a final name: no path component starts with a dot (mindpulse.atomic and the
        registry write under dot-prefixed temporary names)."""
        return {path: digest for path, digest in self.files.items() if not is_temporary(path)}

    def temporary(self) -> list[str]:
        return sorted(path for path in self.files if is_temporary(path))

    def archived(self) -> Counter[str]:
        return sum((Counter(rows) for rows in self.archived_rows.values()), Counter())

    def pages(self, prefix: str, page: int = 4096) -> int:
        """Bytes the files under `prefix` take on a tmpfs, which allocates whole pages."""
        return sum(-(-size // page) * page for path, size in self.sizes.items() if path.startswith(prefix))


def is_temporary(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


def varies(path: str) -> bool:
    return any(pattern.fullmatch(path) for pattern in VARYING)


@dataclass(frozen=True)
class Trigger:
    """When to kill: after `fraction` of the step's uninterrupted duration, or on the first stdout line
    matching `line`. `throttle_on` slows the container to CRAWL when a line matches it, so that the work
    between that line and the kill lasts long enough to be interrupted."""

    name: str
    fraction: float | None = None
    line: str | None = None
    throttle_on: str | None = None


class FaultHarness(Harness):
    """The integration harness (volumes, Airflow) plus step runs that can be killed and inspections."""

    @classmethod
    def sharing(cls, harness: Harness, airflow_home: Path | None = None) -> FaultHarness:
        """A FaultHarness on the same engine whose volumes go when `harness`'s do."""
        faults = cls(harness.client, airflow_home or harness.airflow_home)
        faults.prefix, faults.created = harness.prefix, harness.created
        return faults

    # --- volumes --------------------------------------------------------------------------------
    def create_volume(self, name: str, **driver_options: str) -> str:
        """A named volume of the local driver, removed with the others; `driver_options` as the `--opt`s of
        `docker volume create`."""
        self.client.volumes.create(name, driver="local", driver_opts=driver_options or None)
        self.created.append(name)
        return name

    def copy_into(self, source: Volumes, target: Volumes) -> Volumes:
        """Copy the files of `source` into the existing, empty volumes `target`, owned by the step user."""
        script = f"{target.copy_script()} && chown 10001:10001 {' '.join(VOLUME_DIRS.values())}"
        self.client.containers.run(
            TOOL_IMAGE,
            ["sh", "-c", script],
            volumes=target.binds("rw") | source.sources(),
            user="root",
            network_mode="none",
            remove=True,
        )
        return target

    def shell(self, volumes: Volumes, script: str) -> str:
        output = self.client.containers.run(
            TOOL_IMAGE, ["sh", "-c", script], volumes=volumes.binds("rw"), network_mode="none", remove=True
        )
        return output.decode()

    # --- steps ----------------------------------------------------------------------------------
    def start(
        self, step: str, volumes: Volumes, environment: dict[str, str] | None = None, cpus: float | None = None
    ) -> Container:
        """Start a retrain step as the DAG starts it; `cpus` caps its CPU time."""
        mounts = {
            getattr(volumes, volume): {"bind": f"/{volume}", "mode": mode} for volume, mode in ACCESS[step].items()
        }
        throttle = {"cpu_period": CPU_PERIOD, "cpu_quota": int(cpus * CPU_PERIOD)} if cpus else {}
        return self.client.containers.run(
            f"{catalog.step(step).image_name}:{TAG}",
            detach=True,
            environment={"RUN_STAMP": RUN_STAMP, **(environment or {})},
            volumes=mounts,
            network_mode="none",
            **sandbox.host_config(),
            mem_limit=MEMORY[step],
            **throttle,
        )

    def finish(self, step: str, container: Container, started: float, killed_after: float | None = None) -> StepRun:
        container.wait(timeout=900)
        seconds = time.monotonic() - started
        container.reload()
        state = container.attrs["State"]
        run = StepRun(
            step,
            state["ExitCode"],
            state["OOMKilled"],
            container.logs(stdout=True, stderr=False).decode(errors="replace"),
            container.logs(stdout=False, stderr=True).decode(errors="replace"),
            seconds,
            killed_after,
        )
        container.remove(force=True)
        return run

    def run(
        self, step: str, volumes: Volumes, environment: dict[str, str] | None = None, cpus: float | None = None
    ) -> StepRun:
        container = self.start(step, volumes, environment, cpus)
        return self.finish(step, container, time.monotonic())

    def run_and_kill(
        self,
        step: str,
        volumes: Volumes,
        trigger: Trigger,
        seconds: float,
        environment: dict[str, str] | None = None,
        cpus: float | None = None,
    ) -> StepRun:
        """Start `step`, SIGKILL it (`docker kill --signal KILL`) when `trigger` fires; `seconds` is how long
        the step takes uninterrupted with the same throttle. `cpus` overrides the step's THROTTLE."""
        throttled_from_start = trigger.throttle_on is None
        cpus = (cpus or THROTTLE.get(step)) if throttled_from_start else None
        container = self.start(step, volumes, environment, cpus)
        started = time.monotonic()
        if trigger.fraction is not None:
            time.sleep(max(0.0, started + trigger.fraction * seconds - time.monotonic()))
        else:
            self._wait_for_line(container, trigger)
        killed_after = time.monotonic() - started
        try:
            container.kill(signal="SIGKILL")
        except APIError as error:
            if error.status_code != 409:  # 409: it is not running any more, said by the exit code below
                raise
        return self.finish(step, container, started, killed_after)

    def _wait_for_line(self, container: Container, trigger: Trigger) -> None:
        pattern = re.compile(trigger.line or "")
        throttle = re.compile(trigger.throttle_on) if trigger.throttle_on else None
        pending = ""
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=False):
            pending += chunk.decode(errors="replace")
            *lines, pending = pending.split("\n")
            for line in lines:
                if throttle and throttle.search(line):
                    container.update(cpu_period=CPU_PERIOD, cpu_quota=int(CRAWL * CPU_PERIOD))
                    throttle = None
                if pattern.search(line):
                    return

    # --- inspection -----------------------------------------------------------------------------
    def inspect(self, *volume_sets: Volumes, load_model: bool = False) -> list[State]:
        """Inspect volume sets, read-only; `load_model` loads the live model in the ml image (else its
        signature and checksum are verified, which the base image can do)."""
        binds: dict[str, dict[str, str]] = {}
        roots = []
        for number, volumes in enumerate(volume_sets):
            roots.append(f"/s{number}")
            for volume, name in volumes.names.items():
                binds[name] = {"bind": f"/s{number}/{volume}", "mode": "ro"}
        image = f"mindpulse/family-ml:{TAG}" if load_model else TOOL_IMAGE
        output = self.client.containers.run(
            image,
            ["python", "-c", INSPECT_SCRIPT, "load" if load_model else "verify", *roots],
            volumes=binds,
            network_mode="none",
            remove=True,
            stderr=False,
        )
        found = json.loads(output.decode().strip().splitlines()[-1])
        return [State(**found[root]) for root in roots]


# --- invariants ---------------------------------------------------------------------------------


def assert_only_old_or_complete_files(after: State, before: State, complete: State) -> None:
    """Every file under a final name holds the bytes it had before the fault, or the bytes an uninterrupted
    step writes there (`complete`); names whose contents vary between runs must at least be valid."""
    assert after.problems == [], after.problems
    for path, digest in after.final().items():
        if before.files.get(path) == digest or complete.files.get(path) == digest:
            continue
        assert varies(path) and path in complete.files, (
            f"{path}: neither what was there before the fault nor what an uninterrupted run writes"
        )
    for path in before.final():
        assert path in after.files or path not in complete.files, f"{path} went missing"


def assert_production_rows_intact(after: State, seed: State) -> None:
    """prod_data.csv is as it was; or each of its rows is in exactly one place: the archive or prod_data.csv.
    While an interrupted archive step is pending (its manifest still there), the archive may already hold a
    copy of rows still in prod_data.csv: a re-run of the step then replaces prod_data.csv (tested by the
    re-runs)."""
    original = Counter(seed.production_rows or [])
    production = Counter(after.production_rows or [])
    archived = after.archived()
    if after.files.get("/data/prod_data.csv") == seed.files["/data/prod_data.csv"]:
        assert archived in (Counter(), original), "the archive holds rows that were never in prod_data.csv"
        if archived:
            assert "/data/consumption.json" in after.files, "rows in both places and no manifest to finish the move"
        return
    assert production + archived == original, "production rows lost or duplicated"
    assert not production & archived, "a row is both archived and still in prod_data.csv"


def unfinished_writes(before: State, after: State, complete: State) -> list[str]:
    """What an uninterrupted run of the step writes or removes that the killed run left undone: paths it
    creates or changes (a VARYING one counts as done when present), and paths it removes."""
    pending = []
    for path, digest in complete.final().items():
        if before.files.get(path) == digest:
            continue
        done = path in after.final() if varies(path) else after.files.get(path) == digest
        if not done:
            pending.append(path)
    pending += [path for path in before.final() if path not in complete.files and path in after.files]
    return sorted(pending)


def assert_same_end_state(final: State, uninterrupted: State) -> None:
    """The same files, links and folders as an uninterrupted run, byte for byte except the VARYING names,
    the same registry decisions, and temporary leftovers only under temporary names."""
    assert final.problems == [], final.problems
    assert final.model.startswith(("loaded", "verified")), final.model
    assert sorted(final.final()) == sorted(uninterrupted.final())
    different = [
        path for path, digest in final.final().items() if digest != uninterrupted.files[path] and not varies(path)
    ]
    assert different == [], f"different from an uninterrupted run: {different}"
    assert final.live == uninterrupted.live
    assert final.versions == uninterrupted.versions
    assert final.audit == uninterrupted.audit
    assert final.production_rows == uninterrupted.production_rows
    assert final.archived() == uninterrupted.archived()
