"""README's step table and module map are what scripts/readme_tables.py renders from the declarations."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_tables", REPO / "scripts" / "readme_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_tables", module)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_rendered_from_the_declarations() -> None:
    readme = (REPO / "README.md").read_text()
    assert _tables().render(readme) == readme, "a README table is stale: run python3 scripts/readme_tables.py"


def test_a_changed_declaration_changes_the_table(monkeypatch) -> None:
    tables = _tables()
    step = tables.catalog.STEPS[0]
    monkeypatch.setattr(tables.catalog, "STEPS", (type(step)(**{**vars(step), "family": "evidently"}),))
    assert f"| `{step.name}` |" in tables.steps_table() and "| evidently |" in tables.steps_table()
    readme = (REPO / "README.md").read_text()
    assert tables.render(readme) != readme
