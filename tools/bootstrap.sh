#!/usr/bin/env bash
# Install or build everything the tests and the local stack need, idempotently:
#   * Debian packages: redis-server, prometheus (the server the dashboards are proven against
#     on live data, and promtool), pkg-config, wrk, chromium (the
#     browser Playwright drives in the system tests; never a downloaded browser build)
#   * from the Go module proxy, into $DEEPIRI_TOOLS (default ~/.cache/deepiri-tools/bin):
#       ferretdb (MongoDB wire protocol, embedded via tools/ferretdb), influxd 2.9.1, helm,
#       the Gateway API / Prometheus Operator CRDs and skaffold's config schema (tests/chart)
#   * checkov (policy scanner) in its own virtualenv beside the tool cache
#   * with --dev (`make dev-tools`) also the skaffold binary, for `skaffold dev` on kind: no
#     test runs it (tests/chart validates skaffold.yaml against skaffold's own schema and
#     renders it the way skaffold does), so CI does not spend its build (1,793 s of a cold
#     CI at load 20–27) on it
#   * the Python dev environment in .venv from hashed, pinned requirements, with the kit,
#     the services and the `deepiri` CLI (clients/cli) installed editable
#   * the JavaScript Socket.IO client of websocket-service's system tests (tests/websocket/js,
#     `npm ci` from its package-lock.json; Node.js and npm from Debian if missing)
# Re-running skips whatever is already there at the right version. The builds run in two
# lanes (BOOTSTRAP_JOBS=1: one): influxd, the longest, beside everything else — a cold
# bootstrap is CPU-bound on two cores, and either lane alone leaves one idle in its
# single-threaded stretches (linking, libflux's LTO, pip/npm downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${DEEPIRI_TOOLS:-$HOME/.cache/deepiri-tools/bin}
mkdir -p "$BIN"
export GOTOOLCHAIN=local
# No DWARF and stripped binaries (as tools/cluster-tools.sh): less to compile and link; the
# version stamps stay the same, so a warm cache built with debug information is kept.
export GOFLAGS="-mod=mod -trimpath -gcflags=all=-dwarf=false"

FERRETDB_VERSION=v1.24.2
INFLUXDB_VERSION=v2.9.1
HELM_VERSION=v3.22.0
SKAFFOLD_VERSION=v2.16.1
GATEWAY_API_VERSION=v1.4.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
PYTHON=${PYTHON:-python3.11}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have_version() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
timed() { local start=$SECONDS; "$@"; say "$1 took $((SECONDS - start))s"; }

apt_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  { command -v promtool && command -v prometheus; } >/dev/null || missing+=(prometheus)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
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
  (cd "$ROOT/tools/ferretdb" && go build -ldflags "-s -w" -o "$BIN/ferretdb" .)
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
    PKG_CONFIG="$BIN/pkg-config" go build -tags sqlite_foreign_keys,sqlite_json -ldflags "-s -w" \
      -o "$BIN/influxd" ./cmd/influxd
  )
  rm -rf "$dir"
  echo "$INFLUXDB_VERSION" > "$BIN/influxd.version"
}

build_helm() {
  # The ldflags mirror helm's own Makefile: without the k8s version, `helm template`
  # (and skaffold render, which calls it) assumes Kubernetes v1.20.
  local stamp="$HELM_VERSION+k8s1.37"
  have_version helm "$stamp" && return
  say "building helm $HELM_VERSION"
  GOBIN="$BIN" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$stamp" > "$BIN/helm.version"
}

