#!/usr/bin/env bash
# The project's test command: unit tests beside the logic, integration tests under test/.
# Extra arguments narrow the run (e.g. tools/test.sh vat-node/src/kernel).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$#" -gt 0 ]; then
  patterns=()
  for p in "$@"; do
    if [ -d "$p" ]; then patterns+=("$p/**/*.test.ts"); else patterns+=("$p"); fi
  done
else
  patterns=("vat-node/src/**/*.test.ts" "operator/src/**/*.test.ts" "test/**/*.test.ts")
fi
exec node --test --test-concurrency=2 --test-timeout=300000 "${patterns[@]}"
