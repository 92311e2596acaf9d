"""What every result records about the code and the machine it was measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# What the benchmark itself writes: a change there does not make the measured code dirty. (Pathspecs are
# relative to the repository root: "README.md" is the top-level file only, so bench/README.md, whose block of
# explained misses the run renders, is named too.)
OUTPUTS = ("bench/results", "README.md", "bench/README.md")


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def changes() -> list[str]:
    """Uncommitted changes to anything but the benchmark's own outputs, untracked files included."""
    excluded = [f":(exclude){path}" for path in OUTPUTS]
    return _git("status", "--porcelain", "--untracked-files=normal", "--", ".", *excluded).splitlines()


def memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def provenance() -> dict[str, Any]:
    return {
        "git_revision": _git("rev-parse", "HEAD"),
        "git_dirty": bool(changes()),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_bytes": memory_bytes(),
        "load_average": load(),
        "python": platform.python_version(),
    }
