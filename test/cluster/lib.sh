# Shared helpers for the test cluster scripts. Sourced, not run.
# shellcheck shell=bash
CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_DIR/../.." && pwd)"
# shellcheck source=versions.sh
source "$CLUSTER_DIR/versions.sh"

die() { echo "cluster: $*" >&2; exit 1; }
note() { [ -n "${CLUSTER_VERBOSE:-}" ] && echo "cluster: $*" >&2; return 0; }
# alive PID: running and not a zombie (init on this machine reaps orphans only every few seconds).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}
# cluster_lock: one up/down at a time (up.sh calls down.sh while holding it).
cluster_lock() {
  [ -n "${QV_CLUSTER_LOCKED:-}" ] && return 0
  mkdir -p "$CACHE_ROOT"
  exec 8>"$CACHE_ROOT/.cluster.lock"
  flock -w 600 8 || die "another cluster:up/down is still running (lock $CACHE_ROOT/.cluster.lock)"
  export QV_CLUSTER_LOCKED=1
}
# The provisioner and image builder need the project's Node (>= 22, for @kubernetes/client-node).
need_node() {
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null ||
    die "needs the project's Node in PATH: run through npm (npm run cluster:up) or tools/with-node.sh"
}
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# phase NAME CMD...: runs CMD, records how long it took in $PHASE_LOG (if set).
phase() {
  local name="$1" start end
  shift
  start=$(date +%s.%N)
  # Under set -e a failing step ends the script here; in `phase ... || x` its status is kept.
  "$@"
  local rc=$?
  end=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  if [ -n "${PHASE_LOG:-}" ]; then echo "$name $secs" >>"$PHASE_LOG"; fi
  # Quiet when nothing had to be done: steps that took under a second are not reported.
  if [ -n "${CLUSTER_VERBOSE:-}" ] || awk -v s="$secs" 'BEGIN { exit !(s >= 1) }'; then
    echo "cluster: $name took ${secs}s" >&2
  fi
  return "$rc"
}
