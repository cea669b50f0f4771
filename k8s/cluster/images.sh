#!/usr/bin/env bash
# Images for the local cluster, built with buildah (no Docker, no registry) and imported into
# its containerd. Tags are hashes of what goes into each image and buildah's storage lives in
# the tool cache, so a warm run (a clean clone too) only re-imports. After the base, images
# build IMAGE_JOBS (default 2) at a time; each logs to $CLUSTER_DIR/logs/image-<name>.log.
#   images.sh cluster     pause, the Debian base, CoreDNS, metrics-server (make cluster)
#   images.sh app         every enabled service from its own Dockerfile (unchanged), the
#                         datastores (Redis from Debian; FerretDB and influxd from the tool
#                         cache) and Traefik (make images)
#   images.sh services    the app without Traefik: nothing from tools/cluster-tools.sh needed
#   images.sh kube-router the NetworkPolicy controller evaluated by the e2e suite
#   images.sh app kube-router   several at once
#   images.sh --name X    print the image reference the cluster uses for X
#   images.sh --values    print the Helm values that point the chart at these images
set -euo pipefail
source "$(dirname "$0")/lib.sh"
HERE=$ROOT/k8s/cluster/images
TOOLS_DIR=$(dirname "$BIN")
export CONTAINERS_STORAGE_CONF=$TOOLS_DIR/containers/storage.conf
# debootstrap fetches from the Debian archive this machine's apt already uses (the repository
# names no mirror); DEBIAN_MIRROR overrides.
debian_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(REPO_URI)' 'Label: Debian' 'Codename: bookworm' 2>/dev/null | head -n 1)
  [ -n "$uri" ] || { echo "no Debian bookworm archive in this machine's apt sources: set DEBIAN_MIRROR" >&2; return 1; }
  echo "${uri%/}"
}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
REG=deepiri.local
# Stand-in for python:3.11-slim-bookworm (the services' Dockerfiles' default PYTHON_IMAGE):
# Debian bookworm's own python3 is 3.11.
BASE_IMAGE=$REG/python:3.11-slim-bookworm

version() { cat "$BIN/$1.version"; }
# Tags are hashes of the recipes (the build functions below, the files they copy, the parent),
# so an image is rebuilt exactly when what makes it changes.
hash_of() { sha256sum | cut -c1-8; }
base_ref() { echo "$BASE_IMAGE-$(declare -f build_base | hash_of)"; }
ref_of() {
  case $1 in
    pause) echo "$PAUSE_IMAGE" ;;
    base) base_ref ;;
    coredns|metrics-server|traefik|kube-router|ferretdb|influxd)
      echo "$REG/$1:$(version "$1")-$( { base_ref; declare -f build_tool_image "build_${1//-/_}"; cat "$HERE"/*; } | hash_of)" ;;
    redis) echo "$REG/redis:bookworm-$( { base_ref; declare -f build_redis; } | hash_of)" ;;
    *-service) echo "deepiri/$1:$(service_tag "$1")" ;;
    *) echo "unknown image $1" >&2; return 1 ;;
  esac
}
# A service image's tag: a hash of its Dockerfile, of every file of the build context its
# COPY lines take (the context as .dockerignore admits it, see stage_context) and of the base.
# A clean clone with the same content gets the same tag, so nothing is rebuilt.
service_tag() {
  local svc=$1 dockerfile=$ROOT/services/$1/Dockerfile
  { cat "$dockerfile"; base_ref
    context_files | python3 -c '
import re, sys
sources = []
for line in open(sys.argv[1]):
    words = line.split()
    if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
        sources += [w.rstrip("/") for w in words[1:-1] if not w.startswith("--")]
for path in sys.stdin.read().splitlines():
    if any(path == s or path.startswith(s + "/") for s in sources):
        print(path)' "$dockerfile" | (cd "$ROOT" && xargs -r -d '\n' sha256sum)
  } | sha256sum | cut -c1-12 | sed 's/^/e2e-/'
}
enabled_services() {
  (cd "$ROOT" && python3 - <<'PY'
import os, re
values = open("charts/deepiri/values.yaml").read()
for m in re.finditer(r"^([a-z]+-service):\n  enabled: true", values, re.M):
    if os.path.exists(f"services/{m[1]}/Dockerfile"):
        print(m[1])
PY
  )
}

