"""A stack as a user gets it: a fresh clone of this checkout, the README's start command (`scripts/quickstart.sh`,
`scripts/cluster.sh`) run there with nothing the README does not say (no .env, no exported setting), so every
name, port, volume and tag is the README's default.

The clone is this checkout's HEAD with its uncommitted edits laid over it (what a commit would hold), and with the
same origin, so its build labels, and hence its image IDs, are this checkout's: the other test layers, which run
alongside on the same engine and the same tags, keep finding the images their locks recorded.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import TypeVar

import pytest

from tests.e2e.compose_stack import REPO, STACK_TIMEOUT, Stack, clean_environment, run_command

StackType = TypeVar("StackType", bound=Stack)

# docker-compose.yml's top-level `name`: every stack started with the README's commands is this project.
PROJECT = "mindpulse"
# The host ports the defaults publish (.env.example: AIRFLOW_PORT, MINDPULSE_REGISTRY_PORT, EVIDENTLY_UI_PORT).
PORT_SETTINGS = ("AIRFLOW_PORT", "MINDPULSE_REGISTRY_PORT", "EVIDENTLY_UI_PORT")


def env_values(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file, the empty values left out (compose then takes its default)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[:1] != "#")
    return {key: value for key, value in pairs if value}


def _git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def clone(target: Path) -> Path:
    """A fresh clone of this checkout at `target`, with the working tree's edits (tracked and new files)."""
    subprocess.run(["git", "clone", "--quiet", "--shared", str(REPO), str(target)], check=True)
    origin = subprocess.run(["git", "remote", "get-url", "origin"], cwd=REPO, capture_output=True, text=True)
    if origin.returncode == 0:
        _git("remote", "set-url", "origin", origin.stdout.strip(), cwd=target)
    else:
        _git("remote", "remove", "origin", cwd=target)
    for name in filter(None, _git("ls-files", "-z", "--modified", "--others", "--exclude-standard").split("\0")):
        source, copy = REPO / name, target / name
        if source.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy, follow_symlinks=False)
        else:
            copy.unlink(missing_ok=True)
    return target


def remove_a_stack_these_tests_left(temp_root: Path) -> None:
    """Take down the README-named stack a killed run of these tests left behind (a time limit, a lost machine;
    its containers restart with the engine): every container of it ran from a clone under pytest's temporary
    root. A stack with any other container, a user's, is left for the refusal below."""
    label = f"label=com.docker.compose.project={PROJECT}"
    working_dir = '{{.Label "com.docker.compose.project.working_dir"}}'
    listed = run_command(["docker", "ps", "--all", "--filter", label, "--format", f"{{{{.ID}}}} {working_dir}"])
    containers = dict(line.split(" ", 1) for line in listed.stdout.splitlines())
    if not containers or not all(Path(folder).is_relative_to(temp_root) for folder in containers.values()):
        return
    appenders = run_command(["docker", "ps", "--all", "--quiet", "--filter", f"name={PROJECT}-appender-"]).stdout
    print(f"removing the stack an interrupted test run left: {sorted(set(containers.values()))}")
    run_command(["docker", "rm", "--force", "--volumes", *containers, *appenders.split()])
    for kind in ("volume", "network"):
        names = run_command(["docker", kind, "ls", "--quiet", "--filter", label]).stdout.split()
        if names:
            run_command(["docker", kind, "rm", *names])


def refuse_an_existing_default_stack(defaults: dict[str, str]) -> None:
    """Fail, saying what is in the way, when this engine has a stack under the README's names or its ports are
    taken: the test's teardown removes the project's volumes, which must never be a user's."""
    found = run_command(["docker", "ps", "--all", "--format", "{{.Names}}", "--filter",
                         f"label=com.docker.compose.project={PROJECT}"]).stdout.split()  # fmt: skip
    found += [
        f"volume {name}"
        for name in run_command(["docker", "volume", "ls", "--format", "{{.Name}}"]).stdout.split()
        if name.startswith(f"{PROJECT}_")
    ]
    for setting in PORT_SETTINGS:
        with socket.socket() as probe:
            # As a server binds (docker-proxy does): a port only in TIME_WAIT after a stack this run took down is
            # free, and one something listens on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", int(defaults[setting])))
            except OSError:
                found.append(f"port {defaults[setting]} ({setting})")
    if found:
        pytest.fail(
            "the cluster tests run the README's defaults, and this engine already has a MindPulse stack or its"
            f" ports in use: {', '.join(found)}. Stop it (scripts/cluster.sh down or docker compose down) and"
            " remove its volumes, or leave tests/cluster out."
        )


def start(tmp_path_factory: pytest.TempPathFactory, command: str, kind: type[StackType]) -> tuple[StackType, int, str]:
    """`scripts/<command>` run in a fresh clone, as the README says: the stack it started (whatever its exit), its
    exit code and what it printed. The caller asserts the exit, and takes the stack down in any case."""
    defaults = env_values(REPO / ".env.example")
    remove_a_stack_these_tests_left(tmp_path_factory.getbasetemp().parent)
    refuse_an_existing_default_stack(defaults)
    # Named as a user's checkout would be; compose's project name comes from docker-compose.yml, not the folder.
    repo = clone(tmp_path_factory.mktemp(command.removesuffix(".sh")) / "mindpulse-pipelines")
    log = repo.parent / f"{command}.log"
    with log.open("w") as output:
        started = subprocess.run(
            [str(repo / "scripts" / command)], cwd=repo, env=clean_environment(), stdout=output,
            stderr=subprocess.STDOUT, timeout=STACK_TIMEOUT + 1800,
        )  # fmt: skip
    settings = {**defaults, **env_values(repo / ".env")}
    shared = (repo / settings["MINDPULSE_SHARED_DIR"]).resolve()
    stack = kind(PROJECT, shared, int(settings["AIRFLOW_PORT"]), settings, clean_environment(), repo / ".env", repo)
    return stack, started.returncode, log.read_text()
