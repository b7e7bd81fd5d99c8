# Source this to use the test cluster from a shell or a test:
#   source test/cluster/env.sh   # sets KUBECONFIG, puts kubectl and helm (v1.35 / v4) first in PATH
# shellcheck shell=bash
# shellcheck source=versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export KUBECONFIG="$KUBECONFIG_PATH"
export PATH="$TOOLS_CACHE/current:$PATH"