python_env() {
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$PYTHON" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
  say "installing pinned Python requirements (hashes checked)"
  .venv/bin/uv pip install --python .venv/bin/python -q --require-hashes -r requirements/dev.txt
  local editable=(-e services/kit -e clients/cli)
  for svc in services/*-service; do editable+=(-e "$svc"); done
  .venv/bin/uv pip install --python .venv/bin/python -q --no-deps --no-build-isolation "${editable[@]}"
}

# The policy scanner (checkov) pins packaging<24, which clashes with the dev environment, so
# it gets its own virtualenv next to the tool cache, from hashed requirements/checkov.txt.
checkov_env() {
  local venv="$BIN/../checkov-venv" stamp
  stamp=$(sha256sum requirements/checkov.txt | cut -c1-16)
  have_version checkov "$stamp" && return
  say "installing checkov (own virtualenv, hashes checked)"
  rm -rf "$venv"
  "$PYTHON" -m venv --without-pip "$venv"
  # uv (from .venv, python_env) installs the same hashed pins as pip did, in a fraction of
  # the time: 206 s with pip at load 20–27 (cold CI, 2026-11-30).
  .venv/bin/uv pip install --python "$venv/bin/python" -q --require-hashes \
    -r requirements/checkov.txt
  ln -sfn "$(cd "$venv" && pwd)/bin/checkov" "$BIN/checkov"
  echo "$stamp" > "$BIN/checkov.version"
}

js_clients() {
  # Reinstalled from scratch when the lock file changed since the last install.
  local dir=tests/websocket/js
  cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json" 2>/dev/null && return
  say "npm ci (tests/websocket/js: socket.io-client)"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error &&
     cp package-lock.json node_modules/.installed-lock.json)
}

# skaffold, for developers only (`make dev-tools`). Its go.mod has replace lines, so it is
# built inside its own module's source tree.
build_skaffold() {
  have_version skaffold "$SKAFFOLD_VERSION" && return
  say "building skaffold $SKAFFOLD_VERSION from the Go module proxy"
  local src dir
  src=$(go mod download -json "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  dir=$(mktemp -d)
  cp -r "$src/." "$dir" && chmod -R u+w "$dir"
  (cd "$dir" && go build -trimpath -ldflags "-X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION" \
     -o "$BIN/skaffold" ./cmd/skaffold)
  rm -rf "$dir"
  echo "$SKAFFOLD_VERSION" > "$BIN/skaffold.version"
}

# CRD schemas the chart renders against (Gateway API, Prometheus Operator), from the modules'
# own source, so tests/chart validates HTTPRoute/Gateway/ServiceMonitor/PrometheusRule too.
fetch_crds() {
  local out="$BIN/../crds" want="$GATEWAY_API_VERSION $PROMETHEUS_OPERATOR_VERSION" dir
  [ "$(cat "$out/version" 2>/dev/null)" = "$want" ] && return
  say "fetching CRDs: gateway-api $GATEWAY_API_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
  rm -rf "$out" && mkdir -p "$out"
  dir=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp "$dir"/config/crd/standard/gateway.networking.k8s.io_{gateways,httproutes}.yaml "$out/"
  dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp "$dir"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,prometheusrules}.yaml "$out/"
  chmod u+w "$out"/*.yaml
  echo "$want" > "$out/version"
}

# skaffold's JSON schema for the apiVersion skaffold.yaml declares, from skaffold's own module
# (the schema its parser enforces), so tests/chart validates skaffold.yaml without the binary.
fetch_skaffold_schema() {
  local out="$BIN/../skaffold" api dir
  api=$(sed -n 's|^apiVersion: skaffold/||p' skaffold.yaml)
  [ -f "$out/$api.json" ] && [ "$(cat "$out/version" 2>/dev/null)" = "$SKAFFOLD_VERSION" ] && return
  say "fetching skaffold $SKAFFOLD_VERSION's config schema $api"
  dir=$(go mod download -json "github.com/GoogleContainerTools/skaffold/v2@$SKAFFOLD_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out"
  cp "$dir/docs-v2/content/en/schemas/$api.json" "$out/" && chmod u+w "$out/$api.json"
  echo "$SKAFFOLD_VERSION" > "$out/version"
}

# Each lane stops at its first failure; a failed background lane fails the bootstrap, and
# the bootstrap stopping (a failure, Ctrl-C) stops the background lane's whole group.
lane() { local f; for f in "$@"; do timed "$f"; done; }
if [ "${1:-}" = --only ]; then
  shift; lane "$@" 2>&1 | sed -u "s/^/[$1] /"; exit
fi
rest=(build_helm build_ferretdb python_env checkov_env fetch_crds fetch_skaffold_schema js_clients)
[ "${1:-}" != --dev ] || rest+=(build_skaffold)
timed apt_packages
if [ "${BOOTSTRAP_JOBS:-2}" -gt 1 ]; then
  influxd_lane=
  trap '[ -z "$influxd_lane" ] || kill -- -"$influxd_lane" 2>/dev/null' EXIT
  trap 'exit 130' INT TERM
  setsid bash "$ROOT/tools/bootstrap.sh" --only build_influxd & influxd_lane=$!
  lane "${rest[@]}"
  wait "$influxd_lane"; influxd_lane=
else
  lane build_influxd "${rest[@]}"
fi
say "tools ready in $BIN"
