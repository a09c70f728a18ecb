#!/usr/bin/env bash
# Runs a command with a private PostgreSQL (fast, non-durable settings), a private Redis and
# a private S3 server (SeaweedFS, built once by scripts/s3.sh) on loopback, exported as
# TEST_DATABASE_URL, TEST_REDIS_URL and TEST_S3_URL, and stops them afterwards. Services
# already given through those variables are used as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir=.data/test-postgres
pg_port=${TEST_PG_PORT:-54330}
redis_dir=.data/test-redis
redis_port=${TEST_REDIS_PORT:-56379}
s3_dir=.data/test-s3
s3_port=${TEST_S3_PORT:-48333}

cleanup() { scripts/postgres.sh stop "$pg_dir"; scripts/redis.sh stop "$redis_dir"; scripts/s3.sh stop "$s3_dir"; }
trap cleanup EXIT

# The export tests read PDFs back with pdftotext (poppler-utils).
if ! command -v pdftotext >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "with-services.sh: installing poppler-utils with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
  elif [ "${ALLOW_INSTALL:-0}" = 1 ]; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
  else
    echo "with-services.sh: pdftotext is missing; install poppler-utils, or run again with ALLOW_INSTALL=1" >&2
    exit 1
  fi
fi

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  scripts/postgres.sh start "$pg_dir" "$pg_port" fast
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
  scripts/redis.sh start "$redis_dir" "$redis_port"
  export TEST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
fi
if [ -z "${TEST_S3_URL:-}" ]; then
  # A fresh server each run: what a previous run left in the bucket is gone.
  scripts/s3.sh stop "$s3_dir"
  rm -rf "$s3_dir"
  scripts/s3.sh start "$s3_dir" "$s3_port"
  TEST_S3_URL=$(scripts/s3.sh url "$s3_port")
  export TEST_S3_URL
fi
"$@"
