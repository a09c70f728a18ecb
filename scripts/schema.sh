#!/usr/bin/env bash
# Rewrites db/schema.sql: applies the migrations to a scratch database on a private cluster
# and dumps it with pg_dump (dbmate passes a fixed \restrict key, so the dump is stable).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.data/schema-postgres
port=${SCHEMA_PG_PORT:-54331}
trap 'scripts/postgres.sh stop "$dir"' EXIT
scripts/postgres.sh start "$dir" "$port" fast
url="postgres://postgres@127.0.0.1:$port/assistant_schema?sslmode=disable"
psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "DROP DATABASE IF EXISTS assistant_schema" >/dev/null
PATH="$(scripts/pgbin.sh):$PATH" DATABASE_URL="$url" go run ./cmd/assistant migrate --dump-schema db/schema.sql >/dev/null
