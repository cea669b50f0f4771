#!/usr/bin/env bash
# make cluster: a real single-node Kubernetes on this machine, no Docker needed.
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd + runc, a
#   kubelet (one real node), kube-proxy (iptables) as host processes; CoreDNS and
#   metrics-server as pods. Binaries come from tools/cluster-tools.sh (tool cache), images
#   from k8s/cluster/images.sh. Idempotent: whatever is already up is reused.
# Writes $CLUSTER_DIR/admin.kubeconfig. `k8s/cluster/down.sh` stops and wipes everything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# What a node needs of this machine, checked first so that CI fails with the reason.
[ "$(id -u)" = 0 ] || { echo "make cluster needs root: it runs containerd, a kubelet and iptables on this machine" >&2; exit 1; }
for need in /proc/sys/net/bridge/bridge-nf-call-iptables /sys/fs/cgroup/memory /sys/fs/cgroup/cpu; do
  [ -e "$need" ] || { echo "make cluster needs $need (bridge netfilter and cgroup v1 memory/cpu controllers)" >&2; exit 1; }
done
P=$CLUSTER_DIR/pki
mkdir -p "$CLUSTER_DIR"/{run,logs,pki,cni/net.d,cni/ipam,pod-logs,kubelet,volumes}

# Debian packages for the node and the image builds (only when one is missing).
declare -A PKG=([containerd]=containerd [runc]=runc [buildah]=buildah [skopeo]=skopeo
  [debootstrap]=debootstrap [iptables]=iptables [ipset]=ipset [conntrack]=conntrack
  [openssl]=openssl [gcc]=gcc [ip]=iproute2 [/usr/lib/cni/bridge]=containernetworking-plugins
  [/usr/include/stdio.h]=libc6-dev)
