#!/usr/bin/env bash
# One set-up for the README, the Makefile and CI. Idempotent: a second run is quick.
#  1. .venv with the pinned tools (requirements/dev.txt), installed with uv;
#  2. the checkout linked as the collection dataops.airflow under .cache/collections;
#  3. a Docker engine that answers (as root on Debian: installs docker.io and starts dockerd);
#  4. the node image for the test cluster (tests/image/build.sh; skipped with --no-docker).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
want_docker=1
[ "${1:-}" = "--no-docker" ] && want_docker=0

# uv trusts the host's certificate store, like pip does here, so that a TLS-inspecting
# proxy whose CA the host trusts works without further settings.
export UV_NATIVE_TLS=${UV_NATIVE_TLS:-1}

log() { printf '==> %s\n' "$*"; }

as_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
  as_root || { echo "need root to install $*; install them and run again" >&2; exit 1; }
  [ -n "${__apt_updated:-}" ] || { apt-get update -qq; __apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

python_env() {
  local python=${PYTHON:-python3}
  if [ ! -x .venv/bin/uv ]; then
    log "creating .venv"
    "$python" -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$(sed -n 's/^uv==//p' requirements/dev.txt)"
  fi
  local stamp=.venv/.dev-requirements.sha256
  if ! sha256sum --status -c "$stamp" 2>/dev/null; then
    log "installing the pinned tools into .venv"
    VIRTUAL_ENV=$root/.venv .venv/bin/uv pip sync --quiet requirements/dev.txt
    sha256sum requirements/dev.txt > "$stamp"
  fi
}

collection_link() {
  mkdir -p .cache/collections/ansible_collections/dataops
  ln -sfn "$root" .cache/collections/ansible_collections/dataops/airflow
}

docker_engine() {
  docker info >/dev/null 2>&1 && return 0
  as_root || { echo "Docker does not answer; start it (or run this as root on Debian)" >&2; exit 1; }
  command -v dockerd >/dev/null || { log "installing docker.io"; apt_install docker.io; }
  command -v docker >/dev/null || apt_install docker.io
  log "starting dockerd"
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
  exit 1
}

node_image() {
  if [ -n "${DATAOPS_NODE_IMAGE:-}" ]; then
    docker image inspect "$DATAOPS_NODE_IMAGE" >/dev/null 2>&1 || docker pull "$DATAOPS_NODE_IMAGE"
    return 0
  fi
  command -v debootstrap >/dev/null || apt_install debootstrap
  bash tests/image/build.sh
}

python_env
collection_link
if [ "$want_docker" = 1 ]; then
  docker_engine
  node_image
fi
log "set-up done"
