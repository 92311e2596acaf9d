#!/bin/sh
# The seed's design as one environment: Airflow and every step library in one venv. Used twice, so the
# benchmark's two views of that design are the same install: the host venv its PythonOperator DAGs run in
# (bench/peer.py) and the fat image whose bytes are compared with the step images (Dockerfile here).
#   install.sh PIP SOURCE   PIP: the venv's pip; SOURCE: a folder holding orchestrator/ and tasks/ as in
#                           the repository (the requirement and constraint files, tasks/common)
# Each half is held to its own lock, as the images are. The two locks pin some shared packages
# differently; pip's resolver settles it in the second install, and freeze-airflow.txt / freeze-all.txt
# (written next to the venv) show what it changed. Then the same trims as the evidently family image.
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
"$pip" uninstall --quiet --yes -r "$requirements/unused.txt"
"$pip" freeze --exclude-editable >"$venv/freeze-all.txt"
