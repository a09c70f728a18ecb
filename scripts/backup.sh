#!/usr/bin/env bash
# Write a consistent archive of a running compose stack: the database (pg_dump, custom
# format) and both volumes (uploads, exports). Usage, from the directory of the compose file
# (or with COMPOSE_PROJECT_NAME / COMPOSE_FILE set): scripts/backup.sh backup.tar
#
# Consistent: the api replicas are paused (docker compose pause) for the seconds the dump
# and the copy take, so no row and no blob changes in between; requests wait, none fail,
# and nginx keeps answering. Restore with scripts/restore.sh into an empty stack.
set -euo pipefail
archive=${1:?usage: backup.sh ARCHIVE.tar}
case $archive in /*) ;; *) archive=$PWD/$archive ;; esac

project=$(docker compose config --format json | sed -n 's/^ *"name": "\(.*\)",$/\1/p' | head -1)
[ -n "$project" ] || { echo "backup.sh: no compose project here" >&2; exit 1; }
pg=$(docker compose ps -q postgres)
[ -n "$pg" ] || { echo "backup.sh: postgres of $project is not running" >&2; exit 1; }
image=$(docker inspect -f '{{.Config.Image}}' "$pg")

work=$(mktemp -d)
paused=0
cleanup() {
  [ "$paused" = 1 ] && docker compose unpause api >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
docker compose pause api >/dev/null
paused=1
docker compose exec -T postgres sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$work/database.dump"
docker run --rm --network none --user 0 \
  -v "${project}_uploads:/data/uploads:ro" -v "${project}_exports:/data/exports:ro" \
  --entrypoint tar "$image" -C /data --numeric-owner -cf - uploads exports > "$work/files.tar"
docker compose unpause api >/dev/null
paused=0

printf 'project=%s\ncreated=%s\nimage=%s\n' "$project" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$(docker inspect -f '{{.Config.Image}}' "$(docker compose ps -q api | head -1)" 2>/dev/null || echo unknown)" > "$work/manifest"
tar -C "$work" -cf "$archive.tmp" manifest database.dump files.tar
mv "$archive.tmp" "$archive"
echo "backup.sh: $archive ($(du -h "$archive" | cut -f1)); the api was paused for $(( $(date +%s) - start ))s"
