#!/usr/bin/env bash
# The project's test command: unit tests beside the logic, integration tests under test/.
# Extra arguments narrow the run (e.g. tools/test.sh vat-node/src/kernel).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The partition tests build network namespaces with iproute2 and cut links with iptables: install
# what a fresh machine lacks (needs root, like the tests themselves).
need=()
for tool in ip:iproute2 iptables:iptables chattr:e2fsprogs; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "quorumvat: installing ${need[*]} for the network tests" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 ||
    echo "quorumvat: could not install ${need[*]}; the partition tests will fail" >&2
fi
if [ "$#" -gt 0 ]; then
  patterns=()
  for p in "$@"; do
    if [ -d "$p" ]; then patterns+=("$p/**/*.test.ts"); else patterns+=("$p"); fi
  done
else
  patterns=("vat-node/src/**/*.test.ts" "operator/src/**/*.test.ts" "test/**/*.test.ts")
fi
exec node --test --test-concurrency=2 --test-timeout=300000 "${patterns[@]}"
