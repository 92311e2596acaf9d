"""Looking for secrets baked into Docker images, where `docker run` or `docker save` would hand them out.

Three places are searched:
- the image configuration: ENV and labels;
- the history: every Dockerfile instruction as recorded, with the build arguments a RUN used;
- every file of every layer, read from `docker save`: a file deleted by a later layer is still in the
  image, so the layers are read one by one instead of the container's file system.
In the files: build secrets left under /run/secrets, key and credential files by name (private keys,
.netrc, .pypirc, .env, ...), PEM private keys by content, and, outside third-party package trees,
credentials in URLs (pip.conf) and Airflow secret settings (airflow.cfg, environment files).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO

# Names of settings whose value is a secret; the value of NAME_CMD or NAME_FILE is where it is read from.
SECRET_NAME = re.compile(r"SECRET|PASSW|TOKEN|FERNET|PRIVATE|CREDENTIAL|(^|_)(API_?)?KEY($|_)", re.IGNORECASE)
NOT_A_VALUE_SUFFIXES = ("_CMD", "_FILE")
# Public on purpose: the fingerprint of the key that signs CPython releases, set by the official images.
PUBLIC_SETTINGS = {"GPG_KEY"}
ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=(\S*)")

PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\s+[A-Za-z0-9+/=\s:,-]{64,}?-----END ")
URL_CREDENTIALS = re.compile(rb"[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:[^\s/@'\"]+@")
AIRFLOW_SETTING = re.compile(rb"\b(AIRFLOW__[A-Z0-9_]+)\s*[=:]\s*['\"]?([^\s'\"]*)")
AIRFLOW_CONFIG_SECRET = re.compile(rb"^\s*(fernet_key|jwt_secret|secret_key)\s*=\s*\S", re.MULTILINE)

SECRET_FILE_NAMES = {
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".pypirc",
    ".git-credentials",
    ".env",
    ".dockercfg",
    "pip_ca",
}
SECRET_FILE_SUFFIXES = (".p12", ".pfx", ".jks", ".keystore", ".docker/config.json")
# Where credentials for a package index or Airflow's secrets would be written: searched wherever they are.
CONFIG_FILE_NAMES = {"pip.conf", "pip.ini", ".npmrc", "airflow.cfg", "webserver_config.py", "environment"}
# Files that apt and pip install: their tests and docs are full of example URLs and settings. Only the
# private-key check applies to them.
THIRD_PARTY = re.compile(
    r"(^|/)(site-packages|dist-packages)/|^opt/[^/]*venv[^/]*/|^usr/(share|lib|lib64|libexec|bin|sbin)/|^(bin|sbin|lib)/"
)
# Known and accepted in upstream images only (never in ours): Debian's ssl-cert package generates a
# self-signed key when PostgreSQL is installed, and the official postgres image ships it (unused: the
# server runs without TLS). Our own PostgreSQL build deletes it in the layer that installs it.
ACCEPTED_UPSTREAM = {"etc/ssl/private/ssl-cert-snakeoil.key"}
LARGEST_FILE_READ = 1 << 20


def secret_settings(pairs: dict[str, str]) -> list[str]:
    """The names of `pairs` that hold a secret value."""
    return sorted(
        name
        for name, value in pairs.items()
        if value
        and SECRET_NAME.search(name)
        and name not in PUBLIC_SETTINGS
        and not name.upper().endswith(NOT_A_VALUE_SUFFIXES)
    )


def scan_configuration(image: str, inspected: dict) -> list[str]:
    config = inspected["Config"]
    environment = dict(line.split("=", 1) for line in config.get("Env") or [])
    findings = [f"{image}: ENV {name} has a value" for name in secret_settings(environment)]
    for name, value in {**environment, **(config.get("Labels") or {})}.items():
        if URL_CREDENTIALS.search(value.encode()):
            findings.append(f"{image}: ENV or LABEL {name} holds a URL with credentials")
    return findings


def scan_history(image: str, created_by: list[str]) -> list[str]:
    findings = []
    for step in created_by:
        shown = step if len(step) <= 160 else step[:157] + "..."
        for name in secret_settings(dict(ASSIGNMENT.findall(step))):
            findings.append(f"{image}: history sets {name}: {shown}")
        if b"PRIVATE KEY-----" in step.encode():
            findings.append(f"{image}: history holds a private key: {shown}")
        if URL_CREDENTIALS.search(step.encode()):
            findings.append(f"{image}: history holds a URL with credentials: {shown}")
    return findings


def scan_file(path: str, member: tarfile.TarInfo, content: IO[bytes] | None) -> list[str]:
    """What is wrong with one file of a layer (`path` without the leading slash); `content` reads it."""
    name = PurePosixPath(path).name
    if name.startswith(".wh.") or not member.isfile():  # a whiteout deletes a file scanned where it was added
        return []
    reasons = []
    if path.startswith("run/secrets/") and member.size:
        reasons.append("a build secret left in the image")
    if name in SECRET_FILE_NAMES or path.endswith(SECRET_FILE_SUFFIXES):
        reasons.append("a key or credentials file")
    if content is None or member.size > LARGEST_FILE_READ:
        return reasons
    data = content.read()
    if b"PRIVATE KEY-----" in data and PRIVATE_KEY.search(data):
        reasons.append("a PEM private key")
    if THIRD_PARTY.search(path) and name not in CONFIG_FILE_NAMES:
        return reasons
    if URL_CREDENTIALS.search(data):
        reasons.append("a URL with credentials")
    if AIRFLOW_CONFIG_SECRET.search(data):
        reasons.append("an Airflow secret setting")
    assigned = {key.decode(): value.decode(errors="replace") for key, value in AIRFLOW_SETTING.findall(data)}
    reasons += [f"sets {key}" for key in secret_settings(assigned)]
    return reasons


class _Prefixed(io.RawIOBase):
    """A stream that gives `head` first, then the rest of `rest`."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def scan_layers(images: list[str]) -> Iterator[tuple[str, str, str]]:
    """(layer digest, path, reason) for every file of every layer of `images`, each layer read once."""
    with subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as save:
        assert save.stdout is not None and save.stderr is not None
        with tarfile.open(fileobj=save.stdout, mode="r|") as archive:
            for blob in archive:
                content = archive.extractfile(blob) if blob.isfile() else None
                if content is None:
                    continue
                head = content.read(512)
                if not head.startswith(b"\x1f\x8b") and head[257:262] != b"ustar":
                    continue  # a manifest or an image configuration (JSON): searched through `docker inspect`
                digest = PurePosixPath(blob.name).name
                with tarfile.open(fileobj=io.BufferedReader(_Prefixed(head, content)), mode="r|*") as layer:
                    for member in layer:
                        path = member.name.removeprefix("./")
                        file = layer.extractfile(member) if member.isfile() else None
                        for reason in scan_file(path, member, file):
                            yield digest, path, reason
        errors = save.stderr.read().decode()
    if save.returncode:
        raise RuntimeError(f"docker save {' '.join(images)} failed: {errors}")


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def scan_images(images: list[str]) -> list[str]:
    """Every secret found in `images`, one line each naming the image (the first with the layer) and the place."""
    findings = []
    layer_owner: dict[str, str] = {}
    upstream = set()
    for image, details in zip(images, json.loads(_run("docker", "image", "inspect", *images)), strict=True):
        findings += scan_configuration(image, details)
        findings += scan_history(
            image, _run("docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image).splitlines()
        )
        for layer in details["RootFS"]["Layers"]:
            layer_owner.setdefault(layer.removeprefix("sha256:"), image)
        # build_images.sh labels every image it builds with its own name; a re-tagged upstream one keeps its labels.
        if (details["Config"].get("Labels") or {}).get("org.opencontainers.image.title") != image.rsplit(":", 1)[0]:
            upstream.add(image)
    for digest, path, reason in scan_layers(images):
        owner = layer_owner.get(digest, "an image")
        if owner in upstream and path in ACCEPTED_UPSTREAM:
            continue
        findings.append(f"{owner} layer {digest[:12]}: /{path}: {reason}")
    return findings
