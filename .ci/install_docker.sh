#!/usr/bin/env bash
# Installs and starts a Docker engine (with compose v2 and buildx) when none answers.
# Debian 12 ships the engine; compose v2 and buildx come from Debian 13 as static binaries,
# pinned low so nothing else is upgraded from it.
set -euo pipefail

log_dir=${DOCKERD_LOG_DIR:-/var/log}

if docker info >/dev/null 2>&1; then
  echo "docker engine already answers"
else
  if ! command -v dockerd >/dev/null 2>&1 || ! docker compose version >/dev/null 2>&1 \
      || ! docker buildx version >/dev/null 2>&1; then
    if ! [ -f /etc/apt/sources.list.d/trixie.sources ]; then
      sed -e 's/^Suites:.*/Suites: trixie/' \
        <(awk '/^Types:/{n++} n==1' /etc/apt/sources.list.d/debian.sources) \
        > /etc/apt/sources.list.d/trixie.sources
      printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/trixie-low
    fi
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
    apt-get install -y -qq -t trixie docker-compose docker-buildx >/dev/null
  fi
  nohup dockerd >"$log_dir/dockerd.log" 2>&1 &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $log_dir/dockerd.log" >&2; exit 1; }
fi
docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})'
docker compose version
docker buildx version
