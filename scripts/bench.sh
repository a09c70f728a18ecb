#!/usr/bin/env bash
# The performance figures: the load scenarios against the floor server (bench/), then the
# Go micro-benchmarks of the hot path. Loopback only, bounded in time (about 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== load scenarios (bench/main.go): api against the plain net/http floor"
go run ./bench "$@"
echo
echo "== micro-benchmarks"
scripts/with-services.sh go test -run '^$' -bench . -benchmem -benchtime 1s \
  ./server/middleware/ ./server/logging/ ./server/validation/ ./server/apierr/ ./server/ratelimit/ ./server/auth/ \
  | grep -E '^(Benchmark|ok|FAIL)'