missing=()
for t in "${!PKG[@]}"; do
  case $t in /*) [ -e "$t" ] ;; *) command -v "$t" >/dev/null ;; esac || missing+=("${PKG[$t]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$ROOT/tools/cluster-tools.sh" k8s etcd coredns metrics-server

# --- host state: remembered first, so down.sh can put it back ---------------------------
if [ ! -f "$CLUSTER_DIR/sysctl.saved" ]; then
  for s in "${SYSCTLS[@]}"; do
    [ -e "/proc/sys/$s" ] && echo "$s $(cat "/proc/sys/$s")"
  done > "$CLUSTER_DIR/sysctl.saved"
  [ -d /var/lib/kubelet ] || touch "$CLUSTER_DIR/created-var-lib-kubelet"
  [ -d /run/containerd ] || touch "$CLUSTER_DIR/created-run-containerd"
  # containerd's CNI library caches every sandbox's result there (no setting moves it).
  [ -d /var/lib/cni ] || touch "$CLUSTER_DIR/created-var-lib-cni"
fi
ip -4 addr show dev lo | grep -qF " $NODE_IP/32 " || ip addr add "$NODE_IP/32" dev lo
# The pods' bridge (the CNI plugin adopts it), and the Service range routed onto it: a
# ClusterIP kube-proxy has not programmed yet goes nowhere rather than out of the machine.
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link add "$BRIDGE" type bridge
  ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
fi
ip route replace "$SERVICE_CIDR" dev "$BRIDGE"
echo 1 > /proc/sys/net/ipv4/ip_forward
# Pods may talk to each other, to Services and to the node — never beyond this machine.
if ! iptables -C FORWARD -j DEEPIRI-EGRESS 2>/dev/null; then
  iptables -N DEEPIRI-EGRESS 2>/dev/null || iptables -F DEEPIRI-EGRESS
  iptables -A DEEPIRI-EGRESS -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  iptables -I FORWARD 1 -j DEEPIRI-EGRESS
fi

# --- PKI ----------------------------------------------------------------------------------
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
ca() { # name CN
  [ -f "$P/$1.crt" ] && return
  newkey "$P/$1.key"
  openssl req -x509 -new -key "$P/$1.key" -subj "/CN=$2" -days 3650 -out "$P/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
cert() { # name CN O usage SANs [ca]
  local name=$1 cn=$2 o=$3 usage=$4 sans=$5 ca=${6:-ca}
  [ -f "$P/$name.crt" ] && return
  newkey "$P/$name.key"
  openssl req -new -key "$P/$name.key" -subj "/CN=$cn${o:+/O=$o}" -out "$P/$name.csr"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"; [ -z "$sans" ] || echo "subjectAltName=$sans"; } > "$P/$name.ext"
  openssl x509 -req -in "$P/$name.csr" -CA "$P/$ca.crt" -CAkey "$P/$ca.key" -CAcreateserial \
    -days 365 -extfile "$P/$name.ext" -out "$P/$name.crt" 2>/dev/null
  rm -f "$P/$name.csr" "$P/$name.ext"
}
ca ca deepiri-local-ca
ca front-proxy-ca deepiri-local-front-proxy-ca
cert apiserver kube-apiserver "" serverAuth \
  "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$NODE_IP,IP:$API_SERVICE_IP"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth ""
cert front-proxy-client front-proxy-client "" clientAuth "" front-proxy-ca
cert admin kubernetes-admin system:masters clientAuth ""
cert controller-manager system:kube-controller-manager "" clientAuth ""
cert scheduler system:kube-scheduler "" clientAuth ""
cert kube-proxy system:kube-proxy "" clientAuth ""
cert kubelet-client "system:node:$NODE_NAME" system:nodes clientAuth ""
cert kubelet-serving "system:node:$NODE_NAME" system:nodes serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
[ -f "$P/sa.key" ] || { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/sa.key" 2>/dev/null
                        openssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub"; }

kubeconfig() { # file cert-name
  write "$1" <<KC
apiVersion: v1
kind: Config
clusters:
  - name: deepiri-local
    cluster: {server: "$APISERVER", certificate-authority: "$P/ca.crt"}
users:
  - name: $2
    user: {client-certificate: "$P/$2.crt", client-key: "$P/$2.key"}
contexts:
  - name: deepiri-local
    context: {cluster: deepiri-local, user: $2}
current-context: deepiri-local
KC
}
for c in admin controller-manager scheduler kube-proxy kubelet-client; do kubeconfig "$CLUSTER_DIR/$c.kubeconfig" "$c"; done

start() { # name command...
  local name=$1; shift
  running "$name" && return
  say "starting $name"
  setsid "$@" >> "$CLUSTER_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$name")"
}
wait_for() { # description seconds command...
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { echo "timed out waiting for $what; logs in $CLUSTER_DIR/logs" >&2; exit 1; }
    sleep 1
  done
}

# --- control plane ----------------------------------------------------------------------
start etcd etcd --name deepiri --data-dir "$CLUSTER_DIR/etcd" --unsafe-no-fsync \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster deepiri=http://127.0.0.1:2380 --log-level warn
start kube-apiserver kube-apiserver --advertise-address="$NODE_IP" --bind-address="$NODE_IP" \
  --secure-port=6443 --etcd-servers=http://127.0.0.1:2379 \
  --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --client-ca-file="$P/ca.crt" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --requestheader-client-ca-file="$P/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$P/front-proxy-client.crt" --proxy-client-key-file="$P/front-proxy-client.key" \
  --enable-aggregator-routing=true --profiling=false
wait_for kube-apiserver 90 kc get --raw /readyz
start kube-controller-manager kube-controller-manager --kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr="$POD_CIDR" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$SERVICE_CIDR" --horizontal-pod-autoscaler-sync-period=10s \
  --profiling=false
start kube-scheduler kube-scheduler --kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

# --- the node: containerd, CNI, kubelet, kube-proxy --------------------------------------
write "$CLUSTER_DIR/containerd.toml" <<TOML
version = 2
root = "$CLUSTER_DIR/containerd/root"
state = "$CLUSTER_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: runc must not raise oom_score_adj
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
TOML
write "$CLUSTER_DIR/cni/net.d/10-deepiri.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "deepiri",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$CLUSTER_DIR/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
# containerd's images and containers live in memory (~2.5 GB with every image): imports are
# faster and the teardown unmounts it instead of deleting ~2 GB of small files (≈ 50 s).
if ! running containerd && ! mountpoint -q "$CLUSTER_DIR/containerd"; then
  mkdir -p "$CLUSTER_DIR/containerd"
  mount -t tmpfs -o size=8g,mode=0711 deepiri-containerd "$CLUSTER_DIR/containerd"
fi
# Every image is built here and imported; a pull would leave this machine, so containerd's
# registry traffic goes to a closed local port and fails at once.
start containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
  containerd --config "$CLUSTER_DIR/containerd.toml"
wait_for containerd 30 ctr_ version
bash "$ROOT/k8s/cluster/images.sh" cluster
# Images the caller wants on the node as well (make e2e: the app's) are imported while the
# node comes up.
extra_images=()
if [ -n "${CLUSTER_EXTRA_IMAGES:-}" ]; then
  # shellcheck disable=SC2086
  bash "$ROOT/k8s/cluster/images.sh" $CLUSTER_EXTRA_IMAGES & extra_images=($!)
fi

write "$CLUSTER_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$P/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$P/kubelet-serving.crt"
tlsPrivateKeyFile: "$P/kubelet-serving.key"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
# No host resolver inside pods: cluster names only, nothing resolves beyond this machine.
resolvConf: ""
podLogsDir: "$CLUSTER_DIR/pod-logs"
serializeImagePulls: false
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
YAML
start kubelet kubelet --config="$CLUSTER_DIR/kubelet.yaml" --kubeconfig="$CLUSTER_DIR/kubelet-client.kubeconfig" \
  --root-dir="$CLUSTER_DIR/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
  --node-labels=ingress-ready=true
write "$CLUSTER_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$CLUSTER_DIR/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
start kube-proxy kube-proxy --config="$CLUSTER_DIR/kube-proxy.yaml"

say "waiting for node $NODE_NAME"
wait_for "node $NODE_NAME" 120 kc get node "$NODE_NAME"
kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null

# --- add-ons: cluster DNS and the metrics API -------------------------------------------
say "cluster add-ons: CoreDNS, metrics-server"
sed -e "s|@DNS_IP@|$DNS_IP|g" -e "s|@NODE_IP@|$NODE_IP|g" \
    -e "s|@COREDNS_IMAGE@|$(bash "$ROOT/k8s/cluster/images.sh" --name coredns)|g" \
    -e "s|@METRICS_SERVER_IMAGE@|$(bash "$ROOT/k8s/cluster/images.sh" --name metrics-server)|g" \
    "$ROOT/k8s/cluster/addons.yaml" | kc apply --server-side --force-conflicts -f - >/dev/null
kc -n kube-system rollout status deployment/coredns --timeout=180s
kc -n kube-system rollout status deployment/metrics-server --timeout=180s
for p in "${extra_images[@]}"; do wait "$p" || { echo "images ($CLUSTER_EXTRA_IMAGES) failed" >&2; exit 1; }; done
say "cluster ready: export KUBECONFIG=$KUBECONFIG_FILE"
