#!/bin/sh
# Starts the host's Docker engine, then gives it the named volumes the DAGs mount (MINDPULSE_*_VOLUME,
# default mindpulse_data, mindpulse_models, mindpulse_reports) as bind volumes on the shared storage
# mounted at $MINDPULSE_SHARED_MOUNT: every worker host sees the same files under the same volume names,
# so the DAGs stay as they are. A folder missing there means this host has no shared storage: its volume is
# not created, and a step on this host stops with one ERROR line (mindpulse_cluster.check_worker_host)
# instead of running on an empty volume of its own.
# The engine pulls from the cluster's registry over TLS, verified with the CA mounted at
# /etc/docker/certs.d/<registry>/ca.crt; the credential comes with each pull, from the guard.
#   MINDPULSE_SHARED_MOUNT  where the shared storage is mounted (default /mindpulse-shared)
#   DOCKER_HOST             the engine's Unix socket (the image's unix:///run/dockerhost/docker.sock)
#   MINDPULSE_ENGINE_GROUP  the gid the socket belongs to (default 2375, the group guard-N is given)
set -eu

log() { echo "dockerhost: $*"; }
shared=${MINDPULSE_SHARED_MOUNT:-/mindpulse-shared}

# On cgroup v2 the engine can only delegate controllers (memory limits) from a cgroup without processes.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
  sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control || true
fi

# No TCP: the engine serves only a Unix socket in the volume this host shares with its Docker guard (guard-N),
# owned by the group the guard runs with. Nothing on any network reaches the engine.
socket=${DOCKER_HOST#unix://}
mkdir -p "$(dirname "$socket")"
set -- --host "$DOCKER_HOST" --group "${MINDPULSE_ENGINE_GROUP:-2375}" "$@"
# A host killed and started again keeps the runtime state of its last life in /var/run (a real host's is
# emptied at boot). Its stale containerd.pid may name a live process of this life, and the engine then
# waits on a containerd that is not there: clear it all.
rm -rf /var/run/docker /var/run/docker.pid "$socket"
dockerd "$@" &
engine=$!
tries=0
until docker info >/dev/null 2>&1; do
  kill -0 "$engine" 2>/dev/null || { log "ERROR: dockerd exited while starting"; exit 1; }
  tries=$((tries + 1))
  [ "$tries" -lt 120 ] || { log "ERROR: dockerd did not answer within 60 s"; exit 1; }
  sleep 0.5
done

# The model-signing key pair (mindpulse.signing) comes the same way, from the stack's trust and signing volumes
# mounted read-only at $MINDPULSE_KEYS_MOUNT (default /mindpulse-keys).
keys=${MINDPULSE_KEYS_MOUNT:-/mindpulse-keys}
for volume in data models reports trust signing; do
  case $volume in trust | signing) folder=$keys/$volume ;; *) folder=$shared/$volume ;; esac
  name=$(printenv "MINDPULSE_$(echo "$volume" | tr a-z A-Z)_VOLUME" || echo "mindpulse_$volume")
  if [ ! -d "$folder" ]; then
    log "no shared storage at $folder: volume $name is not created"
  elif ! docker volume inspect "$name" >/dev/null 2>&1; then
    docker volume create --driver local --opt type=none --opt o=bind --opt "device=$folder" "$name" >/dev/null
    log "volume $name -> $folder"
  fi
done
log "engine ready"
wait "$engine"
