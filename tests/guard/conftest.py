"""The Docker guard's package lives with its image (orchestrator/guard); its tests import it from there."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "orchestrator" / "guard"))
