#!/usr/bin/env bash
# The deployment run for real (make e2e-docker): a private Docker engine, the compose stack
# built and started from .env.production.example, scaled, broken and restored, backed up and
# restored, upgraded (e2e/docker_test.go, build tag dockere2e). No image can be pulled here, so the
# third-party images are built from Debian's packages on a debootstrapped base
# (deploy/local-images/) and passed through the compose file's *_IMAGE variables.
#
# Everything is cached under .data/docker (the engine's data root with its images and build
# cache, the Debian base, the compose plugin); every container, network and
# volume a run creates is removed, and the engine it started is stopped, when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=$root/.data/docker
mkdir -p "$cache"

COMPOSE_VERSION=v2.40.3
DEBIAN_SUITE=bookworm

export DOCKER_HOST=unix:///run/assistant-e2e-docker.sock
export DOCKER_CONFIG=$cache/config
# BuildKit through the engine's own client (Debian's, of the engine's version), which drives
# it without the buildx plugin; a newer client elsewhere on PATH would need buildx.
export DOCKER_BUILDKIT=1

t0=$(date +%s)
phase_start=$t0
phase() {
  local now; now=$(date +%s)
  [ -n "${phase_name:-}" ] && echo "docker-e2e: phase '$phase_name' took $((now - phase_start))s"
  phase_name=$1; phase_start=$now
  echo "docker-e2e: == $1"
}

[ "$(id -u)" = 0 ] || { echo "docker-e2e.sh: the Docker engine is started as root" >&2; exit 1; }

phase packages
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "docker-e2e.sh: installing ${need[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -x /usr/bin/docker ] || { echo "docker-e2e.sh: Debian's docker client is missing" >&2; exit 1; }
mkdir -p "$cache/path"
ln -sf /usr/bin/docker "$cache/path/docker"
export PATH=$cache/path:$PATH

phase compose
# Compose v2 is a Go module; `go install` refuses it for its exclude directives, so it is
# built in its downloaded module directory.
plugin() { # name module version package
  local bin=$cache/bin/$1-$3
  if [ ! -x "$bin" ]; then
    local dir
    dir=$(go mod download -json "$2@$3" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] || { echo "docker-e2e.sh: cannot download $2@$3" >&2; exit 1; }
    mkdir -p "$cache/bin"
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $5" -o "$bin.tmp" "$4")
    mv "$bin.tmp" "$bin"
  fi
  mkdir -p "$DOCKER_CONFIG/cli-plugins"
  ln -sf "$bin" "$DOCKER_CONFIG/cli-plugins/docker-$1"
}
plugin compose github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"

phase engine
# A private engine: its own socket, data root (kept: images and build cache) and exec root.
# No host firewall changes and no default bridge; user-defined networks, their DNS and
# published ports work without them.
dockerd_pid=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$dockerd_pid" ]; then
    echo "docker-e2e: cleaning up"
    ids=$(docker ps -aq --filter label=com.docker.compose.project)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null
    docker volume prune -af >/dev/null 2>&1 || docker volume prune -f >/dev/null
    docker network prune -f >/dev/null
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
  echo "docker-e2e: done in $(( $(date +%s) - t0 ))s (exit $rc)"
  exit $rc
}
trap cleanup EXIT INT TERM
if docker version >/dev/null 2>&1; then
  echo "docker-e2e.sh: an engine already answers on $DOCKER_HOST; stop it first" >&2
  exit 1
fi
dockerd --iptables=false --ip-masq=false --bridge=none \
  --data-root "$cache/engine" --exec-root /run/assistant-e2e-docker \
  --pidfile /run/assistant-e2e-docker.pid -H "$DOCKER_HOST" >"$cache/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'
docker compose version

