#!/bin/sh
# The seed's design as one environment: Airflow and every step library in one venv. Used twice, so the
# benchmark's two views of that design are the same install: the host venv its PythonOperator DAGs run in
# (bench/peer.py) and the fat image whose bytes are compared with the step images (Dockerfile here).
#   install.sh PIP SOURCE   PIP: the venv's pip; SOURCE: a folder holding orchestrator/ and tasks/ as in
#                           the repository (the requirement and constraint files, tasks/common)
# Each half is held to its own lock, as the images are. The two locks pin some shared packages
# differently; pip's resolver settles it in the second install, and freeze-airflow.txt / freeze-all.txt
# (written next to the venv) show what it changed. Then the evidently family's trims (trims.txt).
# The mindpulse package is installed by the caller (editable in the venv, a copy in the image).
set -eu
pip=$1
source=$2
venv=$(dirname "$(dirname "$pip")")
"$pip" install --quiet --only-binary=:all: \
  -r "$source/orchestrator/requirements.txt" -c "$source/orchestrator/constraints.txt"
"$pip" freeze --exclude-editable >"$venv/freeze-airflow.txt"
requirements=$source/tasks/requirements
"$pip" install --quiet --only-binary=:all: -c "$requirements/constraints.txt" \
  -r "$requirements/base.txt" -r "$requirements/pandas.txt" -r "$requirements/ml.txt" -r "$requirements/evidently.txt"
# The evidently family's trims, less what Airflow requires: one environment cannot drop a package its
# scheduler needs (uvicorn serves Airflow's API), so the fat image keeps those and the step images do not.
normalise() { tr '[:upper:]' '[:lower:]' | tr '_.' '--'; }
sed 's/[=@ ].*//' "$venv/freeze-airflow.txt" | normalise >"$venv/airflow-packages.txt"
grep -v '^#' "$requirements/unused.txt" | normalise | grep -v -x -F -f "$venv/airflow-packages.txt" \
  >"$venv/trims.txt" || true
if [ -s "$venv/trims.txt" ]; then "$pip" uninstall --quiet --yes -r "$venv/trims.txt"; fi
"$pip" freeze --exclude-editable >"$venv/freeze-all.txt"
