#!/usr/bin/env bash
# The airflow-init service of docker-compose.yml: everything the stack needs before its first start.
# The secrets are already there: secrets-init (scripts/init-secrets.sh) ran before PostgreSQL.
# Runs as root in the Airflow image, is safe to run again and changes only what is missing or wrong:
#   1. the Docker socket: the scheduler (AIRFLOW_UID plus group DOCKER_GID) must be able to use it
#   2. ownership: Airflow's log volume for AIRFLOW_UID; the data, models and reports volumes for the
#      user the step containers run as (MINDPULSE_TASK_USER, default the images' uid 10001)
#   3. demo seeding: an empty data volume is marked for the one-shot demo-bootstrap and demo-traffic
#      services, which seed it and clear the mark; a volume with data is never seeded
#   4. as AIRFLOW_UID: `airflow db migrate`, and the admin user when it does not exist yet
#   5. the Airflow Connection mindpulse_webhook from MINDPULSE_WEBHOOK_URL (alerts and summaries post to it)
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

# --- 2. ownership ------------------------------------------------------------------------------
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

# --- 3. demo seeding ---------------------------------------------------------------------------
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

# --- 4. the metadata database and the admin user -----------------------------------------------
as_airflow() {
  setpriv --reuid="$airflow_uid" --regid=0 --clear-groups -- "$@"
}

# A database created before secrets-init generated the password still has the one it was created
# with (the compose file's old default was "airflow"): say how to go on instead of a stack trace.
if ! db_check=$(as_airflow airflow db check 2>&1); then
  if [[ $db_check == *"password authentication failed"* ]]; then
    die "PostgreSQL refused the password of the postgres-secrets volume (generated, or POSTGRES_PASSWORD" \
      "from .env): the postgres-db volume was created with another one. Put that one in .env as" \
      "POSTGRES_PASSWORD=... (the old default was \"airflow\") and run again, or start over with" \
      "\`docker compose down -v\` (which deletes the database)"
  fi
  die "the metadata database does not answer: $(tail -n 3 <<<"$db_check")"
fi
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
# --- 5. the webhook Connection ------------------------------------------------------------------
# Through the ORM, not `airflow connections add`: the CLI prints the host (the URL, with its token) and
# records its command line in the audit log. The URL is never echoed.
if [[ -z ${MINDPULSE_WEBHOOK_URL:-} ]]; then
  log "webhook: MINDPULSE_WEBHOOK_URL is not set in .env; Connection mindpulse_webhook left as it is"
else
  as_airflow python - <<'PYTHON' || die "the webhook Connection could not be written (see above)"
import os
import sys

from airflow.models.connection import Connection
from airflow.utils.session import create_session
from sqlalchemy import select

from mindpulse.alerts import WEBHOOK_CONNECTION, webhook_url

try:
    url = webhook_url(os.environ["MINDPULSE_WEBHOOK_URL"])
except ValueError:
    sys.exit("airflow-init: ERROR: MINDPULSE_WEBHOOK_URL in .env must be a whole http(s)://host/path URL")
with create_session() as session:
    connection = session.scalar(select(Connection).where(Connection.conn_id == WEBHOOK_CONNECTION))
    state = "unchanged" if connection is not None and connection.host == url else "written"
    if connection is None:
        connection = Connection(conn_id=WEBHOOK_CONNECTION, conn_type="http")
        session.add(connection)
    connection.conn_type = "http"
    connection.host = url
    connection.description = "Webhook of MindPulse alerts and summaries (from MINDPULSE_WEBHOOK_URL at init)"
print(f"airflow-init: webhook: Connection {WEBHOOK_CONNECTION} {state} from MINDPULSE_WEBHOOK_URL")
PYTHON
fi
log "done"
