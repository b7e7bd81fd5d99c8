#!/usr/bin/env bash
# Type check (tsc, strict) and lint + format check (Biome): the one linter/formatter of the project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tsc -p tsconfig.json --noEmit
biome ci .
