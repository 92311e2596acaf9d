#!/usr/bin/env bash
# MindPulse on several Docker hosts in one command (docker-compose.cluster.yml, docs/scaling.md), from a fresh
# clone as from an installed single-machine stack:
#   1. a Docker engine, the images and the cluster's own (./build_images.sh --cluster), .env: as
#      scripts/quickstart.sh does (the shared steps are in scripts/lib/stack.sh)
#   2. starts the registry, pushes every image under the tag the DAGs run (MINDPULSE_IMAGE_TAG, default
#      latest) and checks that the registry serves each step image as built, before any run could miss one
#   3. airflow-init, then the whole stack: Airflow with the CeleryExecutor, Redis, two worker hosts, the demo data
#   4. waits until every component is healthy and prints the URL and the login
# Safe to run again. `scripts/cluster.sh down` stops the cluster and keeps its volumes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
name=cluster
# Two worker hosts pull their first images and the demo seeding trains a model on the same cores: be patient.
start_timeout=1800
compose=(docker compose --file docker-compose.yml --file docker-compose.cluster.yml)
# shellcheck source=scripts/lib/stack.sh
source scripts/lib/stack.sh
if [[ ${1:-} == down ]]; then
  exec "${compose[@]}" down
fi
(($# == 0)) || die "unknown argument '$1' (no argument: start; down: stop)"

ensure_engine
step "building the images"
build_images --cluster
step "checking .env"
write_env

step "starting the registry and pushing the images to it"
registry=127.0.0.1:$(setting MINDPULSE_REGISTRY_PORT 5001)
"${compose[@]}" up --detach --wait registry
# The registry takes only its own user, with the password secrets-init generated into its volume.
REGISTRY_PASSWORD=$("${compose[@]}" run --rm --no-deps -T --entrypoint cat registry /run/secrets/registry/password)
build_images --push "$registry" --password-stdin <<<"$REGISTRY_PASSWORD"
REGISTRY_PASSWORD=$REGISTRY_PASSWORD check_images "run $0 again (it builds and pushes them)" --registry "$registry"

init_airflow
step "starting the cluster (the first start seeds the demo data: minutes)"
"${compose[@]}" up --detach
wait_healthy airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer \
  worker-1 heavy-worker-1 worker-2 heavy-worker-2
welcome "The MindPulse cluster"
