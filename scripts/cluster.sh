#!/usr/bin/env bash
# MindPulse on several Docker hosts in one command (docker-compose.cluster.yml, docs/scaling.md):
#   1. builds every image and the cluster's own (./build_images.sh --cluster)
#   2. starts the registry and pushes every image to it through 127.0.0.1:$MINDPULSE_REGISTRY_PORT
#   3. airflow-init, then the whole stack: Airflow with the CeleryExecutor, Redis, two worker hosts
# The single-machine stack's .env applies (scripts/quickstart.sh writes it). Safe to run again.
# `scripts/cluster.sh down` stops the cluster and keeps its volumes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
die() {
  echo "cluster: ERROR: $*" >&2
  exit 1
}
compose=(docker compose --file docker-compose.yml --file docker-compose.cluster.yml)
if [[ ${1:-} == down ]]; then
  exec "${compose[@]}" down
fi
(($# == 0)) || die "unknown argument '$1' (no argument: start; down: stop)"

docker info >/dev/null 2>&1 || die "no Docker engine answers: start one (scripts/quickstart.sh installs one)"
env_value() { [[ -f .env ]] && sed -n "s/^$1=//p" .env | tail -n 1; }
port=${MINDPULSE_REGISTRY_PORT:-$(env_value MINDPULSE_REGISTRY_PORT || true)}
port=${port:-5001}

echo "==> building the images"
./build_images.sh --cluster
echo "==> starting the registry and pushing the images to it"
"${compose[@]}" up -d --wait registry
# The registry takes only its own user, with the password secrets-init generated into its volume.
"${compose[@]}" run --rm --no-deps -T --entrypoint cat registry /run/secrets/registry/password \
  | ./build_images.sh --push "localhost:$port" --password-stdin
echo "==> starting the cluster"
"${compose[@]}" up airflow-init
"${compose[@]}" up -d
# Not `up --wait`: the one-shot services (secrets, init, demo seeding) exit, which it would count as failure.
services=(airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer worker-1 worker-2)
echo "==> waiting until ${services[*]} are healthy (the first start seeds the demo data: minutes)"
for service in "${services[@]}"; do
  for ((waited = 0; ; waited += 5)); do
    id=$("${compose[@]}" ps --quiet "$service")
    [[ -n $id && $(docker inspect --format '{{.State.Health.Status}}' "$id") == healthy ]] && break
    ((waited < 1800)) || die "$service is not healthy after 30 minutes: ${compose[*]} logs $service"
    sleep 5
  done
done
ui_port=${AIRFLOW_PORT:-$(env_value AIRFLOW_PORT || true)}
echo "MindPulse cluster: http://localhost:${ui_port:-8083}"
