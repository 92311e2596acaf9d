"""docs/adding-a-step.md done for real: a toy step added to a copy of the tree (what `git ls-files -co
--exclude-standard` lists: uncommitted work, no venvs) exactly as the page says is listed and built by
build_images.sh, scheduled by Airflow with its mount and form Param, and runs. Images get a unique tag (which
build_images.sh never also tags `latest`) and are removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.airflow]

REPO = Path(__file__).resolve().parents[2]
DESCRIBER = REPO / "tests" / "dags" / "describe_dags.py"
AIRFLOW_PYTHON = Path(os.environ.get("MINDPULSE_AIRFLOW_PYTHON") or REPO / ".venv-airflow" / "bin" / "python")
TAG = f"toytest-{uuid.uuid4().hex[:8]}"
IMAGE = f"mindpulse/toy-step:{TAG}"
DEFAULT, MAXIMUM = 5, 50

# Step 1 of the page: the function in a new module, and its result dataclass added to results.py.
TOY_MODULE = '''"""A toy step: counts the files on the reports volume."""

from mindpulse.paths import Layout
from mindpulse.protocol import NothingToDo, StepError, say
from mindpulse.results import ToyCount


def toy_step(layout: Layout, toy_limit: int) -> ToyCount:
    if not layout.reports_dir.is_dir():
        raise StepError(f"{layout.reports_dir} is missing: is the reports volume mounted?")
    names = sorted(path.name for path in layout.reports_dir.iterdir())
    if not names:
        raise NothingToDo(ToyCount(files=0, toy_limit=toy_limit))
    say(f"{len(names)} files in {layout.reports_dir}")
    return ToyCount(files=len(names), toy_limit=toy_limit)
'''
TOY_RESULT = """

@dataclass(frozen=True)
class ToyCount(Result):
    files: int
    toy_limit: int
"""
# Step 2: the declaration, appended to STEPS.
TOY_DECLARATION = f'''
    Step(
        name="toy_step",
        pipeline=REPORTING,
        family="base",
        module="mindpulse.toy",
        doc="""count the files on the reports volume.

Inputs:   /reports (read-only)
Outputs:  none; the count is the result JSON
Exit:     0 counted, 99 the volume is empty, 1 bad input""",
        result=results.ToyCount,
        reads=("reports",),
        parameters=(
            Parameter("toy_limit", int, {DEFAULT}, "files to expect", minimum=1, maximum={MAXIMUM}, in_form=True),
        ),
    ),
'''


def run(command: list[Any], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, **options)


def edit(path: Path, anchor: str, replacement: str) -> None:
    """Replace the one `anchor` in `path`; fail loudly when the file no longer has it exactly once."""
    text = path.read_text()
    assert text.count(anchor) == 1, f"{path}: expected {anchor!r} exactly once"
    path.write_text(text.replace(anchor, replacement))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree with the toy step added as docs/adding-a-step.md says."""
    root = tmp_path_factory.mktemp("tree")
    listed = run(["git", "-C", REPO, "ls-files", "-z", "-co", "--exclude-standard"], check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():  # a file deleted but not yet staged is still listed
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)  # keeps build_images.sh executable
    package = root / "tasks" / "common" / "mindpulse"
    (package / "toy.py").write_text(TOY_MODULE)
    with (package / "results.py").open("a") as results:
        results.write(TOY_RESULT)
    # Appended last to the reporting pipeline's declarations: it runs after the summary.
    declarations = package / "catalog" / "reporting.py"
    assert declarations.read_text().endswith("\n)\n"), f"{declarations}: expected to end with the tuple's `)`"
    declarations.write_text(declarations.read_text().removesuffix(")\n") + TOY_DECLARATION + ")\n")
    # Step 3: a copy of another entrypoint with the name changed.
    entrypoint = (root / "tasks" / "reporting" / "send_report_summary" / "entrypoint.py").read_text()
    (root / "tasks" / "reporting" / "toy_step").mkdir()
    toy_entrypoint = entrypoint.replace('main("send_report_summary")', 'main("toy_step")')
    assert toy_entrypoint != entrypoint
    (root / "tasks" / "reporting" / "toy_step" / "entrypoint.py").write_text(toy_entrypoint)
    # Step 4: the task, wired after the summary, and named in the DAG's doc_md.
    dag_file = root / "orchestrator" / "dags" / "evidently_reporting_pipeline.py"
    wiring = "    check_data_availability >> reports >> cleanup_old_reports >> send_report_summary\n"
    edit(dag_file, wiring, wiring + '    toy_step = step_task("toy_step")\n    send_report_summary >> toy_step\n')
    described = "\nEvery file of one run"
    edit(dag_file, described, "\n**toy_step** counts the files on the reports volume.\n" + described)
    return root


def image_id(reference: str) -> str | None:
    inspected = run(["docker", "image", "inspect", "--format", "{{.Id}}", reference])
    return inspected.stdout.strip() if inspected.returncode == 0 else None


@pytest.fixture(scope="module")
def built(tree: Path) -> Iterator[list[str]]:
    """Step 5: `build_images.sh --only toy_step`; yields the images it built, removes them afterwards."""
    script = tree / "build_images.sh"
    images = run([script, "--only", "toy_step", "--tag", TAG, "--list"], check=True).stdout.split()
    assert images == [f"mindpulse/family-base:{TAG}", IMAGE]
    latest = {ref: image_id(ref) for ref in (image.rsplit(":", 1)[0] + ":latest" for image in images)}
    try:
        built = run([script, "--only", "toy_step", "--tag", TAG])
        assert built.returncode == 0, built.stderr[-3000:]
        # A build under another tag than the version leaves `latest` where it was.
        assert {ref: image_id(ref) for ref in latest} == latest
        yield images
    finally:
        run(["docker", "rmi", *reversed(images)])


