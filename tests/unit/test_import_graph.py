"""The modules import each other without a cycle, and each fits in a reader's head: a newcomer following a name
from where it is used to where it is defined only ever goes down. Read from the source (every import statement,
also those inside functions), not by importing, so it needs no library."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Past this many lines a module is split by what it owns (tests excepted: a test file lists cases).
MAX_LINES = 400
# Where each first-party import root lives: the folder a module name is resolved against.
ROOTS = (
    REPO / "tasks" / "common",  # mindpulse
    REPO / "orchestrator" / "dags",  # the DAG files and their mindpulse_* helpers
    REPO / "orchestrator" / "guard",  # mindpulse_guard
    REPO / "orchestrator",  # mindpulse_step_test
    REPO / "bench" / "peer_runner",  # the benchmark peer's runner
    REPO,  # bench
)


def _module_name(path: Path) -> str:
    root = max((root for root in ROOTS if path.is_relative_to(root)), key=lambda root: len(root.parts))
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    folders = (REPO / "tasks" / "common" / "mindpulse", REPO / "orchestrator", REPO / "bench")
    return {_module_name(path): path for folder in folders for path in sorted(folder.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The module names an import statement in `module` names (a `from X import y` names X.y when y is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    source = ".".join(filter(None, (base if node.level else "", node.module or "")))
    return [source, *(f"{source}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """Each first-party module -> the first-party modules it imports."""
    sources = _sources()
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        names = (
            name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in _imported(node, module, path.name == "__init__.py")
        )
        graph[module] = {name for name in names if name in sources and name != module}
    return graph


def test_the_graph_sees_the_imports_it_must() -> None:
    graph = import_graph()
    assert {"mindpulse", "mindpulse.catalog", "mindpulse_dag_support", "mindpulse_guard.policy", "bench.peer"} <= set(
        graph
    )
    assert "mindpulse_step_spec" in graph["mindpulse_docker"]
    assert "mindpulse.catalog" in graph["mindpulse_step_spec"]  # `from mindpulse import catalog`
    assert "mindpulse.catalog.declaration" in graph["mindpulse.catalog"]  # relative, `from .declaration import`


def test_no_module_imports_itself_through_others() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_a_cycle_is_found() -> None:
    graph = import_graph()
    graph["mindpulse_step_spec"].add("mindpulse_docker")
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    paths = [*_sources().values(), *sorted((REPO / "scripts").rglob("*.py"))]
    lines = {str(path.relative_to(REPO)): len(path.read_text().splitlines()) for path in paths}
    assert lines["tasks/common/mindpulse/schema.py"] > 300  # the walk reads the files it must
    assert {name: count for name, count in lines.items() if count > MAX_LINES} == {}, "split these by what they own"


# The rooms of the step package (docs/architecture.md) and the rooms each may import.
ROOMS = ("retrain", "reporting", "demo")
MAY_IMPORT = {
    "core": {"core"},
    "retrain": {"core", "retrain"},
    "reporting": {"core", "reporting"},
    "demo": {"core", "retrain", "demo"},
}


def _room(module: str) -> str | None:
    """The room of a module of the step package (None outside it): its subpackage, else the shared core."""
    parts = module.split(".")
    if parts[0] != "mindpulse":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else "core"


def crossings(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """The imports that leave a room for one it may not import."""
    return {
        (module, imported)
        for module, imports in graph.items()
        for imported in imports
        if (room := _room(module)) is not None and _room(imported) not in MAY_IMPORT[room]
    }


def test_each_room_imports_only_the_rooms_it_may() -> None:
    graph = import_graph()
    assert {_room(module) for module in graph} >= {"core", *ROOMS}
    assert crossings(graph) == set(), "a room imports one it may not (docs/architecture.md)"


def test_a_crossing_is_found() -> None:
    graph = import_graph()
    graph["mindpulse.reporting.dashboard"].add("mindpulse.retrain.training")
    graph["mindpulse.registry"].add("mindpulse.reporting.history")
    assert crossings(graph) == {
        ("mindpulse.reporting.dashboard", "mindpulse.retrain.training"),
        ("mindpulse.registry", "mindpulse.reporting.history"),
    }
