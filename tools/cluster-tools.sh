#!/usr/bin/env bash
# Build (once) everything the local single-node Kubernetes needs, from the Go module proxy,
# into the tool cache ($DEEPIRI_TOOLS, default ~/.cache/deepiri-tools/bin), version-stamped
# like tools/bootstrap.sh: Kubernetes 1.35 (apiserver, controller-manager, scheduler,
# kubelet, kube-proxy, kubectl), etcd, CoreDNS, metrics-server, Traefik and kube-router.
# Builds run CLUSTER_TOOLS_JOBS (default 2) at a time, largest first; each logs to
# $LOGS/<name>.log and reports its time. A cold build is CPU-bound (≈ 2,500 CPU-seconds in
# all), so more parallelism only thrashes a 2-core machine and compiles shared packages twice;
# no DWARF is generated (-dwarf=false; the binaries are stripped anyway) and CoreDNS is built
# with only the plugins the cluster's Corefile uses.
#   tools/cluster-tools.sh            build whatever is missing
#   tools/cluster-tools.sh k8s etcd   build only these
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${DEEPIRI_TOOLS:-$HOME/.cache/deepiri-tools/bin}
LOGS=${CLUSTER_TOOLS_LOGS:-$ROOT/.tmp/cluster-tools}
mkdir -p "$BIN" "$LOGS"
export GOTOOLCHAIN=local CGO_ENABLED=0
# Every build: module mode, no VCS stamping, no debug information.
export GOFLAGS="-mod=mod -buildvcs=false -trimpath -gcflags=all=-dwarf=false"

