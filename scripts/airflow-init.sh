#!/usr/bin/env bash
# The airflow-init service of docker-compose.yml: everything the stack needs before its first start.
# Runs as root in the Airflow image, is safe to run again and changes only what is missing or wrong:
#   1. the Docker socket: the scheduler (AIRFLOW_UID plus group DOCKER_GID) must be able to use it
#   2. secrets: the Fernet key, the JWT secret and the API server's session key, generated once into
#      the airflow-secrets volume (or taken from .env), never baked into an image or this repository
#   3. ownership: Airflow's log volume for AIRFLOW_UID; the data, models and reports volumes for the
#      user the step containers run as (MINDPULSE_TASK_USER, default the images' uid 10001)
#   4. demo seeding: an empty data volume is marked for the one-shot demo-bootstrap and demo-traffic
#      services, which seed it and clear the mark; a volume with data is never seeded
#   5. as AIRFLOW_UID: `airflow db migrate`, and the admin user when it does not exist yet
set -Eeuo pipefail

log() { echo "airflow-init: $*"; }
die() {
  echo "airflow-init: ERROR: $*" >&2
  exit 1
}

airflow_uid=${AIRFLOW_UID:-50000}
task_owner=${MINDPULSE_TASK_USER:-10001:10001}
docker_gid=${DOCKER_GID:-0}
docker_socket=/var/run/docker.sock
secrets_dir=/opt/airflow/secrets
logs_dir=/opt/airflow/logs
volumes_root=/mindpulse
seed_mark=$volumes_root/data/.demo-seed-pending

[[ $airflow_uid =~ ^[0-9]+$ ]] || die "AIRFLOW_UID='$airflow_uid' in .env is not a numeric uid"
[[ $docker_gid =~ ^[0-9]+$ ]] || die "DOCKER_GID='$docker_gid' in .env is not a numeric gid"
[[ $task_owner =~ ^[0-9]+(:[0-9]+)?$ ]] || die "MINDPULSE_TASK_USER='$task_owner' in .env is not uid or uid:gid"
((EUID == 0)) || die "this script prepares volumes and must run as root (the compose file says user: \"0:0\")"

if [[ -z ${AIRFLOW_UID:-} ]]; then
  log "AIRFLOW_UID is not set in .env: Airflow runs as uid 50000 (echo \"AIRFLOW_UID=\$(id -u)\" >> .env)"
elif ((airflow_uid == 0)); then
  log "WARNING: AIRFLOW_UID=0 runs every Airflow component as root; any other uid works (50000 is the image's)"
fi

# --- 1. the Docker socket ----------------------------------------------------------------------
if [[ -n ${DOCKER_HOST:-} ]]; then
  log "Docker engine: DOCKER_HOST=$DOCKER_HOST (not checked here)"
else
  [[ -S $docker_socket ]] || die "no Docker socket at $docker_socket: set DOCKER_SOCKET in .env to the engine's socket"
  socket_gid=$(stat -c %g "$docker_socket")
  # Checked as the scheduler will be: its uid, group 0 and the added group DOCKER_GID.
  as_scheduler=(setpriv --reuid="$airflow_uid" --regid=0 --groups="$docker_gid" --)
  if ! "${as_scheduler[@]}" test -r "$docker_socket" -a -w "$docker_socket"; then
    die "the scheduler (uid $airflow_uid, group $docker_gid) could not use the Docker socket, which belongs to" \
      "group $socket_gid: put DOCKER_GID=$socket_gid in .env (scripts/quickstart.sh does) and run this again"
  fi
  log "Docker socket: usable by uid $airflow_uid with group $docker_gid"
fi

# --- 2. secrets --------------------------------------------------------------------------------
install -d -o "$airflow_uid" -g 0 -m 0750 "$secrets_dir"

# secret NAME GIVEN GENERATOR...: GIVEN (from .env) replaces the stored value; without it a stored
# value is kept and a missing one generated. No trailing newline: Airflow's *_CMD reads the file raw.
secret() {
  local name=$1 given=$2 file=$secrets_dir/$1 value
  shift 2
  if [[ -n $given ]]; then
    value=$given
    log "secret $name: taken from .env"
  elif [[ -s $file ]]; then
    value=$(<"$file")
    log "secret $name: kept"
  else
    value=$("$@")
    log "secret $name: generated"
  fi
  (umask 077 && printf '%s' "$value" >"$file.tmp")
  chown "$airflow_uid:0" "$file.tmp"
  chmod 0400 "$file.tmp"
  mv -f "$file.tmp" "$file"
}
secret fernet_key "${AIRFLOW_FERNET_KEY:-}" \
  python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'
secret jwt_secret "${AIRFLOW_JWT_SECRET:-}" python -c 'import secrets; print(secrets.token_urlsafe(48))'
secret api_secret_key "${AIRFLOW_API_SECRET_KEY:-}" python -c 'import secrets; print(secrets.token_urlsafe(48))'

# --- 3. ownership ------------------------------------------------------------------------------
# Only what has the wrong owner is changed, so a large, correct volume costs one directory walk.
install -d -o "$airflow_uid" -g 0 -m 2775 "$logs_dir"
find "$logs_dir" -xdev \! -user "$airflow_uid" -exec chown -h "$airflow_uid:0" '{}' +

task_uid=${task_owner%%:*}
task_gid=${task_owner#*:}
[[ $task_owner == *:* ]] || task_gid=$task_uid
for volume in data models reports; do
  dir=$volumes_root/$volume
  [[ -d $dir ]] || die "$dir is not mounted (the mindpulse_$volume volume)"
  find "$dir" -xdev \( \! -user "$task_uid" -o \! -group "$task_gid" \) -exec chown -h "$task_uid:$task_gid" '{}' +
done
log "volumes data, models, reports: owned by $task_uid:$task_gid, the user of the step containers"

# --- 4. demo seeding ---------------------------------------------------------------------------
if [[ ${MINDPULSE_DEMO_SEED:-true} != true ]]; then
  log "demo seeding: off (MINDPULSE_DEMO_SEED=${MINDPULSE_DEMO_SEED})"
elif [[ -e $seed_mark ]]; then
  log "demo seeding: still pending from an earlier start"
elif [[ -e $volumes_root/data/reference_data.csv || -e $volumes_root/data/prod_data.csv ]]; then
  log "demo seeding: not needed, the data volume holds data"
else
  touch "$seed_mark"
  chown "$task_uid:$task_gid" "$seed_mark"
  log "demo seeding: the data volume is empty; demo-bootstrap and demo-traffic will seed it"
fi

# --- 5. the metadata database and the admin user -----------------------------------------------
as_airflow() {
  setpriv --reuid="$airflow_uid" --regid=0 --clear-groups -- "$@"
}

log "migrating the metadata database"
as_airflow airflow db migrate

admin_user=${AIRFLOW_ADMIN_USERNAME:-admin}
admin_password=${AIRFLOW_ADMIN_PASSWORD:-admin}
# `users create` leaves an existing user alone (a password changed in the UI stays changed).
as_airflow airflow users create --role Admin --username "$admin_user" --password "$admin_password" \
  --firstname Admin --lastname User --email "${AIRFLOW_ADMIN_EMAIL:-admin@example.com}"
if [[ $admin_password == admin ]]; then
  cat >&2 <<'EOF'
###########################################################################################
#  WARNING: the admin user was created with the password "admin", which everybody knows.  #
#  Unless you have changed it already, change it now (Security > Users in the UI), or set #
#  AIRFLOW_ADMIN_PASSWORD in .env before the first `docker compose up airflow-init`.      #
###########################################################################################
EOF
fi
log "done"
