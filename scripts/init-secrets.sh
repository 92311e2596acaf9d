#!/usr/bin/env bash
# The secrets-init service of docker-compose.yml: the stack's secrets, before anything that uses them
# starts (PostgreSQL waits for it, and every Airflow component waits for PostgreSQL). Runs as root, to
# give each file to the only user that reads it, in the Airflow image (Python and its cryptography
# package), without network. Safe to run at every start: a value set in .env replaces the stored one;
# otherwise a stored value is kept and a missing one generated. No secret is ever written to the
# repository, an image or the compose configuration.
#   airflow-secrets volume, for the Airflow components (uid AIRFLOW_UID), read through *_CMD settings:
#     fernet_key, api_secret_key, and sql_alchemy_conn (the database URL with its password)
#   airflow-jwt volume, for the two components that sign tokens (the API server and the scheduler): jwt_secret
#   postgres-secrets volume, for PostgreSQL (uid 999): postgres_password (POSTGRES_PASSWORD_FILE)
# On the Celery cluster (docker-compose.cluster.yml mounts these four volumes as well):
#   redis-secrets, for Redis (uid 999): redis.conf with the broker's password (requirepass); the Airflow
#     components get the broker URL with it, celery_broker_url in airflow-secrets
#   registry-secrets, for the image registry (uid 100): its password, TLS key and certificate (a CA made here)
#   registry-ca, for the worker hosts' engines: the CA certificate only, to verify the registry
#   guard-secrets, for the worker hosts' Docker guards (uid 10002): registry_auth, the credential they add to
#     the pulls they allow; no other component holds it
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
jwt_dir=/secrets/jwt
postgres_dir=/secrets/postgres

[[ $airflow_uid =~ ^[0-9]+$ ]] || die "AIRFLOW_UID='$airflow_uid' in .env is not a numeric uid"
((EUID == 0)) || die "this script hands each secret to its reader and must run as root (user: \"0:0\")"

install -d -o "$airflow_uid" -g 0 -m 0750 "$airflow_dir" "$jwt_dir"
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

for name in fernet_key api_secret_key; do
  case $name in
    fernet_key) given=${AIRFLOW_FERNET_KEY:-} generator=fernet_key ;;
    api_secret_key) given=${AIRFLOW_API_SECRET_KEY:-} generator=token ;;
  esac
  store "$airflow_dir/$name" "$airflow_uid:0" "$(value "$airflow_dir/$name" "$given" "$name" "$generator")"
done
# An install from before the JWT secret had a volume of its own keeps its value (tokens stay valid).
if [[ -s $airflow_dir/jwt_secret && ! -s $jwt_dir/jwt_secret ]]; then
  mv -f "$airflow_dir/jwt_secret" "$jwt_dir/jwt_secret"
fi
rm -f "$airflow_dir/jwt_secret"
store "$jwt_dir/jwt_secret" "$airflow_uid:0" "$(value "$jwt_dir/jwt_secret" "${AIRFLOW_JWT_SECRET:-}" jwt_secret token)"

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

# --- the cluster's broker and registry, when their volumes are mounted -----------------------------------
redis_dir=/secrets/redis
if [[ -d $redis_dir ]]; then
  redis_uid=999
  redis_password=$(sed -n 's/^requirepass //p' "$redis_dir/redis.conf" 2>/dev/null || true)
  [[ -n $redis_password ]] || redis_password=$(token)
  store "$redis_dir/redis.conf" "$redis_uid:$redis_uid" "requirepass $redis_password"$'\n'
  store "$airflow_dir/celery_broker_url" "$airflow_uid:0" "redis://:$redis_password@redis:6379/0"
  log "Redis: broker password in place for uid $redis_uid and in the broker URL of uid $airflow_uid"
fi

registry_dir=/secrets/registry
if [[ -d $registry_dir ]]; then
  registry_uid=100
  guard_uid=10002
  registry_name=${MINDPULSE_REGISTRY:-mindpulse-registry:5000}
  registry_password=$(value "$registry_dir/password" "" "registry password" token)
  store "$registry_dir/password" "$registry_uid" "$registry_password"
  if [[ ! -s $registry_dir/tls.crt || ! -s /secrets/registry-ca/ca.crt ]]; then
    log "registry TLS: a CA of this install and a certificate for ${registry_name%%:*}, localhost, 127.0.0.1"
    REGISTRY_HOST=${registry_name%%:*} OUT=$registry_dir CA_OUT=/secrets/registry-ca python - <<'PYTHON'
import datetime, ipaddress, os
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

now = datetime.datetime.now(datetime.UTC)
def certificate(subject, issuer, key, signer, days, ca, names=()):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(signer, hashes.SHA256())
ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MindPulse registry CA of this install")])
ca = certificate(ca_name, ca_name, ca_key, ca_key, 3650, True)
host = os.environ["REGISTRY_HOST"]
names = [x509.DNSName(host), x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]), ca_name, key, ca_key, 825, False, names)
pem = serialization.Encoding.PEM
open(os.path.join(os.environ["OUT"], "tls.key.new"), "wb").write(
    key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(os.path.join(os.environ["OUT"], "tls.crt.new"), "wb").write(server.public_bytes(pem))
open(os.path.join(os.environ["CA_OUT"], "ca.crt.new"), "wb").write(ca.public_bytes(pem))
PYTHON
    # The CA's key is not kept: a new certificate means a new CA, which the next start makes.
    store "$registry_dir/tls.key" "$registry_uid" "$(cat "$registry_dir/tls.key.new")"
    store "$registry_dir/tls.crt" "$registry_uid" "$(cat "$registry_dir/tls.crt.new")"
    store /secrets/registry-ca/ca.crt 0 "$(cat /secrets/registry-ca/ca.crt.new)"
    chmod 0444 /secrets/registry-ca/ca.crt
    rm -f "$registry_dir"/*.new /secrets/registry-ca/*.new
  fi
  # What docker-py sends as X-Registry-Auth: base64url of the JSON credential.
  auth=$(printf '%s' "$registry_password" | REGISTRY=$registry_name python -c '
import base64, json, os, sys
credential = {"username": "mindpulse", "password": sys.stdin.read(), "serveraddress": os.environ["REGISTRY"]}
print(base64.urlsafe_b64encode(json.dumps(credential).encode()).decode(), end="")')
  store /secrets/guard/registry_auth "$guard_uid:0" "$auth"
  log "registry: password and TLS for uid $registry_uid, the CA for the worker engines, the pull credential for the guards"
fi
