#!/usr/bin/env bash
# The secrets-init service of docker-compose.yml: the stack's secrets, before anything that uses them
# starts (PostgreSQL waits for it, and every Airflow component waits for PostgreSQL). Runs as root, to
# give each file to the only user that reads it, in the Airflow image (Python and its cryptography
# package), without network. Safe to run at every start: a value set in .env replaces the stored one;
# otherwise a stored value is kept and a missing one generated. No secret is ever written to the
# repository, an image or the compose configuration.
#   airflow-secrets volume, for the Airflow components (uid AIRFLOW_UID), read through *_CMD settings:
#     fernet_key, jwt_secret, api_secret_key, and sql_alchemy_conn (the database URL with its password)
#   postgres-secrets volume, for PostgreSQL (uid 999): postgres_password (POSTGRES_PASSWORD_FILE)
set -Eeuo pipefail

log() { echo "secrets-init: $*" >&2; }
die() {
  echo "secrets-init: ERROR: $*" >&2
  exit 1
}

airflow_uid=${AIRFLOW_UID:-50000}
# The postgres user of both the official image and orchestrator/postgres.
postgres_uid=999
airflow_dir=/secrets/airflow
postgres_dir=/secrets/postgres

[[ $airflow_uid =~ ^[0-9]+$ ]] || die "AIRFLOW_UID='$airflow_uid' in .env is not a numeric uid"
((EUID == 0)) || die "this script hands each secret to its reader and must run as root (user: \"0:0\")"

install -d -o "$airflow_uid" -g 0 -m 0750 "$airflow_dir"
install -d -o "$postgres_uid" -g "$postgres_uid" -m 0700 "$postgres_dir"

# value FILE GIVEN LABEL GENERATOR...: GIVEN (from .env), else the content of FILE, else a new value.
value() {
  local file=$1 given=$2 label=$3
  shift 3
  if [[ -n $given ]]; then
    log "$label: taken from .env"
    printf '%s' "$given"
  elif [[ -s $file ]]; then
    log "$label: kept"
    cat "$file"
  else
    log "$label: generated"
    "$@"
  fi
}

# store FILE OWNER VALUE: replaced atomically, readable by OWNER only. No trailing newline: Airflow's
# *_CMD settings take the command's output as it is.
store() {
  local file=$1 owner=$2 value=$3
  (umask 077 && printf '%s' "$value" >"$file.tmp")
  chown "$owner" "$file.tmp"
  chmod 0400 "$file.tmp"
  mv -f "$file.tmp" "$file"
}

token() { python -c 'import secrets; print(secrets.token_urlsafe(48), end="")'; }
fernet_key() { python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode(), end="")'; }

for name in fernet_key jwt_secret api_secret_key; do
  case $name in
    fernet_key) given=${AIRFLOW_FERNET_KEY:-} generator=fernet_key ;;
    jwt_secret) given=${AIRFLOW_JWT_SECRET:-} generator=token ;;
    api_secret_key) given=${AIRFLOW_API_SECRET_KEY:-} generator=token ;;
  esac
  store "$airflow_dir/$name" "$airflow_uid:0" "$(value "$airflow_dir/$name" "$given" "$name" "$generator")"
done

password=$(value "$postgres_dir/postgres_password" "${POSTGRES_PASSWORD:-}" "PostgreSQL password" token)
store "$postgres_dir/postgres_password" "$postgres_uid:$postgres_uid" "$password"
# The password goes to Python on stdin (not on a command line, which `ps` shows) and is quoted for
# the URL, so any password works.
url=$(printf '%s' "$password" | POSTGRES_USER=${POSTGRES_USER:-airflow} POSTGRES_DB=${POSTGRES_DB:-airflow} python -c '
import os, sys
from urllib.parse import quote
user, db, password = (quote(v, safe="") for v in (os.environ["POSTGRES_USER"], os.environ["POSTGRES_DB"], sys.stdin.read()))
print(f"postgresql+psycopg2://{user}:{password}@postgres:5432/{db}", end="")
')
store "$airflow_dir/sql_alchemy_conn" "$airflow_uid:0" "$url"
log "done: the Airflow secrets for uid $airflow_uid, the PostgreSQL password for uid $postgres_uid"