setup_storage() {
  mkdir -p "$TOOLS_DIR/containers/storage"
  cat > "$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$TOOLS_DIR/containers/storage"
runroot = "/run/deepiri-buildah"
CONF
}
built() { buildah inspect --type image "$1" >/dev/null 2>&1; }
# containerd lists a short reference (deepiri/x:tag) under its registry-qualified name.
imported() { ctr_ images ls -q 2>/dev/null | awk -v r="$1" '$0 == r || substr($0, length($0) - length(r)) == "/" r { found = 1 } END { exit !found }'; }
import() {
  local ref=$1 tar
  imported "$ref" && return
  tar=$(mktemp -p /var/tmp deepiri-image.XXXXXX.tar); rm -f "$tar"
  buildah push --quiet "$ref" "docker-archive:$tar:$ref" >/dev/null
  ctr_ images import --no-unpack=false "$tar" >/dev/null
  rm -f "$tar"
}
# bud with the build context given; every RUN step on the host network (no bridges or
# iptables chains of buildah's own) and with the machine's CA bundle for pip and apt.
bud() { buildah bud --layers --network host --pull=never \
          -v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" "$@"; }

build_pause() {
  local ref=$PAUSE_IMAGE ctx
  built "$ref" && return
  say "image $ref (static C, from scratch)"
  ctx=$(mktemp -d)
  gcc -Os -static -o "$ctx/pause" "$HERE/pause.c" && strip "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$ctx/Containerfile"
  bud -f "$ctx/Containerfile" -t "$ref" "$ctx"
  rm -rf "$ctx"
}

build_base() {
  local ref root cid; ref=$(base_ref)
  built "$ref" && return
  say "image $ref (debootstrap bookworm minbase + Debian's Python 3.11)"
  root=$(mktemp -d -p /var/tmp deepiri-rootfs.XXXXXX)
  mkdir -p "$TOOLS_DIR/debootstrap-cache"
  debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    --cache-dir="$TOOLS_DIR/debootstrap-cache" bookworm "$root" "${DEBIAN_MIRROR:-$(debian_mirror)}" \
    > "$CLUSTER_DIR/logs/debootstrap.log" 2>&1
  # pip and setuptools in /usr/local, as python:3.11-slim has them, from the wheels Debian
  # ships for venv (Debian disables ensurepip for its system interpreter).
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  local pip_whl; pip_whl=$(cd "$root/usr/share/python-wheels" && ls pip-*.whl)
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$root" python3 "/usr/share/python-wheels/$pip_whl/pip" \
    install -q --no-index --find-links /usr/share/python-wheels pip setuptools 2>/dev/null
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
  cid=$(buildah from scratch)
  tar -C "$root" -cf "$root.tar" .
  buildah add --quiet "$cid" "$root.tar" / >/dev/null
  buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python3 "$cid"
  buildah commit --quiet --rm "$cid" "$ref" >/dev/null
  rm -rf "$root" "$root.tar"
}

# A tool from the tool cache on the base image; $2.. are Containerfile lines after COPY.
build_tool_image() {
  local name=$1 ref ctx; shift
  ref=$(ref_of "$name")
  built "$ref" && return
  say "image $ref"
  ctx=$(mktemp -d)
  cp "$BIN/$name" "$ctx/$name"
  cp "$HERE"/* "$ctx/"
  { echo "FROM $(base_ref)"; echo "COPY $name /usr/local/bin/$name"; printf '%s\n' "$@"; } > "$ctx/Containerfile"
  bud -f "$ctx/Containerfile" -t "$ref" "$ctx"
  rm -rf "$ctx"
}

build_coredns() { build_tool_image coredns 'USER 65532:65532' 'ENTRYPOINT ["/usr/local/bin/coredns"]'; }
build_metrics_server() { build_tool_image metrics-server 'USER 65532:65532' 'ENTRYPOINT ["/usr/local/bin/metrics-server"]'; }
build_traefik() { build_tool_image traefik 'USER 65532:65532' 'ENTRYPOINT ["/usr/local/bin/traefik"]'; }
build_ferretdb() {
  build_tool_image ferretdb 'COPY ferretdb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh' \
    'COPY mongosh.py /usr/local/bin/mongosh' 'USER 10001:10001' \
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]'
}
build_influxd() {
  build_tool_image influxd 'COPY influxdb-entrypoint.py /usr/local/bin/docker-entrypoint.py' \
    'USER 10001:10001' 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.py"]'
}
build_kube_router() {
  build_tool_image kube-router \
    'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends iptables ipset conntrack iproute2 >/dev/null && rm -rf /var/lib/apt/lists/*' \
    'ENTRYPOINT ["/usr/local/bin/kube-router"]'
}
build_redis() {
  local ref ctx; ref=$(ref_of redis)
  built "$ref" && return
  say "image $ref (redis-server from Debian bookworm)"
  ctx=$(mktemp -d)
  printf '%s\n' "FROM $(base_ref)" \
    'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null && rm -rf /var/lib/apt/lists/*' \
    'USER 10001:10001' 'CMD ["redis-server"]' > "$ctx/Containerfile"
  bud -f "$ctx/Containerfile" -t "$ref" "$ctx"
  rm -rf "$ctx"
}
# The build context exactly as .dockerignore admits it (Docker's rules: patterns in order,
# the last one matching a path or one of its parents wins, "!" re-admits), one path a line,
# sorted. Debian's buildah 1.28 drops a directory that "**" excludes even when "!dir/**"
# re-admits its files, so builds get a staged copy of exactly these files.
context_files() {
  (cd "$ROOT" && python3 - <<'PY'
import os, re

def rx(pattern):
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")

rules = []
for line in open(".dockerignore"):
    line = line.strip()
    if line and not line.startswith("#"):
        neg = line.startswith("!")
        rules.append((neg, rx(os.path.normpath(line.lstrip("!").strip("/")))))

def excluded(path):
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for neg, pattern in rules:
        if any(pattern.match(p) for p in prefixes):
            out = not neg
    return out

paths = []
for top, dirs, files in os.walk("."):
    dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules")]
    for f in files:
        path = os.path.relpath(os.path.join(top, f))
        if not excluded(path):
            paths.append(path)
print("\n".join(sorted(paths)))
PY
  )
}
stage_context() { context_files | (cd "$ROOT" && xargs -d '\n' cp --parents -t "$1"); }

# The service's own Dockerfile, unchanged; only PYTHON_IMAGE points at the local base.
build_service() {
  local svc=$1 ref ctx; ref=$(ref_of "$svc")
  built "$ref" && return
  say "image $ref (services/$svc/Dockerfile)"
  ctx=$(mktemp -d)
  stage_context "$ctx"
  bud -f "$ROOT/services/$svc/Dockerfile" --build-arg "PYTHON_IMAGE=$(base_ref)" -t "$ref" "$ctx"
  rm -rf "$ctx"
}

values() {
  local r
  image_values() { r=$(ref_of "$2"); printf '%s:\n  image:\n    registry: %s\n    repository: %s\n    tag: "%s"\n' \
                     "$1" "${r%%/*}" "$(echo "${r#*/}" | cut -d: -f1)" "${r##*:}"; }
  image_values mongodb ferretdb
  image_values redis redis
  image_values influxdb influxd
  for svc in $(enabled_services); do printf '%s:\n  image:\n    tag: "%s"\n' "$svc" "$(service_tag "$svc")"; done
}

