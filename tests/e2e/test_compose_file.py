"""The compose file as written, before anything starts: the defaults the README's commands meet, where the
secrets and the Docker socket go, and the PostgreSQL image the stack runs."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.compose_stack import AIRFLOW_SERVICES, COMPOSE_FILE, REPO, TAG, clean_environment, run_command
from tests.e2e.engine_attacks import SECURITY_DOC, render_security_doc
from tests.images.image_secrets import URL_CREDENTIALS, secret_settings


@pytest.fixture(scope="module")
def default_config() -> dict[str, Any]:
    """`docker compose config` with no .env and no variables: what the README's commands meet."""
    result = run_command(
        ["docker", "compose", "--file", str(COMPOSE_FILE), "--env-file", os.devnull, "config", "--format", "json"],
        env=clean_environment(),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_defaults_match_the_documented_commands(default_config: dict[str, Any]) -> None:
    services = default_config["services"]
    assert services["airflow-apiserver"]["container_name"] == "airflow-webserver"
    assert services["airflow-scheduler"]["container_name"] == "airflow-scheduler"
    (port,) = services["airflow-apiserver"]["ports"]
    assert (port["host_ip"], port["published"], port["target"]) == ("127.0.0.1", "8083", 8080)
    for kind in ("data", "models", "reports"):
        volume = default_config["volumes"][f"mindpulse_{kind}"]
        assert volume["name"] == f"mindpulse_{kind}"
        assert volume["driver_opts"]["o"] == "bind"
        assert volume["driver_opts"]["device"] == str(REPO / "shared_volumes" / kind)


def test_airflow_components_share_secrets_without_any_value_in_the_file(default_config: dict[str, Any]) -> None:
    services = default_config["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-webserver:8080/execution/"
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        signs = name in ("airflow-apiserver", "airflow-scheduler")
        assert environment.get("AIRFLOW__API_AUTH__JWT_SECRET_CMD") == (
            "cat /opt/airflow/jwt/jwt_secret" if signs else None
        ), name
        assert ("airflow-jwt" in [volume["source"] for volume in services[name]["volumes"]]) == signs, name
        assert environment["AIRFLOW__CORE__FERNET_KEY_CMD"] == "cat /opt/airflow/secrets/fernet_key"
        assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] == "cat /opt/airflow/secrets/sql_alchemy_conn"
        assert "AIRFLOW__API_AUTH__JWT_SECRET" not in environment
        assert "AIRFLOW__CORE__FERNET_KEY" not in environment
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in environment
    for name in AIRFLOW_SERVICES:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


# The one secret the stack ships, documented in .env.example and the README and warned about by
# airflow-init and quickstart.sh: the first admin user's password.
DEV_LOGIN = {"AIRFLOW_ADMIN_PASSWORD": "admin"}


def _env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_compose_file_and_env_example_ship_no_secret_but_the_dev_login(default_config: dict[str, Any]) -> None:
    shipped = {
        "compose " + name: service.get("environment") or {} for name, service in default_config["services"].items()
    }
    shipped[".env.example"] = _env_example()
    for source, environment in shipped.items():
        values = {name: str(value) for name, value in environment.items() if name not in DEV_LOGIN}
        assert secret_settings(values) == [], source
        assert [name for name, value in values.items() if URL_CREDENTIALS.search(value.encode())] == [], source
        assert {name: environment[name] for name in DEV_LOGIN.keys() & environment.keys()} == {
            name: DEV_LOGIN[name] for name in DEV_LOGIN.keys() & environment.keys()
        }, source
    assert {"POSTGRES_PASSWORD", *DEV_LOGIN} <= set(shipped[".env.example"])


def test_each_secret_volume_reaches_only_its_readers(default_config: dict[str, Any]) -> None:
    services = default_config["services"]

    def mounts(volume: str) -> dict[str, bool]:
        return {
            name: bool(mount.get("read_only"))
            for name, service in services.items()
            for mount in service.get("volumes", [])
            if mount.get("source") == volume
        }

    assert mounts("airflow-secrets") == {"secrets-init": False, "airflow-init": True} | dict.fromkeys(
        AIRFLOW_SERVICES, True
    )
    assert mounts("postgres-secrets") == {"secrets-init": False, "postgres": True}
    assert services["secrets-init"]["network_mode"] == "none"
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert postgres["depends_on"]["secrets-init"]["condition"] == "service_completed_successfully"


def test_only_the_guard_holds_the_docker_socket_and_only_the_scheduler_the_guards(
    default_config: dict[str, Any],
) -> None:
    services = default_config["services"]

    def mounts(name: str, target: str) -> bool:
        return any(v.get("target") == target for v in services[name].get("volumes", []))

    holders = {name for name in services if mounts(name, "/var/run/docker.sock")}
    # airflow-init only checks, as root, that the guard's uid and group can use it; it runs nothing.
    assert holders == {"docker-guard", "airflow-init"}
    assert {name for name in services if mounts(name, "/run/mindpulse-guard")} == {"docker-guard", "airflow-scheduler"}
    guard = services["docker-guard"]
    assert guard["network_mode"] == "none" and guard["read_only"] is True and guard["cap_drop"] == ["ALL"]
    assert "group_add" not in services["airflow-scheduler"]
    assert services["airflow-scheduler"]["depends_on"]["docker-guard"]["condition"] == "service_healthy"
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"]["DOCKER_HOST"] == "unix:///run/mindpulse-guard/docker.sock", name


def test_the_security_doc_lists_every_attack_the_live_stack_tests_make() -> None:
    text = SECURITY_DOC.read_text()
    assert text == render_security_doc(text), "docs/security.md is stale: python -m tests.e2e.engine_attacks"


# --- the PostgreSQL image ----------------------------------------------------------------------


def _wait_for_postgres(container: str, user: str, database: str) -> None:
    deadline = time.monotonic() + 120
    while run_command(
        ["docker", "exec", container, "pg_isready", "-h", "127.0.0.1", "-U", user, "-d", database]
    ).returncode:
        running = run_command(["docker", "inspect", "--format", "{{.State.Running}}", container]).stdout.strip()
        assert running == "true" and time.monotonic() < deadline, run_command(["docker", "logs", container]).stderr
        time.sleep(1)


@pytest.mark.docker
def test_postgres_image_initialises_like_the_official_one() -> None:
    image = f"mindpulse/postgres:{TAG}"
    if run_command(["docker", "image", "inspect", image]).returncode:
        pytest.fail(f"{image} not built (run ./build_images.sh)")
    name = f"mindpulse-test-pg-{uuid.uuid4().hex[:8]}"
    env = ["-e", "POSTGRES_USER=meta", "-e", "POSTGRES_PASSWORD=s3cret", "-e", "POSTGRES_DB=metadb"]
    started = run_command(["docker", "run", "-d", "--name", name, *env, image])
    assert started.returncode == 0, started.stderr
    try:
        _wait_for_postgres(name, "meta", "metadb")

        def query(password: str) -> subprocess.CompletedProcess:
            sql = ["psql", "-h", "127.0.0.1", "-U", "meta", "-d", "metadb", "-tAc", "select current_user"]
            return run_command(["docker", "exec", "-e", f"PGPASSWORD={password}", name, *sql])

        assert query("s3cret").stdout.strip() == "meta"
        assert "password authentication failed" in query("wrong").stderr
        assert run_command(["docker", "exec", name, "id", "-u"]).stdout.strip() != "0"
    finally:
        run_command(["docker", "rm", "-f", "-v", name])

    refused = run_command(["docker", "run", "--rm", image])
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr


@pytest.mark.docker
def test_postgres_image_takes_the_password_from_a_file(tmp_path: Path) -> None:
    """POSTGRES_PASSWORD_FILE, as compose passes the generated password (the official image has it too)."""
    image = f"mindpulse/postgres:{TAG}"
    (tmp_path / "password").write_text("from-a-file\n")
    # Readable by the server's uid 999, as secrets-init makes it.
    tmp_path.chmod(0o755)
    (tmp_path / "password").chmod(0o644)
    name = f"mindpulse-test-pg-{uuid.uuid4().hex[:8]}"
    secret = ["-v", f"{tmp_path}:/run/secrets/pg:ro", "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/pg/password"]
    started = run_command(["docker", "run", "-d", "--name", name, *secret, "-e", "POSTGRES_USER=meta", image])
    assert started.returncode == 0, started.stderr
    try:
        _wait_for_postgres(name, "meta", "meta")
        sql = ["psql", "-h", "127.0.0.1", "-U", "meta", "-d", "meta", "-tAc", "select current_user"]
        assert run_command(["docker", "exec", "-e", "PGPASSWORD=from-a-file", name, *sql]).stdout.strip() == "meta"
    finally:
        run_command(["docker", "rm", "-f", "-v", name])