phase base-images
# A Debian base from debootstrap (the mirror the machine's apt uses), then the stand-ins.
if ! docker image inspect "assistant-local/debian:$DEBIAN_SUITE" >/dev/null 2>&1; then
  tarball=$cache/debian-$DEBIAN_SUITE.tar
  if [ ! -s "$tarball" ]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
    rm -rf "$cache/rootfs"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$cache/rootfs" "$mirror" >"$cache/debootstrap.log"
    rm -rf "$cache"/rootfs/var/cache/apt/archives/*.deb "$cache"/rootfs/var/lib/apt/lists/*
    tar -C "$cache/rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$cache/rootfs"
  fi
  docker import "$tarball" "assistant-local/debian:$DEBIAN_SUITE" >/dev/null
fi
# An image's tag carries a hash of its directory: a changed Dockerfile is a new image.
tag() { echo "$2-$(cat deploy/local-images/"$1"/* | sha256sum | cut -c1-12)"; }
build_local() { # name tag context [dockerfile]
  docker image inspect "assistant-local/$1:$2" >/dev/null 2>&1 && return 0
  docker build -q --network host -t "assistant-local/$1:$2" -f "${4:-deploy/local-images/$1/Dockerfile}" "$3" >"$cache/build-$1.log" 2>&1 ||
    { echo "docker-e2e.sh: building assistant-local/$1 failed:" >&2; cat "$cache/build-$1.log" >&2; return 1; }
}
go_version=$(go env GOVERSION)
build_golang() {
  docker image inspect "assistant-local/golang:$(tag golang "${go_version#go}")" >/dev/null 2>&1 && return 0
  local ctx=$cache/golang-context
  rm -rf "$ctx" && mkdir -p "$ctx/ca"
  cp -al "$(go env GOROOT)" "$ctx/go" 2>/dev/null || cp -a "$(go env GOROOT)" "$ctx/go"
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  build_local golang "$(tag golang "${go_version#go}")" "$ctx" deploy/local-images/golang/Dockerfile
  rm -rf "$ctx"
}
# Mostly package downloads: in parallel.
pids=()
build_local postgres "$(tag postgres 15)" deploy/local-images/postgres & pids+=($!)
build_local redis "$(tag redis 7)" deploy/local-images/redis & pids+=($!)
build_local nginx "$(tag nginx 1.22)" deploy/local-images/nginx & pids+=($!)
build_local prometheus "$(tag prometheus 2)" deploy/local-images/prometheus & pids+=($!)
build_golang & pids+=($!)
# The S3 store: the weed binary the tests' scripts/s3.sh builds, in an image.
weed_version=$(sed -n 's/^SEAWEEDFS_VERSION=//p' scripts/s3.sh)
build_seaweedfs() {
  docker image inspect "assistant-local/seaweedfs:$(tag seaweedfs "$weed_version")" >/dev/null 2>&1 && return 0
  scripts/s3.sh build
  local ctx=$cache/seaweedfs-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -l ".data/seaweedfs-$weed_version/weed" "$ctx/weed" 2>/dev/null || cp ".data/seaweedfs-$weed_version/weed" "$ctx/weed"
  build_local seaweedfs "$(tag seaweedfs "$weed_version")" "$ctx" deploy/local-images/seaweedfs/Dockerfile
  rm -rf "$ctx"
}
build_seaweedfs & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^assistant-local/'

export E2E_POSTGRES_IMAGE=assistant-local/postgres:$(tag postgres 15)
export E2E_REDIS_IMAGE=assistant-local/redis:$(tag redis 7)
export E2E_NGINX_IMAGE=assistant-local/nginx:$(tag nginx 1.22)
export E2E_PROMETHEUS_IMAGE=assistant-local/prometheus:$(tag prometheus 2)
export E2E_SEAWEEDFS_IMAGE=assistant-local/seaweedfs:$(tag seaweedfs "$weed_version")
export E2E_GO_IMAGE=assistant-local/golang:$(tag golang "${go_version#go}")
export E2E_BASE_IMAGE=assistant-local/debian:$DEBIAN_SUITE

phase tests
cd e2e
set +e
go test -tags dockere2e -count=1 -timeout 45m -v -run '^TestDocker' "$@" . 2>&1 | tee "$cache/tests.log"
status=${PIPESTATUS[0]}
set -e
cd "$root"
phase end
exit "$status"
