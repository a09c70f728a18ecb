#!/usr/bin/env bash
# Restore an archive of scripts/backup.sh into an EMPTY compose stack (a new project, or one
# after `docker compose down -v`): the database and both volumes. Then start it with
# `docker compose up -d --wait` (migrate applies only migrations newer than the backup).
# Usage, with the new stack's .env in place: scripts/restore.sh backup.tar
set -euo pipefail
archive=${1:?usage: restore.sh ARCHIVE.tar}
case $archive in /*) ;; *) archive=$PWD/$archive ;; esac

project=$(docker compose config --format json | sed -n 's/^ *"name": "\(.*\)",$/\1/p' | head -1)
[ -n "$project" ] || { echo "restore.sh: no compose project here" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xf "$archive" manifest database.dump files.tar

docker compose up -d --wait postgres >/dev/null
tables=$(docker compose exec -T postgres sh -c 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = '"'"'public'"'"'"')
if [ "$tables" != 0 ]; then
  echo "restore.sh: the database of $project is not empty ($tables tables); restore only into an empty stack" >&2
  exit 1
fi
docker compose exec -T postgres sh -c 'pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --no-owner --exit-on-error' < "$work/database.dump"

# The volumes, created empty by compose, receive the files with their owner (the api's user).
docker compose create >/dev/null
image=$(docker inspect -f '{{.Config.Image}}' "$(docker compose ps -q postgres)")
docker run --rm -i --network none --user 0 \
  -v "${project}_uploads:/data/uploads" -v "${project}_exports:/data/exports" \
  --entrypoint tar "$image" -C /data --numeric-owner -xpf - < "$work/files.tar"
echo "restore.sh: restored $(sed -n 's/^created=//p' "$work/manifest") into $project; now: docker compose up -d --wait"
