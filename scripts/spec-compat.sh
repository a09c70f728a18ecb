#!/usr/bin/env bash
# Fails when api/openapi.yaml breaks a client of the last release's spec
# (api/openapi.released.yaml), unless info.version's major part changed: oasdiff's breaking
# changes at level ERR (a removed operation, field or enum value, a renamed field, a new
# required request field, a narrowed type...). Run by `make verify`.
#   scripts/spec-compat.sh [base] [revision]   compare two specs (default: released, current)
#   scripts/spec-compat.sh self-test           show that a renamed field fails the check on a
#                                              scratch copy, and passes with a new major version
set -euo pipefail
cd "$(dirname "$0")/.."

major() { python3 -c 'import sys, yaml; print(str(yaml.safe_load(open(sys.argv[1]))["info"]["version"]).split(".")[0])' "$1"; }

check() {
  local base=$1 rev=$2
  local base_major rev_major
  base_major=$(major "$base"); rev_major=$(major "$rev")
  if [ "$base_major" != "$rev_major" ]; then
    echo "spec-compat: major version $base_major -> $rev_major; breaking changes are allowed:"
    go tool -modfile=tools/go.mod oasdiff breaking "$base" "$rev" --format singleline || true
    return 0
  fi
  if ! go tool -modfile=tools/go.mod oasdiff breaking "$base" "$rev" --fail-on ERR --format singleline; then
    echo "spec-compat: $rev breaks clients of $base (version $(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["info"]["version"])' "$base")); keep the old shape, or raise the major version and say why in CHANGELOG.md" >&2
    return 1
  fi
  echo "spec-compat: no breaking change from $base"
}

if [ "${1:-}" = self-test ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # Conversation.title becomes name: a required response field disappears.
  python3 - api/openapi.yaml "$work/renamed.yaml" "$work/major.yaml" <<'PY'
import re, sys
s = open(sys.argv[1], encoding="utf-8").read()
start = s.index("\n    Conversation:\n")
end = s.index("\n    ConversationList:\n", start) if "\n    ConversationList:\n" in s[start:] else len(s)
block = s[start:end]
renamed_block = block.replace("required: [id, title,", "required: [id, name,", 1).replace("\n        title:\n", "\n        name:\n", 1)
assert renamed_block != block, "Conversation.title not found"
renamed = s[:start] + renamed_block + s[end:]
open(sys.argv[2], "w", encoding="utf-8").write(renamed)
v = re.search(r"^  version: (\d+)\.", renamed, re.M)
major = re.sub(r"^  version: .*$", f"  version: {int(v.group(1)) + 1}.0.0", renamed, count=1, flags=re.M)
open(sys.argv[3], "w", encoding="utf-8").write(major)
PY
  if check api/openapi.yaml "$work/renamed.yaml" >"$work/out" 2>&1; then
    cat "$work/out"; echo "spec-compat self-test: renaming Conversation.title passed the check" >&2; exit 1
  fi
  grep -q title "$work/out" || { cat "$work/out"; echo "spec-compat self-test: the failure does not name the field" >&2; exit 1; }
  check api/openapi.yaml "$work/major.yaml" >/dev/null || { echo "spec-compat self-test: a new major version was refused" >&2; exit 1; }
  echo "spec-compat self-test: a renamed field fails, a new major version passes"
  exit 0
fi

check "${1:-api/openapi.released.yaml}" "${2:-api/openapi.yaml}"
