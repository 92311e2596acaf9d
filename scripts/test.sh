#!/usr/bin/env bash
# The test command (README: "Running the tests"). Needs a running Docker engine; sets up the rest:
# the two host venvs, every image, then lint and all test layers. Extra arguments go to pytest,
# e.g. `scripts/test.sh tests/unit -k schema`; without arguments the compose-stack layers run alongside the rest.
# `scripts/test.sh --fast` is the fast lane: no Docker engine, no image, lint and the pure-logic tests only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

lint() {
  echo "--- ruff"
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  echo "--- mypy (strict): the step package, and the DAG side against the Airflow venv"
  .venv/bin/mypy tasks/common/mindpulse scripts/readme_tables.py
  .venv/bin/mypy --python-executable .venv-airflow/bin/python orchestrator/dags
}

# The fast lane: lint and the tests that need no Docker engine, no image and no Airflow run (tests/conftest.py),
# on every core.
if [[ ${1:-} == --fast ]]; then
  shift
  scripts/setup_venvs.sh
  lint
  echo "--- pytest (fast lane)"
  exec .venv/bin/pytest -m "not docker and not slow" -n auto -p no:cacheprovider "$@"
fi

docker info >/dev/null 2>&1 || { echo "no Docker engine answers: start one (or run .ci/install_docker.sh)" >&2; exit 1; }

scripts/setup_venvs.sh
./build_images.sh --cluster
lint

echo "--- pytest"
if [ "$#" -gt 0 ]; then
  exec .venv/bin/pytest "$@"
fi
# The compose-stack layers (the single-machine stack, tests/e2e, and the Celery cluster, tests/cluster) spend
# most of their time waiting on Airflow; they run beside the other layers (each has its own project, volumes
# and ports, and removes only its own containers), which saves several minutes of wall time. Their output
# follows the others'.
stack_layers=(tests/e2e tests/cluster)
pids=() logs=()
for layer in "${stack_layers[@]}"; do
  log=$(mktemp)
  .venv/bin/pytest "$layer" -p no:cacheprovider >"$log" 2>&1 &
  pids+=("$!") logs+=("$log")
done
status=0
.venv/bin/pytest "${stack_layers[@]/#/--ignore=}" -p no:cacheprovider || status=$?
for i in "${!stack_layers[@]}"; do
  layer_status=0
  wait "${pids[i]}" || layer_status=$?
  echo "--- pytest ${stack_layers[i]} (ran alongside)"
  cat "${logs[i]}"
  rm -f "${logs[i]}"
  [ "$status" -eq 0 ] && status=$layer_status
done
exit "$status"
