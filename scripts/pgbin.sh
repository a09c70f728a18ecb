#!/usr/bin/env bash
# Prints the directory of the newest installed PostgreSQL binaries (pg_dump must be at least
# the server's version).
set -euo pipefail
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_dump" ]; then pg_config --bindir; exit; fi
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  [ -x "$d/pg_dump" ] && { echo "$d"; exit; }
done
dirname "$(command -v pg_dump)"
