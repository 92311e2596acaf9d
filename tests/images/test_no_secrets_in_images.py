"""No secret is baked into any image that ./build_images.sh builds: not in ENV or labels, not in the
build history, not in any file of any layer (see tests/images/image_secrets.py for what is searched).
Reading every layer of every image takes about a minute."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.images.docker_steps import REPO, TAG
from tests.images.image_secrets import scan_images

pytestmark = pytest.mark.docker


def _built_images() -> list[str]:
    environment = {key: value for key, value in os.environ.items() if key != "MINDPULSE_IMAGE_TAG"}
    listed = subprocess.run(
        [str(REPO / "build_images.sh"), "--cluster", "--list", "--tag", TAG],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    images = listed.stdout.split()
    missing = [
        image
        for image in images
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]
    if missing:
        pytest.fail(f"images not built (run ./build_images.sh --cluster): {', '.join(missing)}")
    return images


def test_no_image_carries_a_secret() -> None:
    findings = scan_images(_built_images())
    assert findings == [], "secrets baked into images:\n" + "\n".join(findings)


def _fake_private_key() -> str:
    """PEM-shaped random bytes: what the scan must recognise, without a real key in the repository."""
    body = base64.encodebytes(secrets.token_bytes(600)).decode()
    return "-----BEGIN " + "PRIVATE KEY-----\n" + body + "-----END " + "PRIVATE KEY-----\n"


@pytest.fixture
def careless_image(tmp_path: Path) -> Iterator[str]:
    """An image built the way secrets usually leak: ENV, a build argument, a key copied in and deleted
    in a later layer, an index URL with credentials in pip.conf."""
    (tmp_path / "deploy_key").write_text(_fake_private_key())
    (tmp_path / "pip.conf").write_text("[global]\nindex-url = https://ci:t0ken-123@mirror.example.test/simple\n")
    (tmp_path / "Dockerfile").write_text(
        f"FROM mindpulse/family-base:{TAG}\n"
        "USER root\n"
        f"ENV AIRFLOW__CORE__FERNET_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}\n"
        "ARG INDEX_TOKEN\n"
        'RUN echo "index token has ${#INDEX_TOKEN} characters"\n'
        "COPY deploy_key /home/mindpulse/.ssh/id_ed25519\n"
        "RUN rm /home/mindpulse/.ssh/id_ed25519\n"
        "COPY pip.conf /etc/pip.conf\n"
    )
    image = f"mindpulse-test/careless-{uuid.uuid4().hex[:8]}:latest"
    built = subprocess.run(
        ["docker", "build", "--quiet", "--build-arg", "INDEX_TOKEN=s3cr3t-index-token", "--tag", image, str(tmp_path)],
        env=os.environ | {"DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    try:
        yield image
    finally:
        subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)


def test_the_scan_finds_what_a_careless_dockerfile_bakes_in(careless_image: str) -> None:
    findings = scan_images([careless_image])
    found = "\n".join(findings)
    assert f"{careless_image}: ENV AIRFLOW__CORE__FERNET_KEY has a value" in findings, found
    assert any("history sets AIRFLOW__CORE__FERNET_KEY" in finding for finding in findings), found
    assert any("history sets INDEX_TOKEN" in finding for finding in findings), found
    # Deleted by the next layer, and still in the image.
    assert any(finding.endswith("/home/mindpulse/.ssh/id_ed25519: a key or credentials file") for finding in findings)
    assert any(finding.endswith("/home/mindpulse/.ssh/id_ed25519: a PEM private key") for finding in findings), found
    assert any(finding.endswith("/etc/pip.conf: a URL with credentials") for finding in findings), found
    # Nothing else: the family image it stands on is clean.
    planted = ("AIRFLOW__CORE__FERNET_KEY", "INDEX_TOKEN", "/home/mindpulse/.ssh/id_ed25519", "/etc/pip.conf")
    assert [finding for finding in findings if not any(secret in finding for secret in planted)] == []
