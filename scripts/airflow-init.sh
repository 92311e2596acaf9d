#!/usr/bin/env bash
# The airflow-init service of docker-compose.yml: everything the stack needs before its first start.
# The secrets are already there: secrets-init (scripts/init-secrets.sh) ran before PostgreSQL.
# Runs as root in the Airflow image, is safe to run again and changes only what is missing or wrong:
#   1. the Docker socket: the Docker guard (uid 10002 plus group DOCKER_GID) must be able to use it
#   2. ownership: Airflow's log volume for AIRFLOW_UID; the data, models and reports volumes for the
#      user the step containers run as (MINDPULSE_TASK_USER, default the images' uid 10001)
#   3. the model-signing key pair in the trust and signing volumes, when there is none (mindpulse.signing)
#   4. demo seeding: an empty data volume is marked for the one-shot demo-bootstrap and demo-traffic
#      services, which seed it and clear the mark; a volume with data is never seeded
#   5. as AIRFLOW_UID: `airflow db migrate`, and the admin user when it does not exist yet; published beyond
#      127.0.0.1 (AIRFLOW_BIND_ADDRESS), refuses to go on while an admin user has the password "admin"
#   6. the Airflow Connection mindpulse_webhook from MINDPULSE_WEBHOOK_URL (alerts and summaries post to it)
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
# The Docker guard's user (orchestrator/guard/Dockerfile).
guard_uid=10002
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
# Only the Docker guard mounts it (uid 10002, group 0, plus the added group DOCKER_GID): checked as the guard.
[[ -S $docker_socket ]] || die "no Docker socket at $docker_socket: set DOCKER_SOCKET in .env to the engine's socket"
socket_gid=$(stat -c %g "$docker_socket")
as_guard=(setpriv --reuid="$guard_uid" --regid=0 --groups="$docker_gid" --)
if ! "${as_guard[@]}" test -r "$docker_socket" -a -w "$docker_socket"; then
  die "the Docker guard (uid $guard_uid, group $docker_gid) could not use the Docker socket, which belongs to" \
    "group $socket_gid: put DOCKER_GID=$socket_gid in .env (scripts/quickstart.sh does) and run this again"
fi
log "Docker socket: usable by the Docker guard (uid $guard_uid) with group $docker_gid"

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

# --- 3. the model-signing key pair (mindpulse.signing) -----------------------------------------
# Made once, as the step user (who also signs the versions already on the models volume the first time:
# registry.establish_trust). Then the public key is root's, so not even a step that mounted the trust volume
# writable could swap it, and the private key is readable by the steps' group only.
for volume in trust signing; do
  [[ -d $volumes_root/$volume ]] || die "$volumes_root/$volume is not mounted (the mindpulse_$volume volume)"
  chown "$task_uid:$task_gid" "$volumes_root/$volume"
done
as_task=(setpriv --reuid="$task_uid" --regid="$task_gid" --clear-groups --)
if ! trust_log=$(env MINDPULSE_MODELS_DIR="$volumes_root/models" MINDPULSE_TRUST_DIR="$volumes_root/trust" \
  MINDPULSE_SIGNING_DIR="$volumes_root/signing" "${as_task[@]}" python -c \
  'from mindpulse import registry, paths; registry.establish_trust(paths.Layout.from_env())' 2>&1); then
  die "the model-signing key pair: $(tail -n 1 <<<"$trust_log")"
fi
[[ -z $trust_log ]] || log "$trust_log"
chown -R 0:0 "$volumes_root/trust"
chmod 0755 "$volumes_root/trust" && chmod 0644 "$volumes_root/trust"/*
chown -R "0:$task_gid" "$volumes_root/signing"
chmod 0750 "$volumes_root/signing" && chmod 0440 "$volumes_root/signing"/*
log "model-signing key pair: public key in the trust volume (root's), private key in the signing volume"

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
# The well-known password is for the local demo only: published beyond this machine, the stack refuses to start
# while any admin user still has it (checked against the database: a password changed in the UI counts).
bind=${AIRFLOW_BIND_ADDRESS:-127.0.0.1}
if [[ $bind != 127.* && $bind != localhost && $bind != ::1 && $bind != "[::1]" ]]; then
  if ! weak=$(as_airflow python - <<'PYTHON'
from airflow.providers.fab.auth_manager.models import User
from airflow.utils.session import create_session
from werkzeug.security import check_password_hash

with create_session() as session:
    print(" ".join(user.username for user in session.query(User) if check_password_hash(user.password, "admin")))
PYTHON
  ); then
    die "could not check the admin users' passwords (see above)"
  fi
  if [[ -n $weak ]]; then
    die "AIRFLOW_BIND_ADDRESS=$bind publishes the UI beyond this machine, and user(s) $weak still have the" \
      "password \"admin\": set AIRFLOW_ADMIN_PASSWORD in .env for a new install, or change the password in the UI" \
      "(Security > Users) while bound to 127.0.0.1, then run this again"
  fi
  log "UI published on $bind: no admin user has the default password"
fi
if [[ $admin_password == admin ]]; then
  cat >&2 <<'EOF'
###########################################################################################
#  WARNING: the admin user was created with the password "admin", which everybody knows.  #
#  Unless you have changed it already, change it now (Security > Users in the UI), or set #
#  AIRFLOW_ADMIN_PASSWORD in .env before the first `docker compose up airflow-init`.      #
###########################################################################################
EOF
fi
# --- 6. the webhook Connection ------------------------------------------------------------------
# Through the ORM, not `airflow connections add`: the CLI prints the host (the URL, with its token) and
# records its command line in the audit log. The URL is never echoed.
# The whole URL is the Connection's password, which Airflow encrypts with the Fernet key; the host shows only the
# host name. A Connection of an older version, with the URL in its (unencrypted) host, is moved over.
as_airflow python - <<'PYTHON' || die "the webhook Connection could not be written (see above)"
import os
import sys
from urllib.parse import urlsplit

from airflow.models.connection import Connection
from airflow.utils.session import create_session
from sqlalchemy import select

from mindpulse.alerts import WEBHOOK_CONNECTION, webhook_url

with create_session() as session:
    connection = session.scalar(select(Connection).where(Connection.conn_id == WEBHOOK_CONNECTION))
    if os.environ.get("MINDPULSE_WEBHOOK_URL"):
        source = "from MINDPULSE_WEBHOOK_URL"
        try:
            url = webhook_url(os.environ["MINDPULSE_WEBHOOK_URL"])
        except ValueError:
            sys.exit("airflow-init: ERROR: MINDPULSE_WEBHOOK_URL in .env must be a whole http(s)://host/path URL")
    elif connection is not None and not connection.password and "/" in (connection.host or ""):
        source, url = "moved from its unencrypted host field to its password", connection.host
    else:
        print("airflow-init: webhook: MINDPULSE_WEBHOOK_URL is not set in .env; Connection left as it is")
        sys.exit(0)
    state = "unchanged" if connection is not None and connection.password == url else "written"
    if connection is None:
        connection = Connection(conn_id=WEBHOOK_CONNECTION, conn_type="http")
        session.add(connection)
    connection.conn_type = "http"
    connection.host = urlsplit(url).hostname
    connection.password = url
    connection.description = "Webhook of MindPulse alerts and summaries: its password is the whole URL"
print(f"airflow-init: webhook: Connection {WEBHOOK_CONNECTION} {state} ({source})")
PYTHON
log "done"
