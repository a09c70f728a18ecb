#!/usr/bin/env bash
# Checks that api/openapi.yaml reads the same in the mainstream tools a client author uses,
# not only in this module's (newer) YAML library: the stock oapi-codegen v2.8.2 run outside
# this module (types and client), PyYAML's safe_load (what Python generators use), js-yaml
# (pinned in tools/spec) and kin-openapi (load and validate, examples included). The three
# YAML parsers must also agree on every value: YAML 1.1 readers take `on`, `no` or a bare
# date for a boolean or a timestamp where YAML 1.2 readers see a string.
# Installs python3-yaml with apt-get when missing (root, or ALLOW_INSTALL=1).
#   scripts/spec-portability.sh [spec]   (default api/openapi.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
spec=$(realpath "${1:-api/openapi.yaml}")
OAPI_CODEGEN_VERSION=v2.8.2

if ! python3 -c 'import yaml' 2>/dev/null; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    [ "${ALLOW_INSTALL:-0}" = 1 ] || { echo "spec-portability.sh: PyYAML is missing; install python3-yaml, or run again with ALLOW_INSTALL=1" >&2; exit 1; }
    sudo=sudo
  fi
  echo "spec-portability.sh: installing python3-yaml with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 python3-yaml >/dev/null
fi
(cd tools/spec && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "spec-portability: kin-openapi"
go run ./scripts/speccheck "$spec" >"$work/go.json"

echo "spec-portability: PyYAML"
python3 - "$spec" >"$work/py.json" <<'PY'
import datetime, json, sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    doc = yaml.safe_load(f)
def plain(v, path):
    # A value PyYAML types differently from JSON (a date, a non-string key) is not portable.
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                sys.exit(f"PyYAML reads the key {k!r} at {path} as {type(k).__name__}; quote it")
        return {k: plain(x, f"{path}/{k}") for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x, f"{path}/{i}") for i, x in enumerate(v)]
    if isinstance(v, (datetime.date, datetime.datetime)):
        sys.exit(f"PyYAML reads {path} as a timestamp; quote it")
    return v
print(json.dumps(plain(doc, "")))
PY

echo "spec-portability: js-yaml"
(cd tools/spec && node -e '
const fs = require("fs"); const yaml = require("js-yaml");
process.stdout.write(JSON.stringify(yaml.load(fs.readFileSync(process.argv[1], "utf8"))) + "\n");
' "$spec") >"$work/js.json"

echo "spec-portability: the three parsers agree"
python3 - "$work/go.json" "$work/py.json" "$work/js.json" <<'PY'
import json, sys
go, py, js = (json.load(open(p)) for p in sys.argv[1:])
def diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}: present in one only"
            d = diff(a[k], b[k], f"{path}/{k}")
            if d: return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b): return f"{path}: {len(a)} items against {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, f"{path}/{i}")
            if d: return d
        return None
    if type(a) is bool or type(b) is bool:
        return None if type(a) is type(b) and a == b else f"{path}: {a!r} against {b!r}"
    return None if a == b else f"{path}: {a!r} against {b!r}"
for name, other in (("PyYAML", py), ("js-yaml", js)):
    d = diff(go, other)
    if d:
        sys.exit(f"the Go YAML reader and {name} disagree at {d}")
PY

echo "spec-portability: stock oapi-codegen $OAPI_CODEGEN_VERSION outside this module"
# An empty directory with no go.mod: the generator's own module graph, as a new user gets it.
(cd "$work" && GOFLAGS= go run "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@$OAPI_CODEGEN_VERSION" \
  -generate types,client -package assistant "$spec" >client.gen.go)
echo "spec-portability: ok"
