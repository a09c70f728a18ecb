#!/usr/bin/env bash
# A private S3 server for tests: SeaweedFS (master, volume, filer and S3 gateway in one
# process) on loopback only, with one identity and one bucket.
#   scripts/s3.sh build               build the pinned `weed` binary once (cached under .data/)
#   scripts/s3.sh start DIR PORT      start it; S3 answers on PORT, the other parts on PORT+1..3
#                                     (and their gRPC ports on those + 10000), so PORT <= 55000
#   scripts/s3.sh stop DIR            stop it
#   scripts/s3.sh url PORT            print the TEST_S3_URL for a server on PORT
# TEST_S3_URL is http://ACCESS_KEY:SECRET_KEY@127.0.0.1:PORT/BUCKET.
set -euo pipefail
cd "$(dirname "$0")/.."

# SeaweedFS has no tagged releases on the module proxy: a pseudo-version pins one commit.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
bin_dir=.data/seaweedfs-$SEAWEEDFS_VERSION
weed=$bin_dir/weed
access_key=assistant-test
secret_key=assistant-test-secret
bucket=assistant-test

build() {
  [ -x "$weed" ] && return 0
  # Its go.mod has replace directives, so `go install module@version` refuses it: build it
  # as the main module in its own (read-only) directory of the module cache.
  echo "s3.sh: building SeaweedFS $SEAWEEDFS_VERSION (once; a few minutes)" >&2
  local src
  src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || { echo "s3.sh: could not download SeaweedFS" >&2; exit 1; }
  mkdir -p "$bin_dir"
  local out
  out=$(cd "$bin_dir" && pwd)/weed
  (cd "$src" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -o "$out.tmp" ./weed)
  mv "$out.tmp" "$out"
}

case "${1:-}" in
build) build ;;
url)
  port=${2:?port}
  echo "http://$access_key:$secret_key@127.0.0.1:$port/$bucket"
  ;;
start)
  dir=${2:?directory}
  port=${3:?port}
  [ "$port" -le 55000 ] || { echo "s3.sh: PORT must be at most 55000 (gRPC ports are PORT+10000..)" >&2; exit 2; }
  build
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/weed.pid" ] && kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then exit 0; fi
  cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "$access_key",
  "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
  # One small volume size keeps the preallocated files of a throwaway server small.
  nohup "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
    -master.port=$((port + 1)) -master.volumeSizeLimitMB=1024 \
    -volume.port=$((port + 2)) -volume.max=0 \
    -filer -filer.port=$((port + 3)) \
    -s3 -s3.port="$port" -s3.config="$dir/s3.json" \
    >"$dir/weed.log" 2>&1 &
  echo $! >"$dir/weed.pid"
  # Ready when the gateway answers and the bucket can be made (the filer and a volume are up).
  go build -o "$dir/s3bucket" ./scripts/s3bucket
  url=$(scripts/s3.sh url "$port")
  for _ in $(seq 300); do
    if ! kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
      echo "s3.sh: SeaweedFS exited; see $dir/weed.log" >&2; tail -20 "$dir/weed.log" >&2; exit 1
    fi
    if "$dir/s3bucket" "$url" >/dev/null 2>&1; then exit 0; fi
    sleep 0.2
  done
  echo "s3.sh: SeaweedFS did not become ready; see $dir/weed.log" >&2; exit 1
  ;;
stop)
  dir=${2:?directory}
  if [ -f "$dir/weed.pid" ]; then
    pid=$(cat "$dir/weed.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/weed.pid"
  fi
  ;;
*) echo "usage: s3.sh build | start DIR PORT | stop DIR | url PORT" >&2; exit 2 ;;
esac
