#!/usr/bin/env bash
# The test command (README: "Running the tests"). Needs a running Docker engine; sets up the rest:
# the two host venvs, every image, then lint and all test layers. Extra arguments go to pytest,
# e.g. `scripts/test.sh tests/unit -k schema`; without arguments the compose-stack layer runs alongside the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start one (or run .ci/install_docker.sh)" >&2; exit 1; }

scripts/setup_venvs.sh
./build_images.sh

echo "--- ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "--- pytest"
if [ "$#" -gt 0 ]; then
  exec .venv/bin/pytest "$@"
fi
# The compose-stack layer spends most of its time waiting on Airflow; it runs beside the other layers
# (it has its own project, volumes and port, and removes only its own containers), which saves
# several minutes of wall time. Its output follows the others'.
e2e_log=$(mktemp)
.venv/bin/pytest tests/e2e -p no:cacheprovider >"$e2e_log" 2>&1 &
e2e_pid=$!
status=0
.venv/bin/pytest --ignore=tests/e2e -p no:cacheprovider || status=$?
e2e_status=0
wait "$e2e_pid" || e2e_status=$?
echo "--- pytest tests/e2e (ran alongside)"
cat "$e2e_log"
rm -f "$e2e_log"
[ "$status" -eq 0 ] && status=$e2e_status
exit "$status"
