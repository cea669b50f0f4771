#!/usr/bin/env bash
# make up: a kind cluster running Deepiri, reachable at http://localhost.
#   1. create the kind cluster "deepiri" (k8s/kind.yaml) unless it exists
#   2. build every enabled service's image and load it into kind
#   3. install Traefik (k8s/traefik.yaml; with GATEWAY=1 also the Gateway API CRDs from
#      $GATEWAY_API_CRDS, a file or URL of the standard-channel install manifest)
#   4. helm upgrade --install the umbrella chart with values-kind.yaml, --wait
#   5. print how to reach it
# Needs docker (or podman), kind, kubectl, helm. kind is built with `go install` if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=${CLUSTER:-deepiri}
NAMESPACE=${NAMESPACE:-deepiri}
GATEWAY=${GATEWAY:-0}
KIND_VERSION=v0.33.0
BIN=${DEEPIRI_TOOLS:-$HOME/.cache/deepiri-tools/bin}
export PATH="$BIN:$PATH"
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

for tool in docker kubectl helm; do
  command -v "$tool" >/dev/null || { echo "make up needs $tool on PATH" >&2; exit 1; }
done
if ! command -v kind >/dev/null; then
  say "installing kind $KIND_VERSION into $BIN"
  GOBIN="$BIN" go install "sigs.k8s.io/kind@$KIND_VERSION"
fi

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config k8s/kind.yaml --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

# The services the chart enables that have a Dockerfile — the same list the Tiltfile uses.
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
mapfile -t SERVICES < <("$PY" - <<'PY'
import os, yaml
chart = yaml.safe_load(open("charts/deepiri/Chart.yaml"))
values = yaml.safe_load(open("charts/deepiri/values.yaml"))
for dep in chart["dependencies"]:
    name = dep["alias"]
    if values.get(name, {}).get("enabled") and os.path.exists(f"services/{name}/Dockerfile"):
        print(name)
PY
)
TAG=${TAG:-dev-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- services || echo "-$(date +%s)")}
for svc in "${SERVICES[@]}"; do
  say "building deepiri/$svc:$TAG"
  docker build -f "services/$svc/Dockerfile" -t "deepiri/$svc:$TAG" .
  kind load docker-image "deepiri/$svc:$TAG" --name "$CLUSTER"
done

say "installing Traefik"
kubectl apply -f k8s/traefik.yaml
values=(-f charts/deepiri/values-kind.yaml)
if [ "$GATEWAY" = 1 ]; then
  : "${GATEWAY_API_CRDS:?GATEWAY=1 needs GATEWAY_API_CRDS: the Gateway API standard-channel install manifest (file or URL)}"
  kubectl apply --server-side -f "$GATEWAY_API_CRDS"
  kubectl apply -f k8s/traefik-gateway.yaml
  kubectl -n traefik set env deployment/traefik GATEWAY_API=true
  values+=(-f charts/deepiri/values-gateway.yaml)
fi
kubectl -n traefik rollout status deployment/traefik --timeout 180s

say "installing the chart into namespace $NAMESPACE"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
# Every Deepiri pod meets Pod Security "restricted"; let the API server enforce it.
kubectl label namespace "$NAMESPACE" --overwrite pod-security.kubernetes.io/enforce=restricted
helm upgrade --install deepiri charts/deepiri --namespace "$NAMESPACE" "${values[@]}" \
  --set global.imageTag="$TAG" --wait --timeout 15m

say "Deepiri is up"
helm get notes deepiri --namespace "$NAMESPACE"
