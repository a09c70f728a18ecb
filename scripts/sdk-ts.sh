#!/usr/bin/env bash
# The TypeScript SDK (sdk/typescript) from a clean clone: installs its pinned packages
# (npm ci), regenerates its types from api/openapi.yaml and fails when the committed ones
# differ, builds it with tsc, then runs its Node journey and its page test in headless
# Chromium against the real server (bin/assistant on a private PostgreSQL, the echo
# provider). Stops everything it started. Installs Chromium (and PostgreSQL, through
# scripts/postgres.sh) from the system's packages when missing (root, or ALLOW_INSTALL=1).
#   scripts/sdk-ts.sh            everything
#   scripts/sdk-ts.sh generate   only regenerate the types (make generate)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
sdk=sdk/typescript

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "sdk-ts.sh: Node.js 20 or later and npm are required" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "sdk-ts.sh: Node.js 20 or later is required (found $(node --version))" >&2; exit 1; }

(cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
generate() { (cd "$sdk" && npm run --silent generate >/dev/null); }
if [ "${1:-}" = generate ]; then generate; exit 0; fi

echo "== sdk-ts: generated types are current"
generate
if [ -n "$(git status --porcelain -- "$sdk/src/generated")" ]; then
  echo "sdk/typescript/src/generated is stale; run 'make generate' and commit:" >&2
  git status --porcelain -- "$sdk/src/generated" >&2
  git diff --stat -- "$sdk/src/generated" >&2
  exit 1
fi

echo "== sdk-ts: build, and type-check a dependent's use of it"
(cd "$sdk" && npm run --silent build && npm run --silent typecheck)

if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    [ "${ALLOW_INSTALL:-0}" = 1 ] || { echo "sdk-ts.sh: chromium is missing; install it, or run again with ALLOW_INSTALL=1" >&2; exit 1; }
    sudo=sudo
  fi
  echo "sdk-ts.sh: installing chromium with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

make --no-print-directory build >/dev/null

api_port=${SDK_TS_API_PORT:-18047}
page_port=${SDK_TS_PAGE_PORT:-18048}
pg_port=${SDK_TS_PG_PORT:-18049}
# Under .data/ (not a private temporary directory): PostgreSQL runs as its own user and must
# reach its data directory.
work=.data/sdk-ts
rm -rf "$work" && mkdir -p "$work"
pg_dir=$work/postgres
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  scripts/postgres.sh stop "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT

scripts/postgres.sh start "$pg_dir" "$pg_port" fast
export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
bin/assistant migrate >/dev/null

if bin/assistant healthcheck --url "http://127.0.0.1:$api_port/api/v1/health/live" --timeout 1s 2>/dev/null; then
  echo "sdk-ts.sh: something already answers on port $api_port; set SDK_TS_API_PORT to a free port" >&2
  exit 1
fi
# Development mode with the echo provider (no AI: a reply repeats the message word by word,
# ECHO_DELAY apart). The page is served from another origin, so CORS is allowed for it; sign-ins
# are not rate-limited down to the production default, since the tests sign in many times.
APP_ENV=development HTTP_ADDR="127.0.0.1:$api_port" LLM_PROVIDER=echo LLM_ALLOW_ECHO=true \
  ECHO_DELAY=20ms CORS_ALLOWED_ORIGINS="http://127.0.0.1:$page_port" \
  RATE_LIMIT_BACKEND=memory RATE_LIMIT_AUTH_REQUESTS=1000 \
  UPLOAD_DIR="$work/uploads" EXPORT_DIR="$work/exports" LOG_LEVEL=warn \
  bin/assistant serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  bin/assistant healthcheck --url "http://127.0.0.1:$api_port/api/v1/health/live" --timeout 1s 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done

echo "== sdk-ts: Node journey and page test against the server"
status=0
(cd "$sdk" && ASSISTANT_URL="http://127.0.0.1:$api_port/api/v1" PAGE_PORT="$page_port" CHROMIUM="$(command -v chromium)" \
  node --test --test-concurrency=1 test/*.test.mjs) || status=$?
if [ $status -ne 0 ]; then
  echo "-- server log" >&2
  tail -n 50 "$work/server.log" >&2
fi
exit $status
