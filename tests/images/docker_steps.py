"""Running the real step images with `docker run`, as an engineer debugging a step would."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mindpulse import catalog

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("MINDPULSE_IMAGE_TAG") or (REPO / "VERSION").read_text().strip()
STEPS = tuple(step.name for step in catalog.STEPS)

# How a step reaches each volume: the steps that only read get read-only mounts.
READ_ONLY, WRITABLE = "ro", "rw"


def image(step: str) -> str:
    return f"{catalog.step(step).image_name}:{TAG}"


@dataclass
class StepRun:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict:
        """The step protocol: the last stdout line is the JSON result."""
        return json.loads(self.stdout.strip().splitlines()[-1])


@dataclass
class Volumes:
    """One named volume per volume of the steps (mindpulse.paths.VOLUME_DIRS)."""

    data: str
    models: str
    reports: str
    trust: str
    signing: str

    def run(
        self, step: str, env: dict[str, str] | None = None, *, options: tuple[str, ...] = (), **access: str
    ) -> StepRun:
        """`docker run` a step, locked down as the orchestrator runs it, with the volumes its declaration names (as
        the DAG mounts them); `access` maps a volume to ro/rw, adding it or overriding the declared mode, `options`
        are more `docker run` options (a fault: a tiny tmpfs instead of a volume)."""
        declared = catalog.step(step)
        mounts = {volume: WRITABLE if volume in declared.writes else READ_ONLY for volume in declared.volumes}
        command = ["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp"]
        command += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for name, mode in (mounts | access).items():
            command += ["--mount", self.mount(name) + (",readonly" if mode == READ_ONLY else "")]
        command += options
        for key, value in (env or {}).items():
            command += ["-e", f"{key}={value}"]
        done = subprocess.run([*command, image(step)], capture_output=True, text=True, timeout=600)
        return StepRun(done.returncode, done.stdout, done.stderr)

    def mount(self, volume: str) -> str:
        return f"type=volume,src={getattr(self, volume)},dst=/{volume}"

    def read(self, volume: str, path: str) -> bytes:
        """A file's bytes from a volume (read through a throwaway container)."""
        return self.shell(volume, f"cat /{volume}/{path}").encode("latin-1")

    def shell(self, volume: str, script: str) -> str:
        command = ["docker", "run", "--rm", "--network", "none", "--mount", self.mount(volume), "--entrypoint", "sh"]
        done = subprocess.run(
            [*command, f"mindpulse/family-base:{TAG}", "-c", script], capture_output=True, timeout=120, check=True
        )
        return done.stdout.decode("latin-1")
