#!/usr/bin/env bash
# Builds the MindPulse images in dependency order:
#   Python base -> family images (base, pandas, ml, evidently) -> one image per pipeline step (the
#   steps and their families are those declared in tasks/common/mindpulse/catalog/)
#   -> the orchestrator images (Airflow, PostgreSQL) when their Dockerfiles exist.
# Run with --help for the options.
set -euo pipefail
export LC_ALL=C DOCKER_BUILDKIT=1

usage() {
  cat <<'EOF'
Usage: build_images.sh [--only NAME] [--tag TAG] [--cluster] [--push REGISTRY [--password-stdin]] [--list] [--help]

Builds every MindPulse image in dependency order and prints one line per image with its size:
  1. the Python base: python:3.11-slim-bookworm, or, where no registry can be reached,
     mindpulse/python:3.11-bookworm built locally with debootstrap (needs root; built once)
  2. the family images mindpulse/family-{base,pandas,ml,evidently} from tasks/common/Dockerfile
  3. one image per step declared in tasks/common/mindpulse/catalog/: its folder's entrypoint.py on
     top of the family the declaration names (tasks/common/step.Dockerfile) -> mindpulse/<step-name>
  4. when orchestrator/Dockerfile and orchestrator/postgres/Dockerfile exist: mindpulse/airflow,
     and mindpulse/postgres (the official postgres:16-bookworm re-tagged, or built from that
     Dockerfile where it cannot be pulled); mindpulse/guard, the Docker API guard between Airflow
     and every engine (orchestrator/guard, on family-base)
  5. with --cluster, the images only the cluster stack (docker-compose.cluster.yml) runs, each from
     Debian's package on the same base: mindpulse/redis (the Celery broker), mindpulse/registry (the
     image registry) and mindpulse/dockerhost (a worker's own Docker engine)
Each image is tagged TAG, and labelled with the version and the git revision. Built with the
repository's version (the default tag), it is also tagged latest; any other tag leaves latest alone,
so a build for a test or a branch never changes what `latest` runs. The ID of every step image is
recorded in image-locks/TAG.json (and image-locks/latest.json): the Docker guard starts a step only
from the image recorded there.

Options:
  --only NAME  build one image and what it stands on: a step (train_new_model or train-new-model),
               a family (ml or family-ml), airflow, postgres or guard
  --tag TAG    image tag (default: $MINDPULSE_IMAGE_TAG, else the VERSION file)
  --cluster    also build the cluster stack's images (step 5)
  --push REGISTRY
               after building, push every image built to REGISTRY (host:port, e.g. localhost:5001)
               as REGISTRY/mindpulse/NAME:TAG (and :latest when TAG is the version): the cluster's
               workers pull the steps from there
  --password-stdin
               log in to REGISTRY as `mindpulse` with the password read from standard input, for
               the push only (a throwaway Docker client configuration: ~/.docker is not touched)
  --list       print the names of the images that would be built, and build nothing
  -h, --help   show this help

A CA bundle for networks that intercept HTTPS is handed to pip as a build secret (never stored in
an image): the first file of $PIP_CERT, $SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt.
EOF
}

