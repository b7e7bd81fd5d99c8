#!/usr/bin/env bash
# cluster:up -> smoke test -> cluster:down, printing how long each phase took. The cluster is
# brought down even when the smoke test fails. Exit status is the smoke test's (or up's).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
PHASE_LOG="$(mktemp)"
export PHASE_LOG CLUSTER_VERBOSE=1 KUBECONFIG="$KUBECONFIG_PATH" QUORUMVAT_KUBE_TOOLS="$TOOLS_CACHE/current"
trap 'rm -f "$PHASE_LOG"' EXIT

summary() {
  echo "cluster: phase timings (seconds):"
  awk '{ printf "  %-28s %8s\n", $1, $2 }' "$PHASE_LOG"
}

status=0
phase cluster:up "$CLUSTER_DIR/up.sh" || status=$?
if [ "$status" = 0 ]; then
  phase smoke node --test --test-reporter=spec "$CLUSTER_DIR/smoke/smoke.ts" || status=$?
fi
# QUORUMVAT_E2E=1 (CI): the operator's cluster tests and e2e tests, on the same cluster.
if [ "$status" = 0 ] && [ -n "${QUORUMVAT_E2E:-}" ]; then
  phase e2e "$REPO_ROOT/test/e2e/run.sh" || status=$?
fi
phase cluster:down "$CLUSTER_DIR/down.sh" || status=$?
summary
exit "$status"
