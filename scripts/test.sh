#!/usr/bin/env bash
# Runs the Go tests against real services it starts for the run and stops afterwards:
# a private PostgreSQL (fast, non-durable settings) and a private Redis, on loopback.
# Extra arguments go to `go test` (default: ./...).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir=.data/test-postgres
pg_port=${TEST_PG_PORT:-54330}
redis_dir=.data/test-redis
redis_port=${TEST_REDIS_PORT:-56379}

cleanup() { scripts/postgres.sh stop "$pg_dir"; scripts/redis.sh stop "$redis_dir"; }
trap cleanup EXIT

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  scripts/postgres.sh start "$pg_dir" "$pg_port" fast
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
fi

if [ -z "${TEST_REDIS_URL:-}" ]; then
  scripts/redis.sh start "$redis_dir" "$redis_port"
  export TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
fi

if [ $# -eq 0 ]; then set -- ./...; fi
go test -race -count=1 "$@"
