"""Every family image ships valid bytecode for what its steps import: a step's root file system is read-only,
so a missing or stale `.pyc` would be compiled from source again at every start, and never saved."""

from __future__ import annotations

import json
import subprocess

import pytest

from mindpulse import catalog
from tests.images.docker_steps import TAG

# Lists the modules the import system compiles from source (its source_to_code calls compile(), which
# raises the "compile" audit event with the file's path) while importing what the family's steps import.
# Only compile() called by the import system counts: anyio parses its own source to an AST at import.
COMPILED_FROM_SOURCE = """
import importlib, json, sys
compiled = []
def seen(event, args):
    if event == "compile" and sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
        compiled.append(str(args[1]))
sys.addaudithook(seen)
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(compiled))
"""


def compiled_on_import(family: str, *options: str) -> list[str]:
    modules = ["mindpulse.protocol", *sorted({s.module for s in catalog.STEPS if s.family == family})]
    command = ["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", *options]
    command += ["--entrypoint", "python", f"mindpulse/family-{family}:{TAG}"]
    command += ["-c", COMPILED_FROM_SOURCE.format(modules=modules)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_a_step_start_compiles_nothing_from_source(family: str) -> None:
    assert compiled_on_import(family) == []


def test_a_start_without_the_shipped_bytecode_is_seen_compiling() -> None:
    """The check above sees compilation: with the bytecode looked for in an empty folder, every module
    of mindpulse and the standard library it imports is compiled from source."""
    compiled = compiled_on_import("base", "--env", "PYTHONPYCACHEPREFIX=/tmp/no-bytecode")

    assert any(path.endswith("/mindpulse/protocol.py") for path in compiled)
    assert any(path.endswith("/argparse.py") for path in compiled)
