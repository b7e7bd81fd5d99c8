#!/usr/bin/env bash
# Type check (tsc, strict) and lint + format check (Biome): the one linter/formatter of the project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tsc -p tsconfig.json --noEmit
biome ci .
# The Helm chart: schema-checked values, templates that render (helm v4 from the cluster's tools).
tools/helm.sh lint --strict --quiet charts/quorumvat