# One image: built (its log in $CLUSTER_DIR/logs/image-<name>.log, shown on failure) and,
# when the node's containerd runs, imported.
one() {
  local t=$1 log=$CLUSTER_DIR/logs/image-$1.log start=$SECONDS
  if ! case $t in *-service) build_service "$t" ;; *) "build_${t//-/_}" ;; esac > "$log" 2>&1; then
    echo "image $t failed after $((SECONDS - start))s; last lines of $log:" >&2; tail -30 "$log" >&2
    return 1
  fi
  [ ! -s "$log" ] || say "image $t built ($((SECONDS - start))s)"
  [ ! -S "$CONTAINERD_SOCK" ] || import "$(ref_of "$t")"
  echo "$t: $((SECONDS - start))s" >> "$CLUSTER_DIR/logs/image-times.log"
}

case ${1:-} in
  --name) ref_of "$2"; exit ;;
  --values) values; exit ;;
  --one) one "$2"; exit ;;
esac
setup_storage
mkdir -p "$CLUSTER_DIR/logs"
targets=()
for group in "$@"; do
  case $group in
    cluster) targets+=(pause base coredns metrics-server) ;;
    app|services)
         targets+=(base redis ferretdb influxd); [ "$group" = services ] || targets+=(traefik)
         mapfile -t svcs < <(enabled_services)
         for s in "${svcs[@]}"; do targets+=("$s"); done ;;
    *) targets+=("$group") ;;
  esac
done
# The base first (everything else builds on it), then the rest IMAGE_JOBS at a time.
rest=()
for t in $(printf '%s\n' "${targets[@]}" | awk '!seen[$0]++'); do
  if [ "$t" = base ]; then one base; else rest+=("$t"); fi
done
[ ${#rest[@]} -eq 0 ] || printf '%s\n' "${rest[@]}" | xargs -r -P "${IMAGE_JOBS:-2}" -I{} bash "$0" --one {}
