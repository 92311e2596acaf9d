"""README.md's generated tables: the steps, from their declarations (mindpulse.catalog), and the package's modules,
from their docstrings. Each sits between two markers in README.md; nothing between them is written by hand.

    python3 scripts/readme_tables.py            rewrite the tables in README.md
    python3 scripts/readme_tables.py --check    exit 1 if README.md differs from the rendering

tests/unit/test_readme_tables.py fails when README.md and the declarations drift apart. Standard library only.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NONE = "\N{EN DASH}"  # an empty cell
PACKAGE = REPO / "tasks" / "common" / "mindpulse"
README = REPO / "README.md"
sys.path.insert(0, str(PACKAGE.parent))

from mindpulse import catalog  # noqa: E402  (found through the line above, as the step images find it)
from mindpulse.parameters import Parameter  # noqa: E402


def _default(parameter: Parameter) -> str:
    """`NAME`, with `=default` when the step has a value of its own to show."""
    if parameter.template is not None:
        return f"`{parameter.env}` (set by the DAG)"
    if parameter.default is None or parameter.default is False or parameter.default == "":
        return f"`{parameter.env}`" + (" (required)" if parameter.required else "")
    return f"`{parameter.env}`={parameter.default}"


def _where(step: catalog.Step) -> str:
    if step.pipeline.dag_id is None:
        return f"{NONE} (by hand, {'demo tool' if step.pipeline == catalog.DEMO else 'docker run'})"
    return f"`{step.pipeline.dag_id}`"


def steps_table() -> str:
    """One row per step: what it does (its help's first line), where it runs, its image family, the volumes
    it mounts read-only and read-write, and its parameters with their defaults."""
    rows = [
        "| step (image `mindpulse/<step-with-dashes>`) | what it does | DAG | family | reads | writes | parameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for step in catalog.STEPS:
        summary = step.doc.split("\n\n", 1)[0].replace("\n", " ").rstrip(".")
        cells = (
            f"`{step.name}`",
            summary[:1].upper() + summary[1:],
            _where(step),
            step.family,
            ", ".join(step.reads) or NONE,
            ", ".join(step.writes) or NONE,
            ", ".join(_default(parameter) for parameter in step.parameters) or NONE,
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _first_sentence(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraph = docstring.split("\n\n", 1)[0].replace("\n", " ")
    return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0].rstrip(".")


def modules_table() -> str:
    """One row per module of the `mindpulse` package: the first sentence of its docstring."""
    rows = ["| module | owns |", "|---|---|"]
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py" or path == PACKAGE / "__init__.py":
            continue
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        rows.append(f"| `{name}` | {_first_sentence(path)} |")
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {"steps": steps_table, "modules": modules_table}


def render(readme: str) -> str:
    """`readme` with each generated table replaced by its rendering."""
    for name, table in TABLES.items():
        start, end = f"<!-- generated: {name} (scripts/readme_tables.py) -->", f"<!-- end generated: {name} -->"
        found = re.search(re.escape(start) + r".*?" + re.escape(end), readme, re.DOTALL)
        if found is None:
            raise SystemExit(f"README.md: the markers of the {name} table are missing ({start} ... {end})")
        readme = readme[: found.start()] + f"{start}\n{table()}\n{end}" + readme[found.end() :]
    return readme


def main(arguments: list[str]) -> int:
    current = README.read_text()
    rendered = render(current)
    if arguments == ["--check"]:
        if rendered != current:
            print("README.md: a generated table is stale: run python3 scripts/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    if arguments:
        print(__doc__, file=sys.stderr)
        return 2
    README.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
