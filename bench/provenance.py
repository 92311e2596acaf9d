"""What every measurement file records about the code and the machine it was measured on, and how
the JSON and its Markdown rendering are written (the Markdown is always generated from the JSON)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def provenance() -> dict[str, Any]:
    return {
        "git_revision": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
    }


def write(out: Path, name: str, results: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> Path:
    """Write `name`.json, then `name`.md rendered from the JSON as read back (no figure bypasses it)."""
    out.mkdir(parents=True, exist_ok=True)
    document = out / f"{name}.json"
    document.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (out / f"{name}.md").write_text(render(json.loads(document.read_text())))
    return document


def header(results: dict[str, Any]) -> str:
    machine = results["provenance"]
    dirty = " (uncommitted changes)" if machine["git_dirty"] else ""
    return (
        f"Measured {machine['date']} at revision `{machine['git_revision'][:12]}`{dirty}, "
        f"{machine['cores']} cores, load average {' / '.join(str(value) for value in machine['load_average'])}"
        f", mode {results['mode']}."
    )
