#!/usr/bin/env bash
# Install or build everything the tests and the local stack need, idempotently:
#   * Debian packages: redis-server, promtool (prometheus), pkg-config, wrk
#   * from the Go module proxy, into $DEEPIRI_TOOLS (default ~/.cache/deepiri-tools/bin):
#       ferretdb (MongoDB wire protocol, embedded via tools/ferretdb), influxd 2.9.1, helm
#   * the Python dev environment in .venv from hashed, pinned requirements
# Re-running skips whatever is already there at the right version.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${DEEPIRI_TOOLS:-$HOME/.cache/deepiri-tools/bin}
mkdir -p "$BIN"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

FERRETDB_VERSION=v1.24.2
INFLUXDB_VERSION=v2.9.1
HELM_VERSION=v3.22.0
PYTHON=${PYTHON:-python3.11}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have_version() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
timed() { local start=$SECONDS; "$@"; say "$1 took $((SECONDS - start))s"; }

apt_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v wrk >/dev/null || missing+=(wrk)
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build_ferretdb() {
  have_version ferretdb "$FERRETDB_VERSION" && return
  say "building ferretdb $FERRETDB_VERSION (embedded; see tools/ferretdb/main.go)"
  (cd "$ROOT/tools/ferretdb" && go build -trimpath -o "$BIN/ferretdb" .)
  echo "$FERRETDB_VERSION" > "$BIN/ferretdb.version"
}

build_influxd() {
  have_version influxd "$INFLUXDB_VERSION" && return
  say "building influxd $INFLUXDB_VERSION from the Go module proxy (Flux via cargo; first build takes minutes)"
  command -v cargo >/dev/null || { echo "cargo is needed to build InfluxDB's Flux engine" >&2; exit 1; }
  local src dir
  src=$(go mod download -json "github.com/influxdata/influxdb/v2@$INFLUXDB_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  dir=$(mktemp -d)
  cp -r "$src/." "$dir" && chmod -R u+w "$dir"
  (
    cd "$dir"
    export CGO_ENABLED=1 RUSTUP_TOOLCHAIN=${RUSTUP_TOOLCHAIN:-stable} RUSTFLAGS="--cap-lints warn"
    go build -o "$BIN/pkg-config" github.com/influxdata/pkg-config
    # No "assets" tag: no UI, and it skips the only download that is not from a registry.
    PKG_CONFIG="$BIN/pkg-config" go build -tags sqlite_foreign_keys,sqlite_json -o "$BIN/influxd" ./cmd/influxd
  )
  rm -rf "$dir"
  echo "$INFLUXDB_VERSION" > "$BIN/influxd.version"
}

build_helm() {
  have_version helm "$HELM_VERSION" && return
  say "building helm $HELM_VERSION"
  GOBIN="$BIN" go install -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$BIN/helm.version"
}

python_env() {
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PYTHON" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
  say "installing pinned Python requirements (hashes checked)"
  .venv/bin/uv pip install --python .venv/bin/python -q --require-hashes -r requirements/dev.txt
  local editable=(-e services/kit)
  for svc in services/*-service; do editable+=(-e "$svc"); done
  .venv/bin/uv pip install --python .venv/bin/python -q --no-deps --no-build-isolation "${editable[@]}"
}

timed apt_packages
timed build_ferretdb
timed build_influxd
timed build_helm
timed python_env
say "tools ready in $BIN"
