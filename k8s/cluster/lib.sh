# Shared settings of the local single-node Kubernetes (k8s/cluster/*.sh source this).
# One cluster per machine: its state lives in $CLUSTER_DIR, plus the host state listed in
# down.sh (network devices, iptables chains, /run/containerd/s, /var/lib/kubelet, cgroups).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${DEEPIRI_TOOLS:-$HOME/.cache/deepiri-tools/bin}
export PATH="$BIN:$ROOT/.venv/bin:/usr/sbin:/sbin:$PATH"
CLUSTER_DIR=${DEEPIRI_CLUSTER_DIR:-/var/tmp/deepiri-cluster}
NODE_NAME=deepiri-node
# The node's address is an extra one on the loopback device (this kernel has no dummy
# interfaces), so nothing listens on the machine's real interfaces and nothing depends on
# how this machine is addressed.
NODE_IP=10.217.0.1
BRIDGE=deepiri-br0
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
BRIDGE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/12
API_SERVICE_IP=10.96.0.1
DNS_IP=10.96.0.10
APISERVER=https://$NODE_IP:6443
KUBECONFIG_FILE=$CLUSTER_DIR/admin.kubeconfig
CONTAINERD_SOCK=$CLUSTER_DIR/containerd.sock
PAUSE_IMAGE=deepiri.local/pause:3.10.1
# Kernel settings the kubelet, kube-proxy and the bridge change: saved on the way up,
# restored by down.sh.
SYSCTLS=(net/ipv4/ip_forward net/ipv4/conf/all/route_localnet vm/overcommit_memory
  vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/bridge/bridge-nf-call-iptables net/netfilter/nf_conntrack_max)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
pidfile() { echo "$CLUSTER_DIR/run/$1.pid"; }
# The recorded process, if it still runs and is still what was started (a pid left from an
# earlier boot or a killed session may have been reused by something else).
recorded_pid() { # name: its live pid, or nothing
  local p; p=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
  { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$1 " && echo "$p"
}
running() { recorded_pid "$1" >/dev/null; }
# Config files are rewritten only when their content changes: kube-proxy exits when its
# file is touched, and a second run must leave a running cluster alone.
write() { local f=$1 tmp; tmp=$(mktemp); cat > "$tmp"; if cmp -s "$tmp" "$f"; then rm -f "$tmp"; else mv "$tmp" "$f"; fi; }
