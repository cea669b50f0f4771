#!/usr/bin/env bash
# make e2e: the platform on a real single-node Kubernetes, end to end.
#   1. the binaries (tools/cluster-tools.sh) built, nothing when cached; while they build,
#      every image that needs none of them (k8s/cluster/images.sh)
#   2. make cluster (k8s/cluster/up.sh) — reuses a running one, wipes a dead one's state —
#      building what is left of the images and importing them while the node comes up
#   3. Traefik from k8s/traefik.yaml (as `make up` applies it), with the image built here
#   4. pytest -m e2e tests/e2e: the chart installed under Pod Security "restricted",
#      helm test, traffic through the Ingress, upgrade/rollback/pod loss under load, HPA,
#      NetworkPolicy enforcement, uninstall
#   5. make cluster-down — always, also on failure or Ctrl-C (KEEP_CLUSTER=1 keeps it up;
#      logs of a failed run are copied to .tmp/e2e-logs first)
# Extra arguments go to pytest (e.g. make e2e E2E_ARGS="-k flow").
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# One cluster per machine: a second make e2e (another checkout too) waits for the first. The
# lock is the tool cache directory, which every checkout shares, so no lock file is left.
mkdir -p "$BIN"; exec 9<"$BIN"
flock -n 9 || { say "another make e2e runs on this machine; waiting for it"; flock 9; }
start=$SECONDS
timings=()
phase() { timings+=("$1 $(($SECONDS - ${2}))s"); }

tools_pgid=
finish() {
  local rc=$?
  trap - EXIT INT TERM
  [ -z "$tools_pgid" ] || kill -- -"$tools_pgid" 2>/dev/null
  if [ "$rc" != 0 ] && [ -d "$CLUSTER_DIR/logs" ]; then
    rm -rf "$ROOT/.tmp/e2e-logs"; mkdir -p "$ROOT/.tmp/e2e-logs"
    cp -r "$CLUSTER_DIR/logs/." "$ROOT/.tmp/e2e-logs/" 2>/dev/null
    if [ -f "$KUBECONFIG_FILE" ]; then
      kc get pods -A -o wide > "$ROOT/.tmp/e2e-logs/pods.txt" 2>&1
      kc get events -A --sort-by=.lastTimestamp > "$ROOT/.tmp/e2e-logs/events.txt" 2>&1
    fi
    cp -r "$CLUSTER_DIR/pod-logs" "$ROOT/.tmp/e2e-logs/" 2>/dev/null
    echo "e2e failed (rc=$rc); logs in .tmp/e2e-logs" >&2
  fi
  if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
    echo "KEEP_CLUSTER=1: cluster left up (KUBECONFIG=$KUBECONFIG_FILE)"
  else
    local t=$SECONDS; bash "$ROOT/k8s/cluster/down.sh" || rc=1; phase teardown "$t"
  fi
  printf 'e2e timings: %s; total %ss\n' "$(IFS=,; echo "${timings[*]}")" "$((SECONDS - start))"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# State of a cluster that no longer runs (a killed session, a restarted machine) is wiped
# first; a running cluster is reused.
if [ -d "$CLUSTER_DIR" ] && ! running kube-apiserver; then
  say "wiping the state of a cluster that no longer runs"; bash "$ROOT/k8s/cluster/down.sh"
fi
# The cluster's Go binaries first (nothing when cached). When they build (a cold cache,
# CPU-bound), the images that need none of them build meanwhile (debootstrap, pip: network
# and disk), then the rest. When they are cached (the tools step ends within seconds), the
# images build and import in the background while the cluster comes up (up.sh's extra
# images) instead of before it: a warm run with changed code used to build its service
# images (206 s) and only then start the cluster (171 s).
t=$SECONDS
setsid bash "$ROOT/tools/cluster-tools.sh" & tools_pgid=$!
if ! timeout 15 tail --pid="$tools_pgid" -f /dev/null; then
  bash "$ROOT/k8s/cluster/images.sh" services
  wait "$tools_pgid"; tools_pgid=
  bash "$ROOT/k8s/cluster/images.sh" app kube-router
else
  wait "$tools_pgid"; tools_pgid=
fi
phase build "$t"
# The cluster's daemons must not inherit the lock (fd 9): with KEEP_CLUSTER=1 they outlive
# this run, and the next make e2e would wait for them forever.
t=$SECONDS; CLUSTER_EXTRA_IMAGES="app kube-router" bash "$ROOT/k8s/cluster/up.sh" 9<&-; phase cluster+images "$t"
bash "$ROOT/k8s/cluster/images.sh" --values > "$CLUSTER_DIR/images-values.yaml"

t=$SECONDS
say "Traefik (k8s/traefik.yaml, image built here)"
sed "s|image: traefik:.*|image: $(bash "$ROOT/k8s/cluster/images.sh" --name traefik)|" "$ROOT/k8s/traefik.yaml" |
  kc apply -f - >/dev/null
kc -n traefik rollout status deployment/traefik --timeout=180s
phase traefik "$t"

t=$SECONDS
export KUBECONFIG=$KUBECONFIG_FILE
export DEEPIRI_E2E_VALUES="$ROOT/charts/deepiri/values-kind.yaml:$ROOT/k8s/cluster/values.yaml:$CLUSTER_DIR/images-values.yaml"
export DEEPIRI_E2E_INGRESS=http://$NODE_IP:30080
export DEEPIRI_E2E_BASE_IMAGE; DEEPIRI_E2E_BASE_IMAGE=$(bash "$ROOT/k8s/cluster/images.sh" --name base)
export DEEPIRI_E2E_VOLUMES=$CLUSTER_DIR/volumes
export DEEPIRI_E2E_KUBE_ROUTER_IMAGE; DEEPIRI_E2E_KUBE_ROUTER_IMAGE=$(bash "$ROOT/k8s/cluster/images.sh" --name kube-router)
cd "$ROOT"
# --durations: where the suite's time goes, in every CI log.
# shellcheck disable=SC2086
pytest tests/e2e -m e2e -p no:cacheprovider --durations=30 ${E2E_ARGS:-} "$@"
phase tests "$t"
