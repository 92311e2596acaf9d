#!/usr/bin/env bash
# From a fresh machine to the MindPulse UI in one command:
#   1. a Docker engine: installs and starts one (.ci/install_docker.sh, needs root) when none answers
#   2. the images: ./build_images.sh
#   3. .env: AIRFLOW_UID and DOCKER_GID when missing (everything else has defaults, see .env.example)
#   4. docker compose up airflow-init, then docker compose up -d (which seeds the demo data)
#   5. waits until every Airflow component is healthy and prints the URL and the login
# Safe to run again: it only adds what is missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "quickstart: ERROR: $*" >&2
  exit 1
}

# The value of KEY in .env (the last one wins, as in compose), or nothing.
env_value() {
  [[ -f .env ]] || return 0
  sed -n "s/^$1=//p" .env | tail -n 1
}

# KEY=VALUE into .env: appended when KEY is missing, replaced when it differs.
env_set() {
  local key=$1 value=$2 current
  touch .env
  if ! grep -q "^$key=" .env; then
    echo "$key=$value" >>.env
    echo "   .env: $key=$value"
  elif [[ $(env_value "$key") != "$value" ]]; then
    current=$(env_value "$key")
    sed -i "s|^$key=.*|$key=$value|" .env
    echo "   .env: $key=$value (was $current)"
  fi
}

# --- 1. Docker engine ----------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  step "no Docker engine answers: installing and starting one"
  ((EUID == 0)) || die "installing Docker needs root: start your Docker engine, or run: sudo $0"
  bash .ci/install_docker.sh
fi
docker compose version >/dev/null 2>&1 || die "'docker compose' (Compose v2) is missing"

# --- 2. images -----------------------------------------------------------------------------------
step "building the images"
./build_images.sh
tag=${MINDPULSE_IMAGE_TAG:-$(env_value MINDPULSE_IMAGE_TAG)}
tag=${tag:-latest}

# --- 3. .env -------------------------------------------------------------------------------------
step "checking .env"
if [[ -z $(env_value AIRFLOW_UID) ]]; then
  # Airflow keeps its files in named volumes, so the uid only has to be non-root.
  if ((EUID == 0)); then env_set AIRFLOW_UID 50000; else env_set AIRFLOW_UID "$(id -u)"; fi
fi
# The socket's group as containers see it (on Docker Desktop it differs from the host's file).
socket=$(env_value DOCKER_SOCKET)
socket=${socket:-/var/run/docker.sock}
docker_gid=$(docker run --rm --network none --entrypoint stat -v "$socket:/var/run/docker.sock" \
  "mindpulse/airflow:$tag" -c %g /var/run/docker.sock) || die "cannot mount the Docker socket $socket"
env_set DOCKER_GID "$docker_gid"

shared=$(env_value MINDPULSE_SHARED_DIR)
shared=${shared:-./shared_volumes}
mkdir -p "$shared"/{data,models,reports}
# A volume of the same name made outside compose (e.g. by `docker run -v mindpulse_data:/data`)
# would be used as it is, and the reports would not land in the shared folder.
for kind in data models reports; do
  name=$(env_value "MINDPULSE_${kind^^}_VOLUME")
  name=${name:-mindpulse_$kind}
  device=$(docker volume inspect --format '{{index .Options "device"}}' "$name" 2>/dev/null) || continue
  if [[ $device != "$(cd "$shared/$kind" && pwd)" ]]; then
    echo "   WARNING: volume $name exists and is not the folder $shared/$kind; to fix it:" \
      "docker compose down && docker volume rm $name" >&2
  fi
done

# --- 4. the stack --------------------------------------------------------------------------------
step "docker compose up airflow-init"
docker compose up airflow-init
init_id=$(docker compose ps --all --quiet airflow-init)
[[ $(docker inspect --format '{{.State.ExitCode}}' "$init_id") == 0 ]] \
  || die "airflow-init failed: see its messages above (docker compose logs airflow-init)"

step "docker compose up -d (the first start seeds the demo data: a few minutes)"
docker compose up -d

# --- 5. health -----------------------------------------------------------------------------------
step "waiting for Airflow to be healthy"
services=(airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer)
deadline=$((SECONDS + ${QUICKSTART_TIMEOUT:-600}))
while :; do
  waiting=()
  for service in "${services[@]}"; do
    id=$(docker compose ps --quiet "$service")
    health=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || true)
    [[ $health == healthy ]] || waiting+=("$service:${health:-not running}")
  done
  ((${#waiting[@]})) || break
  if ((SECONDS > deadline)); then
    docker compose ps --all
    die "not healthy after ${QUICKSTART_TIMEOUT:-600} s: ${waiting[*]} (docker compose logs SERVICE)"
  fi
  echo "   waiting: ${waiting[*]}"
  sleep 10
done

port=$(env_value AIRFLOW_PORT)
user=$(env_value AIRFLOW_ADMIN_USERNAME)
password=$(env_value AIRFLOW_ADMIN_PASSWORD)
password_note="(AIRFLOW_ADMIN_PASSWORD in .env)"
if [[ -z $password || $password == admin ]]; then
  password_note="admin   <- WARNING: the well-known default, change it (Security > Users in the UI)"
fi
cat <<EOF

MindPulse is running.
  UI and REST API  http://localhost:${port:-8083}
  login            ${user:-admin} / $password_note
  reports          $shared/reports/index.html (after the first run of evidently_reporting_pipeline)
The DAGs start paused. Unpause and run them in the UI, or:
  docker exec airflow-webserver airflow dags unpause ml_retrain_pipeline
  docker exec airflow-webserver airflow dags trigger ml_retrain_pipeline
Stop with: docker compose down
EOF