K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.5
COREDNS_VERSION=v1.14.7
# The plugins k8s/cluster/addons.yaml's Corefile uses (hashed into CoreDNS's version stamp).
COREDNS_PLUGINS=(errors health ready kubernetes cache reload)
METRICS_SERVER_VERSION=v0.8.0
TRAEFIK_VERSION=v3.6.12
KUBE_ROUTER_VERSION=v2.1.0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have_version() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
moddir() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
# A writable copy of a module's source (module zips are read-only), for modules whose go.mod
# carries replace lines that only apply when building inside them.
srccopy() { local d; d=$(mktemp -d); cp -r "$(moddir "$1")/." "$d"; chmod -R u+w "$d"; echo "$d"; }

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# Upstream's go.mod replaces every k8s.io staging module with ./staging/..., which module zips
# do not contain; a wrapper module pins each one to its published v0.x instead.
build_k8s() {
  local stamp=$K8S_VERSION ok=1 c
  for c in "${K8S_CMDS[@]}"; do have_version "$c" "$stamp" || ok=0; done
  [ $ok = 1 ] && return
  local dir minor=${K8S_VERSION#v1.} gomod
  minor=${minor%%.*}
  dir=$(mktemp -d)
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module deepiri.local/k8s"
    echo "go 1.25"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u |
      while read -r m; do echo "replace $m => $m v0.$minor.${K8S_VERSION##*.}"; done
  } > "$dir/go.mod"
  {
    echo "//go:build tools"
    echo "package tools"
    echo "import ("
    for c in "${K8S_CMDS[@]}"; do echo "  _ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } > "$dir/tools.go"
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (
    cd "$dir"
    go mod tidy
    mkdir -p out
    go build -ldflags "$ld" -o out/ $(printf 'k8s.io/kubernetes/cmd/%s ' "${K8S_CMDS[@]}")
    for c in "${K8S_CMDS[@]}"; do mv "out/$c" "$BIN/$c"; echo "$stamp" > "$BIN/$c.version"; done
  )
  rm -rf "$dir"
}

# etcd's server module also has relative replace lines; its main package is the module root.
build_etcd() {
  have_version etcd "$ETCD_VERSION" && return
  local dir; dir=$(mktemp -d)
  (
    cd "$dir"
    printf 'module deepiri.local/etcd\ngo 1.24\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
    printf '//go:build tools\npackage tools\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
    go mod tidy
    go build -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$dir"
  echo "$ETCD_VERSION" > "$BIN/etcd.version"
}

# CoreDNS as a library: its main with only the plugins listed (upstream's main imports all
# ~60, with the AWS, Azure and Google Cloud SDKs); the versions are those CoreDNS requires.
build_coredns() {
  local stamp; stamp="$COREDNS_VERSION-min-$(echo "${COREDNS_PLUGINS[*]}" | sha256sum | cut -c1-8)"
  have_version coredns "$stamp" && return
  local dir p; dir=$(mktemp -d)
  (
    cd "$dir"
    printf 'module deepiri.local/coredns\ngo 1.25\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" > go.mod
    {
      echo "package main"
      echo "import ("
      echo '  "github.com/coredns/coredns/coremain"'
      for p in "${COREDNS_PLUGINS[@]}"; do echo "  _ \"github.com/coredns/coredns/plugin/$p\""; done
      echo ")"
      echo "func main() { coremain.Run() }"
    } > main.go
    go mod tidy
    go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$BIN/coredns" .
  )
  rm -rf "$dir"
  echo "$stamp" > "$BIN/coredns.version"
}

build_metrics_server() {
  have_version metrics-server "$METRICS_SERVER_VERSION" && return
  local dir; dir=$(srccopy "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION")
  (cd "$dir" && go build -ldflags "-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
     -o "$BIN/metrics-server" ./cmd/metrics-server)
  rm -rf "$dir"
  echo "$METRICS_SERVER_VERSION" > "$BIN/metrics-server.version"
}

build_traefik() {
  have_version traefik "$TRAEFIK_VERSION" && return
  local dir; dir=$(srccopy "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")
  (cd "$dir" && go build -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
     -o "$BIN/traefik" ./cmd/traefik)
  rm -rf "$dir"
  echo "$TRAEFIK_VERSION" > "$BIN/traefik.version"
}

build_kube_router() {
  have_version kube-router "$KUBE_ROUTER_VERSION" && return
  local dir; dir=$(srccopy "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION")
  (cd "$dir" && go build -ldflags "-s -w" -o "$BIN/kube-router" ./cmd/kube-router)
  rm -rf "$dir"
  echo "$KUBE_ROUTER_VERSION" > "$BIN/kube-router.version"
}

run_logged() {
  local name=$1 start=$SECONDS
  if "build_${name//-/_}" > "$LOGS/$name.log" 2>&1; then
    say "$name ready ($((SECONDS - start))s)"; echo "$((SECONDS - start))" > "$LOGS/$name.seconds"
  else
    say "$name FAILED after $((SECONDS - start))s; last lines of $LOGS/$name.log:"; tail -20 "$LOGS/$name.log" >&2
    return 1
  fi
}

# Largest first (measured cold, CPU-bound): Kubernetes, Traefik, kube-router, metrics-server,
# etcd, CoreDNS; builds that need nothing return at once.
order=(k8s traefik kube-router metrics-server etcd coredns)
names=()
for n in "${order[@]}"; do
  if [ $# -eq 0 ] || [[ " $* " == *" $n "* ]]; then names+=("$n"); fi
done
export -f run_logged say have_version moddir srccopy $(compgen -A function build_)
export BIN LOGS K8S_VERSION ETCD_VERSION COREDNS_VERSION METRICS_SERVER_VERSION TRAEFIK_VERSION KUBE_ROUTER_VERSION
export COREDNS_PLUGINS_LIST="${COREDNS_PLUGINS[*]}" K8S_CMDS_LIST="${K8S_CMDS[*]}"
printf '%s\n' "${names[@]}" |
  xargs -r -P "${CLUSTER_TOOLS_JOBS:-2}" -I{} bash -c 'set -euo pipefail
    read -ra COREDNS_PLUGINS <<<"$COREDNS_PLUGINS_LIST"; read -ra K8S_CMDS <<<"$K8S_CMDS_LIST"
    run_logged "$1"' _ {}
