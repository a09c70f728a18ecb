#!/usr/bin/env bash
# End-to-end checks of the deployment without a Docker engine (see e2e/): the compose file
# and Dockerfile through their real parsers, the binary as a non-root user, the real nginx
# in front of the real server, and the docs page in headless Chromium. Installs nginx and
# Chromium from the system's packages when they are missing (root, or ALLOW_INSTALL=1).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    [ "${ALLOW_INSTALL:-0}" = 1 ] || { echo "e2e.sh: missing ${need[*]}; install them, or run again with ALLOW_INSTALL=1" >&2; exit 1; }
    sudo=sudo
  fi
  echo "e2e.sh: installing ${need[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$(id -u)" != 0 ]; then
  echo "e2e.sh: the non-root check switches users with setpriv, which needs root" >&2
  exit 1
fi

cd e2e
exec go test -count=1 "$@" ./...