die() {
  echo "build_images.sh: $*" >&2
  exit 1
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
families=(base pandas ml evidently)
official_python=python:3.11-slim-bookworm
local_python=mindpulse/python:3.11-bookworm
official_postgres=postgres:16-bookworm

tag=${MINDPULSE_IMAGE_TAG:-}
only=""
list_only=false
cluster=false
push_to=""
password_stdin=false
while (($#)); do
  case $1 in
    --only) [[ $# -ge 2 ]] || die "--only needs a name"; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag=$2; shift 2 ;;
    --tag=*) tag=${1#*=}; shift ;;
    --cluster) cluster=true; shift ;;
    --push) [[ $# -ge 2 ]] || die "--push needs a registry (host:port)"; push_to=$2; shift 2 ;;
    --push=*) push_to=${1#*=}; shift ;;
    --password-stdin) password_stdin=true; shift ;;
    --list) list_only=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
version=$(tr -d '[:space:]' <"$repo/VERSION" 2>/dev/null || true)
if [[ -z $tag ]]; then
  [[ -n $version ]] || die "no --tag, no MINDPULSE_IMAGE_TAG and no VERSION file"
  tag=$version
fi
also_latest=false
[[ $tag == "$version" ]] && also_latest=true
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$tag' is not a valid image tag"
push_to=${push_to%/}
[[ -z $push_to || $push_to =~ ^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$ ]] \
  || die "--push '$push_to' is not a registry (host:port, e.g. localhost:5001)"

# --- what there is to build ------------------------------------------------------------------

# Parallel arrays, one entry per step: name, image, family, directory. The catalog is standard-library
# Python, so any python3 (3.11 or later) reads it without installing anything.
step_names=() step_images=() step_families=() step_dirs=()
command -v python3 >/dev/null || die "python3 (3.11 or later) is needed to read the step catalog"
catalog=$(PYTHONPATH="$repo/tasks/common" python3 -m mindpulse.catalog --build-list) \
  || die "cannot read the step catalog (tasks/common/mindpulse/catalog/)"
while read -r name image family folder; do
  [[ " ${families[*]} " == *" $family "* ]] || die "step $name: unknown family '$family' (one of: ${families[*]})"
  [[ -f $repo/$folder/entrypoint.py ]] || die "step $name: $folder/entrypoint.py is missing"
  step_names+=("$name")
  step_images+=("$image")
  step_families+=("$family")
  step_dirs+=("$repo/$folder")
done <<<"$catalog"
step_dockerfile=$repo/tasks/common/step.Dockerfile

airflow_dockerfile=$repo/orchestrator/Dockerfile
postgres_dockerfile=$repo/orchestrator/postgres/Dockerfile
# The cluster stack's images, each orchestrator/NAME/Dockerfile on the Python base.
cluster_images=(redis registry dockerhost)

# The plan: "family:NAME", "step:INDEX", "airflow", "postgres", in build order.
plan=()
if [[ -z $only ]]; then
  for family in "${families[@]}"; do plan+=("family:$family"); done
  for i in "${!step_names[@]}"; do plan+=("step:$i"); done
  [[ -f $airflow_dockerfile ]] && plan+=(airflow)
  [[ -f $postgres_dockerfile ]] && plan+=(postgres)
  plan+=(guard)
  if $cluster; then plan+=("${cluster_images[@]}"); fi
else
  wanted=${only#mindpulse/}
  wanted=${wanted%%:*}
  for i in "${!step_names[@]}"; do
    if [[ $wanted == "${step_names[$i]}" || "mindpulse/$wanted" == "${step_images[$i]}" ]]; then
      plan=("family:${step_families[$i]}" "step:$i")
    fi
  done
  for family in "${families[@]}"; do
    [[ $wanted == "$family" || $wanted == "family-$family" ]] && plan=("family:$family")
  done
  if [[ $wanted == airflow && -f $airflow_dockerfile ]]; then plan=(airflow); fi
  if [[ $wanted == postgres && -f $postgres_dockerfile ]]; then plan=(postgres); fi
  if [[ $wanted == guard ]]; then plan=(family:base guard); fi
  if [[ " ${cluster_images[*]} " == *" $wanted "* ]]; then plan=("$wanted"); fi
  ((${#plan[@]})) || die "--only $only: no such step, family or orchestrator image (see --list)"
fi

image_of() {
  case $1 in
    family:*) echo "mindpulse/family-${1#family:}" ;;
    step:*) echo "${step_images[${1#step:}]}" ;;
    *) echo "mindpulse/$1" ;;
  esac
}

if $list_only; then
  for item in "${plan[@]}"; do echo "$(image_of "$item"):$tag"; done
  exit 0
fi

# --- how to build ----------------------------------------------------------------------------

command -v docker >/dev/null || die "the docker client is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info fails)"
# The images stand on each other through the local image store, which only the engine's own
# builder reads: a docker-container builder selected with `docker buildx use` would not see them.
BUILDX_BUILDER=$(docker context show 2>/dev/null || echo default)
export BUILDX_BUILDER

revision=$(git -C "$repo" rev-parse --verify --quiet HEAD 2>/dev/null || echo unknown)
source_url=$(git -C "$repo" remote get-url origin 2>/dev/null || true)
source_url=${source_url/\/\/*@/\/\/} # a label is public: drop any user:token@ from the URL
ca_bundle=""
for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [[ -n $candidate && -f $candidate ]]; then ca_bundle=$candidate; break; fi
done

work=$(mktemp -d)
rootfs=""
cleanup() {
  # An interrupted debootstrap leaves /proc and /sys mounted inside the root file system: unmount
  # them first, and never let rm cross into another file system.
  if [[ -n $rootfs && -d $rootfs ]]; then
    awk -v root="$rootfs/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l
    rm -rf --one-file-system "$rootfs"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { echo "${EPOCHREALTIME:-$SECONDS}"; }
since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f s", end - start }'; }
human() { awk -v b="$1" 'BEGIN { if (b >= 1e6) printf "%.1f MB", b / 1e6; else printf "%.1f kB", b / 1e3 }'; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# One line per image with its size. A step comes as IMAGE=FAMILY_IMAGE and its line also says what
# it adds to its family. One inspect call for all of them: each call costs a round trip.
report() {
  local item refs=() sizes=() i=0 image parent extra
  for item in "$@"; do refs+=("${item%%=*}" "${item#*=}"); done
  mapfile -t sizes < <(docker image inspect --format '{{.Size}}' "${refs[@]}")
  for item in "$@"; do
    image=${item%%=*} parent=${item#*=} extra=""
    if [[ $parent != "$image" ]]; then
      parent=${parent#mindpulse/}
      extra="+$(human $((sizes[i] - sizes[i + 1]))) on ${parent%:*}"
    fi
    printf '%-52s %10s  %s\n' "$image" "$(human "${sizes[i]}")" "$extra"
    i=$((i + 2))
  done
}

# Images are built in batches with `docker buildx bake`: one call builds a whole batch, so BuildKit
# shares the stages the families have in common, and fifteen unchanged steps cost one round trip
# instead of fifteen (about 1 s each).
json() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
batch=() batch_names=()
add_target() { # image context dockerfile [NAME=VALUE build argument...] [@NAME=PATH named context...]
  local image=$1 context=$2 dockerfile=$3 arg args labels tags secret="" contexts=""
  shift 3
  tags=$(json "$image:$tag")
  ! $also_latest || tags+=", $(json "$image:latest")"
  # The OCI labels of every image, here once rather than in each Dockerfile; set at export, they invalidate no layer.
  labels="$(json org.opencontainers.image.title): $(json "$image"), $(json org.opencontainers.image.version): $(json "$tag")"
  labels+=", $(json org.opencontainers.image.revision): $(json "$revision")"
  labels+=", $(json org.opencontainers.image.source): $(json "$source_url")"
  args="$(json VERSION): $(json "$tag")"
  for arg in "$@"; do
    if [[ $arg == @* ]]; then
      arg=${arg#@}
      contexts+="${contexts:+, }$(json "${arg%%=*}"): $(json "${arg#*=}")"
    else
      args+=", $(json "${arg%%=*}"): $(json "${arg#*=}")"
    fi
  done
  [[ -z $contexts ]] || contexts=", \"contexts\": {$contexts}"
  [[ -z $ca_bundle ]] || secret=", \"secret\": [$(json "id=pip_ca,src=$ca_bundle")]"
  batch_names+=("${image#mindpulse/}")
  batch+=("$(json "${image#mindpulse/}"): {\"context\": $(json "$context"), \"dockerfile\": $(json "$dockerfile"), \"tags\": [$tags], \"labels\": {$labels}, \"args\": {$args}$contexts$secret}")
}
# Quiet unless the build fails: then the end of its log.
build_batch() {
  local file=$work/bake.json log=$work/bake.log
  {
    printf '{"target": {'
    (IFS=,; printf '%s' "${batch[*]}")
    printf '}}\n'
  } >"$file"
  if ! docker buildx bake --file "$file" --progress=plain "${batch_names[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "build failed (the lines above are the end of its log)"
  fi
  batch=() batch_names=()
}

# One failed pull is enough to know that no registry answers during this run.
registry_down=false
pull() {
  ! $registry_down || return 1
  timeout 600 docker pull --quiet "$1" >"$work/pull.log" 2>&1 || { registry_down=true; return 1; }
}

build_local_python() {
  ((EUID == 0)) || die "no registry answers, and building $local_python with debootstrap needs root"
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
  fi
  echo "no registry answers: building $local_python with debootstrap (a few minutes, once)"
  rootfs=$work/rootfs
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # Left out like in Debian's slim images: downloaded packages, package lists (apt-get update
  # fetches them again), manual pages and translations.
  tar --numeric-owner -C "$rootfs" \
    --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*_*' \
    --exclude='./usr/share/man/*' --exclude='./usr/share/locale/*' -c . \
    | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
      - "$local_python" >/dev/null
  rm -rf --one-file-system "$rootfs"
  rootfs=""
}

# The official image wherever it is or can be pulled; the locally built one otherwise.
python_base=""
choose_python_base() {
  if have_image "$official_python"; then
    python_base=$official_python
  elif have_image "$local_python"; then
    python_base=$local_python
  elif pull "$official_python"; then
    python_base=$official_python
  else
    build_local_python
    python_base=$local_python
  fi
  report "$python_base"
}

# --- build ---------------------------------------------------------------------------------

started=$(now)
choose_python_base

built=()
for item in "${plan[@]}"; do
  [[ $item == family:* ]] || continue
  add_target "$(image_of "$item")" "$repo/tasks" "$repo/tasks/common/Dockerfile" \
    "PYTHON_BASE=$python_base" "FAMILY=${item#family:}"
  built+=("$(image_of "$item"):$tag")
done
if ((${#built[@]})); then build_batch && report "${built[@]}"; fi

built=()
for item in "${plan[@]}"; do
  [[ $item == step:* ]] || continue
  i=${item#step:}
  add_target "${step_images[i]}" "${step_dirs[i]}" "$step_dockerfile" \
    "FAMILY=${step_families[i]}" "TAG=$tag"
  built+=("${step_images[i]}:$tag=mindpulse/family-${step_families[i]}:$tag")
done
if ((${#built[@]})); then build_batch && report "${built[@]}"; fi

for item in "${plan[@]}"; do
  case $item in
    airflow)
      add_target mindpulse/airflow "$(dirname "$airflow_dockerfile")" "$airflow_dockerfile" \
        "PYTHON_BASE=$python_base" "@common=$repo/tasks/common"
      build_batch
      ;;
    postgres)
      if have_image "$official_postgres" || pull "$official_postgres"; then
        docker tag "$official_postgres" "mindpulse/postgres:$tag"
        ! $also_latest || docker tag "$official_postgres" mindpulse/postgres:latest
      else
        add_target mindpulse/postgres "$(dirname "$postgres_dockerfile")" "$postgres_dockerfile" \
          "PYTHON_BASE=$python_base"
        build_batch
      fi
      ;;
    guard)
      add_target mindpulse/guard "$repo/orchestrator/guard" "$repo/orchestrator/guard/Dockerfile" \
        "TAG=$tag" "@requirements=$repo/tasks/requirements"
      build_batch
      ;;
    redis | registry | dockerhost)
      add_target "mindpulse/$item" "$repo/orchestrator/$item" "$repo/orchestrator/$item/Dockerfile" \
        "PYTHON_BASE=$python_base"
      build_batch
      ;;
    *) continue ;;
  esac
  report "$(image_of "$item"):$tag"
done

# The image lock (tasks/common/mindpulse/image_lock.py): the ID of every step image under this tag, in
# image-locks/TAG.json, from which alone the Docker guard lets a step container start.
docker image ls --no-trunc --format '{{.Repository}} {{.ID}}' --filter "reference=mindpulse/*:$tag" \
  | PYTHONPATH="$repo/tasks/common" python3 -m mindpulse.image_lock write "$repo/image-locks" "$tag" \
    $($also_latest && echo latest) || die "cannot write the image lock (image-locks/$tag.json)"

# Families first: a step's push then finds its family's layers in the registry already.
if [[ -n $push_to ]]; then
  pushed_at=$(now)
  client=(docker)
  if $password_stdin; then
    client=(docker --config "$work/docker-config")
    "${client[@]}" login --username mindpulse --password-stdin "$push_to" >"$work/login.log" 2>&1 \
      || { tail -n 3 "$work/login.log" >&2; die "logging in to $push_to failed"; }
  fi
  # Every tag the build gave (the version, and latest with it): whichever the DAGs resolve is in the registry.
  pushed_tags=("$tag")
  ! $also_latest || pushed_tags+=(latest)
  for item in "${plan[@]}"; do
    for pushed_tag in "${pushed_tags[@]}"; do
      image=$(image_of "$item"):$pushed_tag
      docker tag "$image" "$push_to/$image"
      "${client[@]}" push --quiet "$push_to/$image" >"$work/push.log" 2>&1 \
        || { tail -n 5 "$work/push.log" >&2; die "pushing $image to $push_to failed (is the registry up?)"; }
      docker rmi "$push_to/$image" >/dev/null
    done
  done
  echo "pushed ${#plan[@]} image(s) tagged ${pushed_tags[*]} to $push_to in $(since "$pushed_at")"
fi

echo "built ${#plan[@]} image(s) tagged $tag$($also_latest && echo ' (and latest)') in $(since "$started")"
