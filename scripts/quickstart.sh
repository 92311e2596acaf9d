#!/usr/bin/env bash
# From a fresh machine to the MindPulse UI in one command:
#   1. a Docker engine: installs and starts one (.ci/install_docker.sh, needs root) when none answers
#   2. the images: ./build_images.sh, for the tag the stack runs (MINDPULSE_IMAGE_TAG, default latest)
#   3. .env: AIRFLOW_UID and DOCKER_GID when missing (everything else has defaults, see .env.example)
#   4. docker compose up airflow-init, then docker compose up -d (which seeds the demo data)
#   5. waits until every Airflow component is healthy and prints the URL and the login
# Safe to run again: it only adds what is missing. `scripts/quickstart.sh down` stops the stack, keeping its data.
# scripts/cluster.sh does the same for the Celery cluster; the steps both take are in scripts/lib/stack.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
name=quickstart
start_timeout=${QUICKSTART_TIMEOUT:-600}
compose=(docker compose)
# shellcheck source=scripts/lib/stack.sh
source scripts/lib/stack.sh
if [[ ${1:-} == down ]]; then
  exec "${compose[@]}" down
fi
(($# == 0)) || die "unknown argument '$1' (no argument: start; down: stop)"

ensure_engine
step "building the images"
build_images
check_images "build them: $(build_command)"
step "checking .env"
write_env
init_airflow
step "${compose[*]} up -d (the first start seeds the demo data: a few minutes)"
"${compose[@]}" up -d
wait_healthy airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer
welcome MindPulse
