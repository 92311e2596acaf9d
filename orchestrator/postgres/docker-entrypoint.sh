#!/usr/bin/env bash
# Starts PostgreSQL the way the official postgres image does: on an empty PGDATA it creates the
# cluster with POSTGRES_USER / POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), creates POSTGRES_DB and runs the scripts in
# /docker-entrypoint-initdb.d, then it runs the server in the foreground. An existing cluster is
# started as it is: the POSTGRES_* variables only matter the first time.
set -Eeuo pipefail

die() {
  echo "docker-entrypoint.sh: ERROR: $*" >&2
  exit 1
}

# `docker run IMAGE -c shared_buffers=256MB` passes server options, like the official image.
if [[ ${1:-} == -* ]]; then
  set -- postgres "$@"
fi

if [[ ${1:-} != postgres ]]; then
  exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# POSTGRES_PASSWORD_FILE: the password from a file (a secret mount), like the official image. Read
# before stepping down from root, and passed on as POSTGRES_PASSWORD.
if [[ -n ${POSTGRES_PASSWORD_FILE:-} ]]; then
  [[ -z ${POSTGRES_PASSWORD:-} ]] || die "POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are both set: use one"
  [[ -r $POSTGRES_PASSWORD_FILE ]] || die "POSTGRES_PASSWORD_FILE $POSTGRES_PASSWORD_FILE cannot be read by uid $(id -u)"
  POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
  export POSTGRES_PASSWORD
  unset POSTGRES_PASSWORD_FILE
fi

# Root only fixes ownership (a bind mount or a volume created by someone else) and steps down:
# PostgreSQL refuses to run as root.
if ((EUID == 0)); then
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

[[ -w $PGDATA ]] || die "$PGDATA is not writable by $(id -un) (uid $(id -u)); chown it to uid $(id -u)"

run_initdb_scripts() {
  local script
  shopt -s nullglob
  for script in /docker-entrypoint-initdb.d/*; do
    case $script in
      *.sh) echo "running $script"; bash "$script" ;;
      *.sql) echo "running $script"; psql_init -f "$script" ;;
      *.sql.gz) echo "running $script"; gunzip -c "$script" | psql_init ;;
      *) echo "ignoring $script" ;;
    esac
  done
  shopt -u nullglob
}

psql_init() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" "$@"
}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  POSTGRES_USER=${POSTGRES_USER:-postgres}
  POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  auth_method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [[ -z ${POSTGRES_PASSWORD:-} && $auth_method != trust ]]; then
    die "the database is not initialised and POSTGRES_PASSWORD is empty: set it" \
      "(or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a password)"
  fi
  [[ -z $(ls -A "$PGDATA") ]] || die "$PGDATA holds files but no PostgreSQL cluster; empty it or point PGDATA elsewhere"

  echo "initialising a PostgreSQL cluster in $PGDATA for user $POSTGRES_USER"
  # The password goes through a pipe, never the command line, where `ps` would show it.
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, split on purpose
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    --auth-local=trust --auth-host="$auth_method" ${POSTGRES_INITDB_ARGS:-}
  # initdb only trusts localhost; containers on the compose network connect from their own addresses.
  printf '\nhost all all all %s\n' "$auth_method" >>"$PGDATA/pg_hba.conf"

  # A server on the Unix socket only, so nobody can connect (or pass a TCP healthcheck) before
  # the database and the init scripts are in place.
  pg_ctl --silent --wait --options "-c listen_addresses='' -p 5432" start
  export PGUSER=$POSTGRES_USER
  if [[ $POSTGRES_DB != postgres ]]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres --set db="$POSTGRES_DB" \
      <<<'CREATE DATABASE :"db";'
  fi
  run_initdb_scripts
  pg_ctl --silent --wait --mode fast stop
  unset PGUSER
  echo "PostgreSQL initialised; starting the server"
fi

exec "$@"
