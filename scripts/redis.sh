#!/usr/bin/env bash
# A private Redis for tests, on loopback only, with no persistence.
#   scripts/redis.sh start DIR PORT    start it (installs redis-server when missing and allowed)
#   scripts/redis.sh stop DIR          stop it
set -euo pipefail
cmd=${1:?usage: redis.sh start|stop DIR [PORT]}
dir=${2:?directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

case "$cmd" in
start)
  port=${3:?port}
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "redis.sh: installing redis-server with apt-get" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    elif [ "${ALLOW_INSTALL:-0}" = 1 ]; then
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    else
      echo "redis.sh: redis-server is not installed; install it, or run again with ALLOW_INSTALL=1" >&2
      exit 1
    fi
  fi
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then exit 0; fi
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && exit 0
    sleep 0.1
  done
  echo "redis.sh: redis did not start; see $dir/redis.log" >&2; exit 1
  ;;
stop)
  if [ -f "$dir/redis.pid" ]; then
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/redis.pid"
  fi
  ;;
*) echo "usage: redis.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
