#!/usr/bin/env bash
# Starts the Docker engine (test/container/docker.sh) with no file descriptor but stdin, stdout
# and stderr: the e2e runs and bench:cluster run under `flock /tmp/quorumvat-heavy.lock`, and a
# dockerd started from there would inherit flock's descriptor and hold the shared lock for as
# long as it runs (every other heavy test on the machine then waits for ever).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for fd in /proc/$$/fd/*; do
  n="${fd##*/}"
  if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
done
exec "$here/../container/docker.sh"