@pytest.fixture(scope="module")
def reporting_dag(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The copy's reporting DAG as the real Airflow parses it (tests/dags/describe_dags.py)."""
    work = tmp_path_factory.mktemp("airflow")
    configuring = ("MINDPULSE_", "AIRFLOW_VAR_MINDPULSE_", "AIRFLOW__", "AIRFLOW_HOME", "DOCKER_HOST", "PYTHONPATH")
    environment = {name: value for name, value in os.environ.items() if not name.startswith(configuring)}
    environment |= {
        "AIRFLOW_HOME": str(work),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MINDPULSE_IMAGE_TAG": TAG,
        # The copy first: the Airflow venv has the main tree's tasks/common installed editable.
        "PYTHONPATH": os.pathsep.join([str(tree / "tasks" / "common"), str(tree / "orchestrator" / "dags")]),
    }
    where = run([AIRFLOW_PYTHON, "-c", "from mindpulse import catalog; print(catalog.__file__)"], env=environment)
    copy_catalog = tree / "tasks/common/mindpulse/catalog/__init__.py"
    assert Path(where.stdout.strip()).resolve() == copy_catalog.resolve(), where
    output = work / "dags.json"
    described = run([AIRFLOW_PYTHON, DESCRIBER, tree / "orchestrator" / "dags", output], env=environment)
    assert described.returncode == 0, described.stderr[-3000:]
    dags = json.loads(output.read_text())
    assert dags["import_errors"] == {}
    return dags["dags"]["evidently_reporting_pipeline"]


def test_the_image_list_has_the_toy_step(tree: Path) -> None:
    listed = run([tree / "build_images.sh", "--list", "--tag", TAG], check=True).stdout.split()
    assert IMAGE in listed


def test_airflow_runs_the_toy_step_after_the_summary_with_its_mount_and_param(reporting_dag: dict[str, Any]) -> None:
    task = reporting_dag["tasks"]["toy_step"]
    assert task["upstream"] == ["send_report_summary"]
    assert task["image"] == IMAGE
    assert task["mounts"] == {"/reports": {"source": "mindpulse_reports", "type": "volume", "read_only": True}}
    assert task["rendered"]["environment"] == {"TOY_LIMIT": str(DEFAULT), "MINDPULSE_IMAGE": IMAGE}
    assert task["host_config"]["ReadonlyRootfs"] is True and task["network_mode"] == "none"
    param = reporting_dag["params"]["toy_limit"]
    assert param["value"] == DEFAULT
    assert (param["schema"]["type"], param["schema"]["minimum"], param["schema"]["maximum"]) == ("integer", 1, MAXIMUM)


def test_the_image_explains_the_new_parameter(built: list[str]) -> None:
    helped = run(["docker", "run", "--rm", "--network", "none", IMAGE, "--help"])
    assert helped.returncode == 0, helped.stderr
    assert "usage: toy_step" in helped.stdout
    assert "--toy-limit" in helped.stdout and "[TOY_LIMIT]" in helped.stdout


@pytest.fixture
def reports_volume() -> Iterator[str]:
    name = f"mindpulse-test-{uuid.uuid4().hex[:8]}-reports"
    run(["docker", "volume", "create", name], check=True)
    try:
        yield name
    finally:
        run(["docker", "volume", "rm", "-f", name])


def run_toy(volume: str, toy_limit: str) -> subprocess.CompletedProcess[str]:
    """The toy image locked down as the DAG runs it, its reports volume read-only."""
    lockdown = ["--network", "none", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL"]
    lockdown += ["--security-opt", "no-new-privileges", "--mount", f"type=volume,src={volume},dst=/reports,readonly"]
    return run(["docker", "run", "--rm", *lockdown, "-e", f"TOY_LIMIT={toy_limit}", IMAGE])


def last_line(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_the_image_runs_on_a_read_only_reports_volume(built: list[str], reports_volume: str) -> None:
    empty = run_toy(reports_volume, "7")
    assert empty.returncode == 99, empty.stderr
    assert last_line(empty.stdout) == {"step": "toy_step", "status": "skipped", "files": 0, "toy_limit": 7}
    # A file on the volume, written by a throwaway container (the step itself only reads it).
    seed = ["docker", "run", "--rm", "--network", "none", "-v", f"{reports_volume}:/reports", "--entrypoint", "touch"]
    run([*seed, IMAGE, "/reports/data_drift_report_20260101_000000.html"], check=True)
    counted = run_toy(reports_volume, "7")
    assert counted.returncode == 0, counted.stderr
    assert last_line(counted.stdout) == {"step": "toy_step", "status": "success", "files": 1, "toy_limit": 7}


def test_an_out_of_bounds_variable_exits_1_with_one_line_naming_it(built: list[str], reports_volume: str) -> None:
    refused = run_toy(reports_volume, str(MAXIMUM + 1))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("ERROR: environment variable TOY_LIMIT")
    assert f"must be at most {MAXIMUM}" in refused.stderr
