"""The single-machine stack as the README starts it: `scripts/quickstart.sh` in a fresh clone, with no .env and no
exported setting (tests/e2e/fresh_clone.py). It is in this layer, not in tests/e2e, because it has the README's
names and ports, as the cluster has: the two run one after the other here, while tests/e2e (its own names, and
every behaviour of the stack) runs alongside."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mindpulse.paths import Layout
from mindpulse.registry import current_version, versions
from tests.e2e import fresh_clone
from tests.e2e.compose_stack import REPORTING, RETRAIN, Stack

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    stack, exit_code, printed = fresh_clone.start(tmp_path_factory, "quickstart.sh", Stack)
    try:
        assert exit_code == 0, printed[-5000:]
        yield stack, printed
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", timeout=300)


def test_it_writes_only_what_env_lacks_checks_the_images_and_says_where_to_go(started: tuple[Stack, str]) -> None:
    stack, printed = started
    assert set(fresh_clone.env_values(stack.env_file)) == {"AIRFLOW_UID", "DOCKER_GID"}
    assert f"image lock: every step image of tag {stack.tag} is in this Docker engine as built" in printed
    assert f"UI and REST API  http://localhost:{stack.port}" in printed


def test_both_dags_succeed_under_the_defaults(started: tuple[Stack, str]) -> None:
    stack, _ = started
    layout = Layout.under(stack.shared)
    seeded = versions(layout)
    assert seeded and current_version(layout) == seeded[-1], "the demo seeding trained and promoted a first model"
    token = stack.token()
    for dag_id in (RETRAIN, REPORTING):
        stack.unpause(token, dag_id)
    runs = {
        dag_id: stack.trigger(token, dag_id, {"force": True} if dag_id == RETRAIN else {})
        for dag_id in (RETRAIN, REPORTING)
    }
    for dag_id, run_id in runs.items():
        finished = stack.wait_for_runs(token, dag_id, run_id)
        assert {run["state"] for run in finished} == {"success"}, (dag_id, finished)
    assert len(versions(layout)) > len(seeded), "the forced retrain registered a model version"
