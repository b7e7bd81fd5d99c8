#!/usr/bin/env bash
# Builds the quorumvat image from the top-level Dockerfile with no registry, and optionally puts
# it into the test cluster's containerd. Run through the project's Node (tools/with-node.sh).
#
#   test/container/build-image.sh [--into-cluster] [--tag TAG] [--no-cache]
#
# 1. the Docker engine (docker.sh: installs and starts it when missing);
# 2. the local Node base image (base-image.ts: the pinned Node + the glibc it links + npm);
# 3. the production dependencies, prepared on the host in .prod-deps/ (`npm ci --omit=dev`, from
#    npm's cache): a build container reaches no registry here;
# 4. `docker build` (classic builder) with NODE_IMAGE set to the local base;
# 5. --into-cluster: `docker save` | `ctr -n k8s.io images import` into the test cluster's
#    containerd (/run/quorumvat-cluster/containerd.sock), so pods can use the tag directly
#    (imagePullPolicy: Never or IfNotPresent).
# Prints the tag on stdout; progress lines on stderr. Default tag: quorumvat.local/quorumvat:dev.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag=quorumvat.local/quorumvat:dev
into_cluster=
cache=()
while [ $# -gt 0 ]; do
  case "$1" in
    --into-cluster) into_cluster=1 ;;
    --tag) tag="${2:?--tag needs a value}"; shift ;;
    --no-cache) cache=(--no-cache) ;;
    *) echo "build-image.sh: unknown argument $1 (usage: build-image.sh [--into-cluster] [--tag TAG] [--no-cache])" >&2; exit 2 ;;
  esac
  shift
done
node -e 'process.exit(process.versions.node.startsWith("24.") ? 0 : 1)' ||
  { echo "build-image.sh: run it through tools/with-node.sh (needs the project's Node)" >&2; exit 2; }

"$here/docker.sh"
base="$(node "$here/base-image.ts")"

# Production dependencies: the lock they came from is kept beside them (the Dockerfile checks it).
deps="$root/.prod-deps"
if ! cmp -s "$root/package-lock.json" "$deps/prod-deps.lock" 2>/dev/null; then
  echo "build-image.sh: preparing production dependencies (npm ci --omit=dev) in .prod-deps/" >&2
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' EXIT
  cp "$root/package.json" "$root/package-lock.json" "$stage/"
  for ws in vat-node operator; do
    mkdir -p "$stage/$ws"
    cp "$root/$ws/package.json" "$stage/$ws/"
  done
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$deps"
  mkdir -p "$deps"
  mv "$stage/node_modules" "$deps/node_modules"
  cp "$root/package-lock.json" "$deps/prod-deps.lock"
fi

version="$(node -p 'require(process.argv[1]).version' "$root/package.json")"
revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
start=$(date +%s.%N)
# The classic builder (BuildKit needs the buildx plugin, which this machine lacks). The deps stage
# is built and tagged first: a tagged stage keeps its cache, and what an earlier build left
# untagged (the stages carry our labels) can be pruned without losing it.
build() {
  DOCKER_BUILDKIT=0 docker build --quiet --force-rm "${cache[@]}" --build-arg "NODE_IMAGE=$base" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" "$@" "$root" \
    >>/tmp/quorumvat-image-build.log 2>&1
}
: >/tmp/quorumvat-image-build.log
if ! build --target deps -t "${tag%%:*}-deps:${tag##*:}" || ! build -t "$tag"; then
  tail -20 /tmp/quorumvat-image-build.log >&2
  echo "build-image.sh: docker build failed (log: /tmp/quorumvat-image-build.log)" >&2
  exit 1
fi
for label in quorumvat.base.key quorumvat.stage=deps org.opencontainers.image.title=quorumvat; do
  docker image prune -f --filter "label=$label" >/dev/null 2>&1 || true
done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "build-image.sh: built $tag on $base in ${secs}s" >&2

if [ -n "$into_cluster" ]; then
  sock=/run/quorumvat-cluster/containerd.sock
  [ -S "$sock" ] || { echo "build-image.sh: the test cluster is not up (no $sock): npm run cluster:up" >&2; exit 1; }
  docker save "$tag" | ctr --address "$sock" -n k8s.io images import - >/dev/null
  echo "build-image.sh: imported $tag into the test cluster's containerd (k8s.io)" >&2
fi
echo "$tag"
