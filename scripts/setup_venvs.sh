#!/usr/bin/env bash
# Creates the two host virtual environments the tests use, from the pinned files in the repo:
#   .venv          the step libraries + test tools, and tasks/common installed editable
#   .venv-airflow  Airflow with the Docker provider, for DAG tests and `airflow dags test`, and tasks/common
#                  installed editable without dependencies (the DAGs read the step declarations)
# Airflow and Evidently pin incompatible versions of shared libraries, hence two venvs.
# A venv is rebuilt only when its requirement files changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}

ensure_venv() {
  local venv=$1
  shift
  local stamp
  stamp=$(cat "$@" | sha256sum | cut -c1-16)
  if [[ -f $venv/.requirements-stamp && $(cat "$venv/.requirements-stamp") == "$stamp" ]]; then
    return
  fi
  echo "setting up $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  echo "$stamp" >"$venv/.requirements-stamp.pending"
}

finish_venv() {
  mv "$1/.requirements-stamp.pending" "$1/.requirements-stamp"
}

pip_install() {
  local venv=$1
  shift
  local log
  log=$(mktemp)
  # Shown only on failure, without the machine's warnings about absent local package indexes.
  if ! "$venv/bin/pip" install --quiet "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

ensure_venv .venv tests/requirements.txt tasks/requirements/*.txt tasks/common/pyproject.toml
if [[ -f .venv/.requirements-stamp.pending ]]; then
  pip_install .venv -r tests/requirements.txt
  pip_install .venv --no-deps -e tasks/common
  finish_venv .venv
fi

ensure_venv .venv-airflow orchestrator/requirements.txt orchestrator/constraints.txt tasks/common/pyproject.toml
if [[ -f .venv-airflow/.requirements-stamp.pending ]]; then
  pip_install .venv-airflow -r orchestrator/requirements.txt -c orchestrator/constraints.txt
  pip_install .venv-airflow --no-deps --no-build-isolation -e tasks/common
  finish_venv .venv-airflow
fi
