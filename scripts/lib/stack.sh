# The steps scripts/quickstart.sh and scripts/cluster.sh share: .env, the image tag, building and checking
# the images, waiting for health, the welcome. Sourced, not run; the caller sets `name` (its messages' prefix),
# `compose` (its compose command, an array) and `start_timeout` (seconds), and runs in the repository's root.
# shellcheck shell=bash

step() { printf '\n==> %s\n' "$*"; }
die() {
  echo "$name: ERROR: $*" >&2
  exit 1
}

# The value of KEY in .env (the last one wins, as in compose), or nothing.
env_value() {
  [[ -f .env ]] || return 0
  sed -n "s/^$1=//p" .env | tail -n 1
}

# The value compose uses for KEY: the environment's, else .env's, else DEFAULT.
setting() {
  local value=${!1:-}
  value=${value:-$(env_value "$1")}
  echo "${value:-$2}"
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

# A Docker engine with Compose v2: installs and starts one (.ci/install_docker.sh, needs root) when none answers.
ensure_engine() {
  if ! docker info >/dev/null 2>&1; then
    step "no Docker engine answers: installing and starting one"
    ((EUID == 0)) || die "installing Docker needs root: start your Docker engine, or run: sudo $0"
    bash .ci/install_docker.sh
  fi
  docker compose version >/dev/null 2>&1 || die "'docker compose' (Compose v2) is missing"
}

# The tag every image of the stack is run under, as compose and the DAGs resolve MINDPULSE_IMAGE_TAG.
image_tag() { setting MINDPULSE_IMAGE_TAG latest; }

# The arguments of ./build_images.sh for the tag the stack runs: none when that is latest (the default build:
# the VERSION tag, and latest with it), else --tag TAG.
build_arguments() { if [[ $(image_tag) != latest ]]; then echo "--tag $(image_tag)"; fi; }
# ./build_images.sh for the stack's tag; extra arguments go to it.
build_images() {
  local arguments
  read -ra arguments <<<"$(build_arguments)"
  MINDPULSE_IMAGE_TAG='' ./build_images.sh "${arguments[@]}" "$@"
}
# The same, as a user types it.
build_command() {
  local arguments
  arguments=$(build_arguments)
  echo "./build_images.sh${arguments:+ $arguments}"
}

# The step images of the stack's tag are those the build recorded (image-locks/TAG.json): in this engine, or
# with `--registry HOST:PORT` (password in REGISTRY_PASSWORD) in the cluster's registry. Else one line naming
# the image, then FIX, before any run can fail on it.
check_images() {
  local fix=$1 local_images="" said
  shift
  # The engine's images are what the local check compares; the registry check asks the registry instead.
  if [[ " $* " != *" --registry "* ]]; then
    local_images=$(docker image ls --no-trunc --format '{{.Repository}} {{.ID}}' --filter "reference=mindpulse/*:$(image_tag)")
  fi
  said=$(PYTHONPATH=tasks/common python3 -m mindpulse.image_lock check image-locks "$(image_tag)" "$@" \
    <<<"$local_images" 2>&1) || die "${said#ERROR: }: $fix"
  echo "$said"
}

# AIRFLOW_UID and DOCKER_GID in .env when missing or wrong, and the shared folders (everything else has
# defaults, see .env.example).
write_env() {
  if [[ -z $(env_value AIRFLOW_UID) ]]; then
    # Airflow keeps its files in named volumes, so the uid only has to be non-root.
    if ((EUID == 0)); then env_set AIRFLOW_UID 50000; else env_set AIRFLOW_UID "$(id -u)"; fi
  fi
  # The socket's group as containers see it (on Docker Desktop it differs from the host's file).
  local socket docker_gid shared kind volume device
  socket=$(env_value DOCKER_SOCKET)
  socket=${socket:-/var/run/docker.sock}
  docker_gid=$(docker run --rm --network none --entrypoint stat -v "$socket:/var/run/docker.sock" \
    "mindpulse/airflow:$(image_tag)" -c %g /var/run/docker.sock) || die "cannot mount the Docker socket $socket"
  env_set DOCKER_GID "$docker_gid"

  shared=$(setting MINDPULSE_SHARED_DIR ./shared_volumes)
  mkdir -p "$shared"/{data,models,reports}
  # A volume of the same name made outside compose (e.g. by `docker run -v mindpulse_data:/data`)
  # would be used as it is, and the reports would not land in the shared folder.
  for kind in data models reports; do
    volume=$(setting "MINDPULSE_${kind^^}_VOLUME" "mindpulse_$kind")
    device=$(docker volume inspect --format '{{index .Options "device"}}' "$volume" 2>/dev/null) || continue
    if [[ $device != "$(cd "$shared/$kind" && pwd)" ]]; then
      echo "   WARNING: volume $volume exists and is not the folder $shared/$kind; to fix it:" \
        "${compose[*]} down && docker volume rm $volume" >&2
    fi
  done
}

# airflow-init (the database, the admin, the secrets), which must succeed before anything else starts.
init_airflow() {
  step "${compose[*]} up airflow-init"
  "${compose[@]}" up airflow-init
  local init_id
  init_id=$("${compose[@]}" ps --all --quiet airflow-init)
  [[ $(docker inspect --format '{{.State.ExitCode}}' "$init_id") == 0 ]] \
    || die "airflow-init failed: see its messages above (${compose[*]} logs airflow-init)"
}

# Wait until every service named is healthy, for at most $start_timeout seconds (the caller's). Not
# `up --wait`: the one-shot services (secrets, init, demo seeding) exit, which it would count as failure.
wait_healthy() {
  local deadline=$((SECONDS + start_timeout)) waiting service id health
  step "waiting until $* are healthy"
  while :; do
    waiting=()
    for service in "$@"; do
      id=$("${compose[@]}" ps --quiet "$service")
      health=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || true)
      [[ $health == healthy ]] || waiting+=("$service:${health:-not running}")
    done
    ((${#waiting[@]})) || return 0
    if ((SECONDS > deadline)); then
      "${compose[@]}" ps --all
      die "not healthy after $start_timeout s: ${waiting[*]} (${compose[*]} logs SERVICE)"
    fi
    echo "   waiting: ${waiting[*]}"
    sleep 10
  done
}

# The URL, the login and the next commands.
welcome() {
  local what=$1 port user password password_note shared
  port=$(setting AIRFLOW_PORT 8083)
  user=$(setting AIRFLOW_ADMIN_USERNAME admin)
  password=$(env_value AIRFLOW_ADMIN_PASSWORD)
  password_note="(AIRFLOW_ADMIN_PASSWORD in .env)"
  if [[ -z $password || $password == admin ]]; then
    password_note="admin   <- WARNING: the well-known default, change it (Security > Users in the UI)"
  fi
  shared=$(setting MINDPULSE_SHARED_DIR ./shared_volumes)
  cat <<EOF

$what is running.
  UI and REST API  http://localhost:$port
  login            $user / $password_note
  reports          $shared/reports/index.html (after the first run of evidently_reporting_pipeline)
The DAGs start paused. Unpause and run them in the UI, or:
  docker exec airflow-webserver airflow dags unpause ml_retrain_pipeline
  docker exec airflow-webserver airflow dags trigger ml_retrain_pipeline
Stop with: $0 down
EOF
}
