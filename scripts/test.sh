#!/usr/bin/env bash
# The test command (README: "Running the tests"). Needs a running Docker engine; sets up the rest:
# the two host venvs, every image, then lint and all test layers. Extra arguments go to pytest,
# e.g. `scripts/test.sh tests/unit -k schema`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start one (or run .ci/install_docker.sh)" >&2; exit 1; }

scripts/setup_venvs.sh
./build_images.sh

echo "--- ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "--- pytest"
.venv/bin/pytest "$@"
