"""The models volume runs out of space while train_new_model registers a new version.

/models is a tmpfs-backed named volume (`docker volume create --driver local --opt type=tmpfs ...`) just big
enough for what it holds before training: the new version does not fit, either not at all or with room for
its model file but not its metadata. train_new_model must fail with one `ERROR:` line (no traceback), and
leave /models as it was: `current` on the old, complete version with a valid checksum, no half-written
version under a final name (vNNNN), the audit log untouched; /data's reference untouched too.

A tmpfs volume keeps its files only while some container has it mounted, so a holder container keeps it
mounted for the length of the test.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import Baseline, step_environment
from tests.faults.fault_harness import FaultHarness
from tests.integration.airflow_harness import TOOL_IMAGE, Volumes

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("room", ["none", "model_only"])
def test_train_new_model_on_a_full_models_volume_fails_cleanly(
    faults: FaultHarness, baseline: Baseline, room: str
) -> None:
    before, trained = baseline.state_before("train_new_model"), baseline.state_after("train_new_model")
    new_version = trained.live.removeprefix("versions/") if trained.live != before.live else None
    registered = [version for version in trained.versions if version not in before.versions]
    assert registered, "the uninterrupted run registered no version to run out of space on"
    model_pages = trained.pages(f"/models/versions/{registered[0]}/model.joblib")
    used = before.pages("/models/")
    free = model_pages if room == "model_only" else 0
    assert new_version is None or new_version == registered[0]

    name = f"{faults.prefix}-full-{room}"
    volumes = Volumes(
        faults.create_volume(f"{name}-data"),
        faults.create_volume(f"{name}-models", type="tmpfs", device="tmpfs", o=f"size={used + free}"),
        faults.create_volume(f"{name}-reports"),
        faults.create_volume(f"{name}-trust"),
        faults.create_volume(f"{name}-signing"),
    )
    holder = faults.client.containers.run(
        TOOL_IMAGE,
        ["sleep", "infinity"],
        detach=True,
        volumes={volumes.models: {"bind": "/models", "mode": "ro"}},
        network_mode="none",
    )
    try:
        faults.copy_into(baseline.before["train_new_model"], volumes)
        free_bytes = int(faults.shell(volumes, "df -B1 --output=avail /models | tail -1").strip())
        assert free_bytes == free, f"the tmpfs has {free_bytes} bytes free, the test meant {free}"

        run = faults.run("train_new_model", volumes, step_environment("train_new_model", {}))

        assert run.exit_code == 1, run.describe()
        assert run.result is None
        error = run.stderr.strip()
        assert "Traceback" not in error and len(error.splitlines()) == 1, f"not one line:\n{error}"
        assert error.startswith("ERROR: ") and "No space left on device" in error, error
        (after,) = faults.inspect(volumes, load_model=True)
        assert after.model.startswith("loaded"), after.model
        assert after.live == before.live
        assert after.versions == before.versions, "a version folder appeared under a final name"
        assert after.audit == before.audit
        assert {path: digest for path, digest in after.final().items() if path.startswith("/models/")} == {
            path: digest for path, digest in before.final().items() if path.startswith("/models/")
        }
        assert after.files["/data/reference_data.csv"] == before.files["/data/reference_data.csv"]
        assert after.problems == []
        print(f"room for {free} bytes: {error}; left under temporary names: {after.temporary()}")
    finally:
        holder.remove(force=True)
