#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, on loopback only.
#   scripts/postgres.sh start DIR PORT [fast]   start it (initdb on first use); "fast" trades
#                                             durability for speed (tests)
#   scripts/postgres.sh stop DIR                stop it
# Uses the machine's PostgreSQL binaries; when they are missing and the system package
# manager is usable (root, or ALLOW_INSTALL=1 with sudo), installs them.
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop DIR [PORT]}
dir=${2:?data directory}
dir=$(mkdir -p "$dir" && cd "$dir" && pwd)

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
    pg_config --bindir; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  command -v pg_ctl >/dev/null 2>&1 && dirname "$(command -v pg_ctl)"
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "postgres.sh: installing PostgreSQL with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  elif [ "${ALLOW_INSTALL:-0}" = 1 ]; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "postgres.sh: PostgreSQL is not installed; install it, or run again with ALLOW_INSTALL=1" >&2
    exit 1
  fi
  bindir=$(find_bindir)
fi

# PostgreSQL refuses to run as root: run it as the postgres user, which owns the directory.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$dir"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  port=${3:?port}
  mode=${4:-}
  if [ -f "$dir/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    exit 0
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  fi
  opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200"
  if [ "$mode" = fast ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  as_owner "$bindir/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/postgres.log" -w -t 60 start >/dev/null
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  ;;
*)
  echo "usage: postgres.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
