#!/usr/bin/env bash
# make cluster-down: stop everything k8s/cluster/up.sh started and wipe what it left on this
# machine, so the next run starts clean: processes (by the pids it recorded, the containerd
# shims serving its socket, whatever runs in its pods' cgroups), mounts, network namespaces,
# the bridge and the node's address, iptables chains and ipsets of kube-proxy, CNI,
# kube-router and its own, kernel settings it changed, /run/containerd and /var/lib/kubelet
# and /var/lib/cni (when it created them, else the CNI results of its pods) and its state
# directory. Safe to run twice, or with nothing up.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
say() { printf '\033[1m==> %s (at %ss)\033[0m\n' "$*" "$SECONDS"; }

stop_pid() { # name: TERM, then KILL after 10 s
  local f p i; f=$(pidfile "$1")
  if p=$(recorded_pid "$1"); then
    kill "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
  fi
  rm -f "$f"
}
cgroup_dirs() { find /sys/fs/cgroup/*/kubepods* -depth -type d 2>/dev/null; }
kill_pod_processes() {
  local d p
  for d in $(cgroup_dirs); do
    { while read -r p; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done < "$d/cgroup.procs"; } 2>/dev/null
  done
}
our_shims() { # containerd shims serving this cluster's socket, by pid
  local d
  for d in /proc/[0-9]*; do
    { tr '\0' ' ' < "$d/cmdline"; } 2>/dev/null | grep -q -- "-address $CONTAINERD_SOCK" && echo "${d#/proc/}"
  done
}

[ -d "$CLUSTER_DIR" ] || { echo "no local cluster state in $CLUSTER_DIR"; }
say "stopping the node (kubelet, pods, kube-proxy, containerd)"
stop_pid kubelet
stop_pid kube-proxy
kill_pod_processes
for p in $(our_shims); do kill -9 "$p" 2>/dev/null; done
stop_pid containerd
sleep 0.5
kill_pod_processes
say "stopping the control plane"
for n in kube-controller-manager kube-scheduler kube-apiserver etcd; do stop_pid "$n"; done

say "wiping host state: mounts, namespaces, devices"
# mounts: pod volumes, container rootfs, sandbox shm, network namespaces
for top in "$CLUSTER_DIR" /run/containerd /var/lib/kubelet /run/netns/cni-; do
  grep -F " $top" /proc/self/mounts | awk '{print $2}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
done
for ns in /run/netns/cni-*; do [ -e "$ns" ] && { ip netns delete "${ns##*/}" 2>/dev/null || rm -f "$ns"; }; done
for d in $(cgroup_dirs); do rmdir "$d" 2>/dev/null; done
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
ip -4 addr show dev lo | grep -qF " $NODE_IP/32 " && ip addr del "$NODE_IP/32" dev lo

say "wiping host state: iptables chains, ipsets"
# iptables: every chain of kube-proxy / kube-router (KUBE-*), CNI plugins (CNI-*) and this
# script (DEEPIRI-*), and every rule that jumps to one; all else is restored as it was.
ours='(KUBE-[A-Z0-9-]*|CNI-[A-Za-z0-9-]*|DEEPIRI-[A-Z-]*)'
for fam in iptables ip6tables; do
  command -v "$fam-save" >/dev/null || continue
  dump=$("$fam-save" 2>/dev/null) || continue
  grep -qE "^:$ours |-j $ours" <<<"$dump" || continue
  grep -vE "^:$ours |^-A $ours |-[jg] $ours( |$)" <<<"$dump" | "$fam-restore" ||
    echo "warning: $fam chains of the cluster could not be removed" >&2
done
ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router|inet6:KUBE-|inet6:kube-router)' |
  while read -r s; do ipset destroy "$s" 2>/dev/null; done
say "wiping host state: conntrack entries, kernel settings, directories"
conntrack -D -s "$POD_CIDR" >/dev/null 2>&1
conntrack -D -d "$POD_CIDR" >/dev/null 2>&1

if [ -f "$CLUSTER_DIR/sysctl.saved" ]; then
  while read -r s v; do echo "$v" > "/proc/sys/$s" 2>/dev/null; done < "$CLUSTER_DIR/sysctl.saved"
fi
[ -f "$CLUSTER_DIR/created-var-lib-kubelet" ] && rm -rf /var/lib/kubelet
[ -f "$CLUSTER_DIR/created-run-containerd" ] && rm -rf /run/containerd
if [ -f "$CLUSTER_DIR/created-var-lib-cni" ]; then
  rm -rf /var/lib/cni
elif [ -f "$CLUSTER_DIR/sysctl.saved" ]; then # only the cached results of this cluster's pods
  find /var/lib/cni/results -newer "$CLUSTER_DIR/sysctl.saved" \( -name 'deepiri-*' -o -name 'cni-loopback-*' \) -delete 2>/dev/null
fi
rm -rf /run/containerd/s 2>/dev/null
rm -rf /run/deepiri-buildah
if grep -qF " $CLUSTER_DIR" /proc/self/mounts; then
  echo "warning: mounts under $CLUSTER_DIR remain; not deleting it" >&2; exit 1
fi
say "removing $CLUSTER_DIR"
rm -rf "$CLUSTER_DIR"
say "local cluster removed"
