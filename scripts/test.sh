#!/usr/bin/env bash
# Runs the Go tests (race detector on) against real services started for the run.
# Extra arguments go to `go test` (default: ./...).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then set -- ./...; fi
exec scripts/with-services.sh go test -race -count=1 "$@"
