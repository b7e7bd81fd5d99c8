#!/usr/bin/env bash
# The tests that need the real test cluster: test/operator/*.cluster.ts (CRDs, runtime on the
# API server) and test/e2e/*.cluster.ts (what a user does: helm install, kubectl apply, ...).
# They are named *.cluster.ts so that `npm test` (no cluster) never picks them up; this script
# runs them one file at a time, with each file's time. On a running cluster:
#   npm run test:e2e [FILE...]
# CI runs it between the cluster's smoke test and cluster:down (QUORUMVAT_E2E=1 npm run test:cluster).
# The e2e files need the quorumvat image in the cluster's containerd: built and imported first
# with test/container/build-image.sh --into-cluster (cached by Docker when nothing changed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=../cluster/env.sh
source test/cluster/env.sh
export QUORUMVAT_KUBE_TOOLS="$TOOLS_CACHE/current"
if ! kubectl get --raw /readyz >/dev/null 2>&1; then
  echo "test:e2e: the test cluster is not up: npm run cluster:up" >&2
  exit 1
fi

if [ "$#" -gt 0 ]; then files=("$@"); else
  files=(test/operator/*.cluster.ts test/e2e/*.cluster.ts)
fi
needs_image=
for f in "${files[@]}"; do case "$f" in test/e2e/*) needs_image=1 ;; esac; done

start=$(date +%s)
timings=()
if [ -n "$needs_image" ] && [ -z "${QUORUMVAT_E2E_SKIP_IMAGE:-}" ]; then
  if [ -x test/container/build-image.sh ]; then
    t=$(date +%s)
    # Docker first, without our flock descriptor (docker-unlocked.sh says why).
    test/e2e/docker-unlocked.sh
    test/container/build-image.sh --into-cluster >/dev/null
    timings+=("image:build+import $(( $(date +%s) - t ))")
  else
    echo "test:e2e: test/container/build-image.sh is missing: the e2e tests need the quorumvat image" >&2
  fi
fi

status=0
for f in "${files[@]}"; do
  t=$(date +%s)
  node --test --test-reporter=spec --test-timeout=900000 "$f" || status=1
  timings+=("$(basename "$f") $(( $(date +%s) - t ))")
done
echo "test:e2e: timings (seconds):"
for line in "${timings[@]}"; do printf '  %-32s %6s\n' ${line}; done
printf '  %-32s %6s\n' total "$(( $(date +%s) - start ))"
exit "$status"
