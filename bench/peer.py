"""The peer: the seed's design, Airflow and every step library in one environment, built the same way in
two places by bench/peer_image/install.sh. The host venv `.venv-peer` runs the PythonOperator DAGs
(`MINDPULSE_RUNNER=python`, bench/dag_runs.py); the fat image `mindpulse-bench/fat:<key>` is what that
design ships, compared byte for byte with the step images (bench/images.py).

Both are keyed on a hash of their inputs (the install script, the Dockerfile, every requirement and lock
file, and the mindpulse package), so an edit to any of them rebuilds them and nothing else does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO, docker

PEER = REPO / "bench" / "peer_image"
# The in-process runner's module, on the Python path of the peer's Airflow only (bench/dag_runs.py).
RUNNER_FOLDER = REPO / "bench" / "peer_runner"
VENV = REPO / ".venv-peer"
FAT_REPOSITORY = "mindpulse-bench/fat"


def inputs(*, package: bool = True) -> list[Path]:
    """Every file the one-environment install reads, in a fixed order; with `package`, the mindpulse
    package's too (the image holds a copy; the venv installs it editable, so its edits need no rebuild)."""
    files = [PEER / "install.sh", PEER / "Dockerfile"]
    files += sorted((REPO / "orchestrator").glob("*.txt"))
    files += sorted((REPO / "tasks" / "requirements").glob("*.txt"))
    if package:
        common = REPO / "tasks" / "common"
        files += [common / "pyproject.toml"]
        files += sorted(
            path for path in (common / "mindpulse").rglob("*") if path.is_file() and "__pycache__" not in path.parts
        )
    return files


def key(*, package: bool = True) -> str:
    digest = hashlib.sha256()
    for path in inputs(package=package):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _context(folder: Path) -> Path:
    """A build context holding what install.sh reads, laid out as in the repository."""
    for path in inputs():
        target = folder / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    shutil.copy(PEER / "install.sh", folder / "install.sh")
    return folder


def ensure_venv() -> dict[str, Any]:
    """`.venv-peer`, rebuilt when its key changed. Returns its Airflow executable and whether it was built."""
    stamp = VENV / ".inputs-key"
    wanted = key(package=False)
    built = False
    if not (stamp.is_file() and stamp.read_text() == wanted):
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = str(VENV / "bin" / "pip")
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(["sh", str(PEER / "install.sh"), pip, str(_context(Path(folder)))], check=True)
        common = str(REPO / "tasks" / "common")
        subprocess.run([pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", common], check=True)
        stamp.write_text(wanted)
        built = True
    return {"airflow": VENV / "bin" / "airflow", "built": built, "key": wanted}


def ensure_fat_image(base: str, *, build: bool = True) -> dict[str, Any]:
    """The fat image for the current key, built when missing and `build` (the build time is reported, not
    judged). "present" says whether it exists afterwards."""
    image = f"{FAT_REPOSITORY}:{key()}"
    result: dict[str, Any] = {"image": image, "built": False}
    present = docker("image", "inspect", image, check=False).returncode == 0
    if not present and not build:
        return result | {"present": False}
    if not present:
        secret = next(
            (
                [f"--secret=id=pip_ca,src={candidate}"]
                for candidate in (
                    os.environ.get("PIP_CERT"),
                    os.environ.get("SSL_CERT_FILE"),
                    "/etc/ssl/certs/ca-certificates.crt",
                )
                if candidate and Path(candidate).is_file()
            ),
            [],
        )
        with tempfile.TemporaryDirectory() as folder:
            context = _context(Path(folder))
            started = time.perf_counter()
            docker(
                "buildx", "build", f"--file={PEER / 'Dockerfile'}", f"--build-arg=PYTHON_BASE={base}", *secret,
                f"--tag={image}", str(context), timeout=3600,
            )  # fmt: skip
        result |= {"built": True, "build_s": time.perf_counter() - started}
    return result | {"present": True, "conflicts": conflicts(image)}


def conflicts(image: str) -> list[str]:
    """Packages the step libraries' install moved away from Airflow's lock in the one environment."""
    output = docker(
        "run", "--rm", "--network=none", "--entrypoint=sh", image, "-c",
        "cat /opt/venv/freeze-airflow.txt; echo ---; cat /opt/venv/freeze-all.txt",
    ).stdout  # fmt: skip
    before_text, after_text = output.split("---")

    def pins(text: str) -> dict[str, str]:
        return dict(line.split("==", 1) for line in text.split() if "==" in line)

    before, after = pins(before_text), pins(after_text)
    return sorted(
        f"{name} {before[name]} -> {after[name]}" for name in before if after.get(name, before[name]) != before[name]
    )
